import { ReconError } from '../util/errors.js';

/** What an option's value is; the validator checks it before the command runs. */
export type ValueCheck =
  | { kind: 'number'; min?: number; max?: number /** min itself not allowed */; above?: boolean; integer?: boolean }
  | { kind: 'numbers'; min?: number; max?: number; integer?: boolean; above?: boolean }
  /** A file the command reads. */
  | { kind: 'input' }
  /** A file the command writes; `stdout` allows `-`. */
  | { kind: 'output'; stdout?: boolean }
  /** A folder the command writes into (created if missing). */
  | { kind: 'output-dir' };

export interface OptionSpec {
  name: string;
  /** Takes a value (`--name value` or `--name=value`); otherwise a boolean flag. */
  value?: string;
  description: string;
  /** May be given several times (values collected in order). */
  repeatable?: boolean;
  /** Checked before the command runs (src/cli/validate.ts). */
  check?: ValueCheck;
}

/** A path the command reads or writes, as the user gave it. */
export interface PathRole {
  /** How the user gave it: `--json`, `-o`, `the model`. */
  shown: string;
  path: string;
}

export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string[]>;
  flags: Set<string>;
  /**
   * The declared input and output files (set by the CLI before the command runs), so that loading
   * a model can also refuse outputs that alias its external-data files.
   */
  paths?: {
    inputs: PathRole[];
    outputs: PathRole[];
    allow: (output: PathRole, input: PathRole) => boolean;
    hint?: (output: PathRole, input: PathRole) => string | undefined;
  };
}

/** Minimal GNU-style parser: the commands' flags are few and explicit, so no dependency is needed. */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], command: string): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const out: ParsedArgs = { positionals: [], options: new Map(), flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      if (arg.startsWith('-') && arg !== '-' && !/^-\d/.test(arg)) {
        if (arg === '-o') {
          pushValue(out, 'output', argv[++i], command, '-o');
          continue;
        }
        throw new ReconError(`${command}: unknown option ${arg} (see recon ${command} --help)`);
      }
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    const spec = byName.get(name) ?? (name.startsWith('no-') ? byName.get(name) : undefined);
    if (!spec) throw new ReconError(`${command}: unknown option --${name} (see recon ${command} --help)`);
    if (spec.value) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      pushValue(out, name, value, command, `--${name}`);
    } else {
      if (eq >= 0) throw new ReconError(`${command}: --${name} takes no value`);
      out.flags.add(name);
    }
  }
  return out;
}

function pushValue(out: ParsedArgs, name: string, value: string | undefined, command: string, shown: string): void {
  if (value === undefined) throw new ReconError(`${command}: ${shown} needs a value`);
  const list = out.options.get(name) ?? [];
  list.push(value);
  out.options.set(name, list);
}

export function optionValue(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  return v ? v[v.length - 1] : undefined;
}

export function numberOption(args: ParsedArgs, name: string, fallback: number, command: string): number {
  const v = optionValue(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ReconError(`${command}: --${name} must be a number, got "${v}"`);
  return n;
}

export function listOption(args: ParsedArgs, name: string): string[] {
  return (args.options.get(name) ?? [])
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function formatHelp(usage: string, summary: string, specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => [`--${s.name}${s.value ? ` ${s.value}` : ''}`, s.description]);
  const w = Math.max(0, ...rows.map((r) => r[0]!.length));
  return [`usage: ${usage}`, '', summary, '', 'options:', ...rows.map(([a, b]) => `  ${a!.padEnd(w)}  ${b}`)].join('\n');
}
