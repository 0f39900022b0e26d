#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { realpathSync } from 'node:fs';
import { isReconError } from '../util/errors.js';
import { formatHelp, parseArgs, type PathRole } from './args.js';
import { COMMON_OPTIONS, type Command, type CommandIO } from './command.js';
import { checkNoAliasing, declaredPaths, validateDeclared } from './validate.js';
import { acquireOutputLock } from '../util/lock.js';
import { COMMANDS } from './registry.js';

import { VERSION } from '../util/version.js';

function topHelp(commands: readonly Command[]): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    `recon ${VERSION}: find where tasks fight in a multi-task ONNX model, and make those layers task-specific (Recon, ICLR 2023).`,
    '',
    'usage: recon <command> [options]   (recon <command> --help for its options)',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'global options: --debug (stack traces), --help, --version',
  ].join('\n');
}

/** Runs the CLI; returns the exit code. Exported so tests can drive it in-process. */
export async function runCli(argv: readonly string[], io: CommandIO): Promise<number> {
  const debug = argv.includes('--debug');
  const [name, ...rest] = argv.filter((a) => a !== '--debug');
  if (!name || name === '--help' || name === 'help' || name === '-h') {
    io.stdout(`${topHelp(COMMANDS)}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version') {
    io.stdout(`${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr(`recon: unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`${formatHelp(command.usage, command.summary, [...command.options, ...COMMON_OPTIONS])}\n`);
    return 0;
  }
  try {
    const args = parseArgs(rest, [...command.options, ...COMMON_OPTIONS], command.name);
    // Everything the specs declare is checked before any work: numbers, writable outputs, aliasing.
    validateDeclared(command, args);
    const declared = declaredPaths(command, args);
    const allow = (output: PathRole, input: PathRole): boolean => command.allowAlias?.(args, output, input) ?? false;
    const hint = command.aliasHint;
    checkNoAliasing(declared.inputs, declared.outputs, allow, hint);
    args.paths = { ...declared, allow, ...(hint ? { hint } : {}) };
    const locked = command.lockedOutput?.(args);
    const release = locked ? acquireOutputLock(locked, `recon ${command.name}`, (m) => io.stderr(`warning: ${m}\n`)) : undefined;
    try {
      return await command.run(args, io);
    } finally {
      release?.();
    }
  } catch (e) {
    if (debug) io.stderr(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    else if (isReconError(e)) io.stderr(`recon ${command.name}: ${e.message}\n`);
    else io.stderr(`recon ${command.name}: internal error: ${e instanceof Error ? e.message.split('\n')[0] : String(e)} (run with --debug for details)\n`);
    return 1;
  }
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  const io: CommandIO = {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    interactive: process.stderr.isTTY === true,
  };
  runCli(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`recon: ${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
