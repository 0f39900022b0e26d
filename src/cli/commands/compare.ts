import { ReconError } from '../../util/errors.js';
import { readConflictReport, writeTextFileAtomic } from '../../report/io.js';
import { compareReports, renderCompareText } from '../../report/compare.js';
import { optionValue } from '../args.js';
import type { Command } from '../command.js';

export const compareCommand: Command = {
  name: 'compare',
  summary: "Conflict occurrence over the shared layers before and after a rewrite (the paper's table), with the reduction of severe conflicts.",
  usage: 'recon compare before.json after.json [--severe -0.01] [--json out.json]',
  positionals: [
    { name: 'the before report', kind: 'input' },
    { name: 'the after report', kind: 'input' },
  ],
  options: [
    {
      name: 'severe',
      check: { kind: 'number', min: -1, max: 1 },
      value: 's',
      description: 'cosines below this count as severe conflicts (a bin edge: 0, -0.01, -0.02 or -0.03; default -0.01)',
    },
    { name: 'basis', value: 'layers|whole-trunk', description: "pool per-layer cosines (default) or use the whole shared gradient's cosine per step" },
    { name: 'json', check: { kind: 'output' }, value: 'file', description: 'also write the comparison as JSON' },
  ],
  async run(args, io) {
    const [a, b] = args.positionals;
    if (!a || !b) throw new ReconError(`two reports are needed (usage: ${this.usage})`);
    const basis = optionValue(args, 'basis') ?? 'layers';
    if (basis !== 'layers' && basis !== 'whole-trunk') throw new ReconError('--basis must be layers or whole-trunk');
    const result = compareReports(readConflictReport(a), readConflictReport(b), {
      basis,
      ...(optionValue(args, 'severe') !== undefined ? { severeThreshold: Number(optionValue(args, 'severe')) } : {}),
    });
    const json = optionValue(args, 'json');
    if (json) writeTextFileAtomic(json, `${JSON.stringify(result, null, 2)}\n`);
    io.stdout(`${renderCompareText(result)}\n`);
    return 0;
  },
};
