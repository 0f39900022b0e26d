import type { Command } from './command.js';
import { inspectCommand } from './commands/inspect.js';

/** Every subcommand, in the order `recon --help` lists them. */
export const COMMANDS: readonly Command[] = [inspectCommand];
