/**
 * Checks every command's arguments before any work starts, from what the option specs declare:
 * numbers in range, file outputs that can be written (parent folder exists, not a folder, not a
 * device or a special file), and no output that resolves to an input — by real path and by
 * device/inode, including each input model's external-data files and any file an output's
 * sidecars (`<output>.data`, `<output>.ckpt…`) would replace.
 */
import { accessSync, constants, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ReconError } from '../util/errors.js';
import type { OptionSpec, ParsedArgs, PathRole } from './args.js';
import type { Command } from './command.js';

const SAFE = Number.MAX_SAFE_INTEGER;

function checkNumber(text: string, check: { min?: number; max?: number; above?: boolean; integer?: boolean }, shown: string): void {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  const range = [check.min !== undefined ? `${check.above ? '>' : '≥'} ${check.min}` : '', check.max !== undefined ? `≤ ${check.max}` : '']
    .filter(Boolean)
    .join(' and ');
  const what = `${check.integer ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}`;
  const bad =
    !Number.isFinite(value) ||
    (check.integer === true && (!Number.isInteger(value) || Math.abs(value) > SAFE)) ||
    (check.min !== undefined && (check.above ? value <= check.min : value < check.min)) ||
    (check.max !== undefined && value > check.max);
  if (bad) throw new ReconError(`${shown} must be ${what}, got "${text}"`);
}

/** A file's identity: its real path (the parent's, for a file not yet written) and device/inode. */
interface Identity {
  path: string;
  inode?: string;
}

function identity(path: string): Identity {
  const absolute = resolve(path);
  try {
    const real = realpathSync(absolute);
    const s = statSync(real);
    return { path: real, inode: `${s.dev}:${s.ino}` };
  } catch {
    try {
      return { path: join(realpathSync(dirname(absolute)), basename(absolute)) };
    } catch {
      return { path: absolute };
    }
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** `/proc`, `/sys` or `/dev` when a real path lies under one of them: no output is written there. */
function systemFolder(real: string): string | undefined {
  return /^(\/(?:proc|sys|dev))(?:\/|$)/.exec(real)?.[1];
}

/** Refuses an output file that cannot be written, before any work. */
export function checkOutputFile(path: string, shown: string): void {
  if (path === '') throw new ReconError(`${shown} needs a file name`);
  const absolute = resolve(path);
  const real = identity(path).path;
  const system = systemFolder(real);
  if (system) throw new ReconError(`${shown} ${path}: cannot write under ${system}`);
  const s = statOrUndefined(absolute);
  if (s?.isDirectory()) throw new ReconError(`${shown} ${path} is a folder; give a file name`);
  if (s && !s.isFile()) throw new ReconError(`${shown} ${path} is not a regular file`);
  const parent = dirname(absolute);
  const p = statOrUndefined(parent);
  if (!p) throw new ReconError(`${shown} ${path}: folder ${dirname(path)} does not exist`);
  if (!p.isDirectory()) throw new ReconError(`${shown} ${path}: ${dirname(path)} is not a folder`);
  try {
    accessSync(parent, constants.W_OK);
  } catch {
    throw new ReconError(`${shown} ${path}: folder ${dirname(path)} is not writable`);
  }
}

/** Refuses an output folder that cannot be created or written. */
export function checkOutputDir(path: string, shown: string): void {
  if (path === '') throw new ReconError(`${shown} needs a folder name`);
  const absolute = resolve(path);
  if (systemFolder(identity(path).path)) throw new ReconError(`${shown} ${path}: cannot write there`);
  let existing = absolute;
  while (!statOrUndefined(existing)) {
    const up = dirname(existing);
    if (up === existing) break;
    existing = up;
  }
  const s = statOrUndefined(existing);
  if (!s?.isDirectory()) throw new ReconError(`${shown} ${path}: ${existing === absolute ? path : existing} is not a folder`);
  try {
    accessSync(existing, constants.W_OK);
  } catch {
    throw new ReconError(`${shown} ${path}: ${existing} is not writable`);
  }
}

/**
 * No output may be an input, or another output, or replace one through its sidecars: an input at
 * `<output>.<anything>` (external data `<output>.data`, a checkpoint) is refused too.
 * `allow` names output/input pairs the command permits (rewrite --force: the model itself), and
 * `hint` what a refusal should add when a flag would lift it.
 */
export function checkNoAliasing(
  inputs: readonly PathRole[],
  outputs: readonly PathRole[],
  allow: (output: PathRole, input: PathRole) => boolean = () => false,
  hint: (output: PathRole, input: PathRole) => string | undefined = () => undefined,
): void {
  const hinted = (output: PathRole, input: PathRole): string => {
    const text = hint(output, input);
    return text ? ` ${text}` : '';
  };
  const ins = inputs.map((r) => ({ ...r, id: identity(r.path) }));
  const seen: { role: PathRole; id: Identity }[] = [];
  for (const out of outputs) {
    const id = identity(out.path);
    for (const input of ins) {
      const same = id.path === input.id.path || (id.inode !== undefined && id.inode === input.id.inode);
      const sidecar = input.id.path.startsWith(`${id.path}.`);
      if ((same || sidecar) && !allow(out, input)) {
        throw new ReconError(
          same
            ? `${out.shown} ${out.path} is ${input.shown} (${input.path}); writing it would destroy an input: choose another path${hinted(out, input)}`
            : `${out.shown} ${out.path} would replace ${input.shown} ${input.path} (a file the output writes beside itself): choose another path${hinted(out, input)}`,
        );
      }
    }
    for (const other of seen) {
      if (id.path === other.id.path || (id.inode !== undefined && id.inode === other.id.inode))
        throw new ReconError(`${out.shown} ${out.path} is also ${other.role.shown}; give each output its own path`);
    }
    seen.push({ role: out, id });
  }
}

/** The declared checks of every option given, plus the number of positional arguments. */
export function validateDeclared(command: Command, args: ParsedArgs): void {
  const max = command.positionals?.length;
  if (max !== undefined && !command.variadic && args.positionals.length > max) {
    const extra = args.positionals[max]!;
    throw new ReconError(`unexpected argument "${extra.length > 80 ? `${extra.slice(0, 80)}…` : extra}" (usage: ${command.usage})`);
  }
  const specs = new Map<string, OptionSpec>(command.options.map((s) => [s.name, s]));
  for (const [name, values] of args.options) {
    const check = specs.get(name)?.check;
    if (!check) continue;
    const shown = name === 'output' ? '-o' : `--${name}`;
    for (const value of values) {
      switch (check.kind) {
        case 'number':
          checkNumber(value, check, shown);
          break;
        case 'numbers': {
          const parts = value.split(',').map((s) => s.trim());
          if (parts.every((p) => p === '')) throw new ReconError(`${shown} needs at least one number`);
          for (const p of parts) if (p !== '') checkNumber(p, check, shown);
          break;
        }
        case 'output':
          if (!(check.stdout && value === '-')) checkOutputFile(value, shown);
          break;
        case 'output-dir':
          checkOutputDir(value, shown);
          break;
        case 'input':
          break;
      }
    }
  }
}

/** Inputs and outputs as the specs declare them (positional inputs from `command.positionals`). */
export function declaredPaths(command: Command, args: ParsedArgs): { inputs: PathRole[]; outputs: PathRole[] } {
  const inputs: PathRole[] = [];
  const outputs: PathRole[] = [];
  (command.positionals ?? []).forEach((p, i) => {
    const value = args.positionals[i];
    if (value !== undefined && p.kind === 'input') inputs.push({ shown: p.name, path: value });
  });
  if (command.variadic?.kind === 'input') {
    for (const value of args.positionals.slice(command.positionals?.length ?? 0)) inputs.push({ shown: command.variadic.name, path: value });
  }
  for (const spec of command.options) {
    const values = args.options.get(spec.name) ?? [];
    const shown = spec.name === 'output' ? '-o' : `--${spec.name}`;
    for (const value of values) {
      if (spec.check?.kind === 'input') inputs.push({ shown, path: value });
      else if (spec.check?.kind === 'output' && value !== '-') outputs.push({ shown, path: value });
    }
  }
  return { inputs, outputs };
}
