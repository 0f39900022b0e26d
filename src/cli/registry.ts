import type { Command } from './command.js';
import { inspectCommand } from './commands/inspect.js';
import { gradsCommand } from './commands/grads.js';
import { rewriteCommand } from './commands/rewrite.js';
import { verifyCommand } from './commands/verify.js';
import { scanCommand } from './commands/scan.js';
import { reportCommand } from './commands/report.js';
import { compareCommand } from './commands/compare.js';
import { mergeCommand } from './commands/merge.js';
import { dataCommand } from './commands/data.js';
import { trainCommand } from './commands/train.js';
import { runCommand } from './commands/run.js';
import { ablateCommand } from './commands/ablate.js';
import { doctorCommand } from './commands/doctor.js';

/** Every subcommand, in the order `recon --help` lists them. */
export const COMMANDS: readonly Command[] = [
  inspectCommand,
  gradsCommand,
  scanCommand,
  reportCommand,
  rewriteCommand,
  verifyCommand,
  compareCommand,
  mergeCommand,
  dataCommand,
  trainCommand,
  runCommand,
  ablateCommand,
  doctorCommand,
];
