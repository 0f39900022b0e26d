import type { OptionSpec, ParsedArgs, PathRole } from './args.js';

/** A positional argument: a file the command reads (checked for aliasing) or a plain value. */
export interface PositionalSpec {
  name: string;
  kind: 'input' | 'value';
}

/** One `recon` subcommand: a thin layer that parses flags and calls the library. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec[];
  /** Positional arguments in order; more than these is an error (unless `variadic`). */
  positionals?: PositionalSpec[];
  /** Any number of further positionals of this kind (e.g. the reports `merge` joins). */
  variadic?: PositionalSpec;
  /** Output/input pairs this command may alias on purpose (rewrite --force). */
  allowAlias?: (args: ParsedArgs, output: PathRole, input: PathRole) => boolean;
  /** What to add to an aliasing refusal the user could lift (e.g. "or --force to rewrite the model in place"). */
  aliasHint?: (output: PathRole, input: PathRole) => string | undefined;
  /** The output to hold `<output>.lock` on while the command runs (one writer per output). */
  lockedOutput?: (args: ParsedArgs) => string | undefined;
  run(args: ParsedArgs, io: CommandIO): Promise<number>;
}

export interface CommandIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** True when stderr is a terminal (progress bars redraw in place). */
  interactive: boolean;
}

export const COMMON_OPTIONS: OptionSpec[] = [
  { name: 'debug', description: 'print stack traces for errors' },
  { name: 'help', description: 'show this help' },
];
