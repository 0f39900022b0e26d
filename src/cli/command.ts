import type { OptionSpec, ParsedArgs } from './args.js';

/** One `recon` subcommand: a thin layer that parses flags and calls the library. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec[];
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
