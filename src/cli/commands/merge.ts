import { ReconError } from '../../util/errors.js';
import { readConflictReport, writeConflictReport } from '../../report/io.js';
import { mergeReports } from '../../report/merge.js';
import { renderRankingTable } from '../../report/table.js';
import { optionValue } from '../args.js';
import type { Command } from '../command.js';

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'Join the reports of a static scan split with --shard i/n into one report.',
  usage: 'recon merge shard1.json shard2.json ... -o report.json',
  positionals: [],
  variadic: { name: 'a shard report', kind: 'input' },
  options: [{ name: 'output', check: { kind: 'output' }, value: 'report.json', description: 'merged report (-o works too)' }],
  async run(args, io) {
    if (args.positionals.length < 1) throw new ReconError(`no reports given (usage: ${this.usage})`);
    const output = optionValue(args, 'output');
    if (!output) throw new ReconError('-o report.json is required');
    const merged = mergeReports(
      args.positionals.map((p) => readConflictReport(p)),
      { sources: args.positionals },
    );
    writeConflictReport(output, merged);
    io.stdout(`${renderRankingTable(merged, { top: 25 })}\nmerged ${args.positionals.length} shard(s) into ${output}\n`);
    return 0;
  },
};
