import type { Command } from './command.js';
import { inspectCommand } from './commands/inspect.js';
import { gradsCommand } from './commands/grads.js';
import { rewriteCommand } from './commands/rewrite.js';
import { verifyCommand } from './commands/verify.js';

/** Every subcommand, in the order `recon --help` lists them. */
export const COMMANDS: readonly Command[] = [inspectCommand, gradsCommand, rewriteCommand, verifyCommand];
