import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ReconError } from '../../onnx/errors.js';
import { readConflictReport, writeTextFileAtomic } from '../../report/io.js';
import { renderRankingTable } from '../../report/table.js';
import { renderConflictCsv } from '../../report/csv.js';
import { renderHtmlReport } from '../../report/html.js';
import { compareReports } from '../../report/compare.js';
import { renderReconScores } from '../../report/recon-json.js';
import type { ConflictReport } from '../../report/schema.js';
import { optionValue } from '../args.js';
import type { Command } from '../command.js';

export const reportCommand: Command = {
  name: 'report',
  summary: 'Render a conflict report: ranking table, CSV, and a self-contained HTML page with charts.',
  usage: 'recon report report.json [--top 25] [--S s] [--csv out.csv] [--html out.html] [--before original.json] [--format table|recon-json] [-o out]',
  options: [
    { name: 'top', value: 'N', description: 'rows of the ranking table and highlighted layers (default 25)' },
    { name: 'S', value: 's', description: "rank by this S (default: the report's first); with --record-steps data any S works" },
    { name: 'csv', value: 'file', description: 'write one row per layer and S as CSV' },
    { name: 'html', value: 'file', description: 'write a single self-contained HTML page (no network needed)' },
    { name: 'before', value: 'report.json', description: 'scan of the original model: adds the before/after conflict-occurrence comparison' },
    {
      name: 'format',
      value: 'table|recon-json',
      description:
        "what goes to stdout (or -o): the ranking table (default), or Recon's {layer: count} JSON at one S (its scripts/cal_conflict_scores.py format)",
    },
    { name: 'output', value: 'file', description: 'write the --format output to this file instead of stdout' },
  ],
  async run(args, io) {
    const path = args.positionals[0];
    if (!path) throw new ReconError(`missing report file (usage: ${this.usage})`);
    let report = readConflictReport(path);
    const format = optionValue(args, 'format') ?? 'table';
    if (format !== 'table' && format !== 'recon-json') throw new ReconError(`--format must be table or recon-json, got "${format}"`);
    const output = optionValue(args, 'output');
    const top = Number(optionValue(args, 'top') ?? 25);
    const sText = optionValue(args, 'S');
    const S = sText === undefined ? undefined : Number(sText);
    if (S !== undefined && !report.settings.S.includes(S)) report = withRecordedS(report, path, S);
    const csv = optionValue(args, 'csv');
    if (csv) writeTextFileAtomic(csv, renderConflictCsv(report));
    const html = optionValue(args, 'html');
    const beforePath = optionValue(args, 'before');
    if (html) {
      const before = beforePath ? readConflictReport(beforePath) : undefined;
      writeTextFileAtomic(
        html,
        renderHtmlReport(report, { top, ...(S !== undefined ? { S } : {}), ...(before ? { before, compare: compareReports(before, report) } : {}) }),
      );
    }
    const text = format === 'recon-json' ? renderReconScores(report, S) : `${renderRankingTable(report, { top, ...(S !== undefined ? { S } : {}) })}\n`;
    if (output) writeTextFileAtomic(output, text);
    else io.stdout(text);
    if (output) io.stdout(`${format}: ${output}\n`);
    if (csv) io.stdout(`csv: ${csv}\n`);
    if (html) io.stdout(`html: ${html}\n`);
    return 0;
  },
};

/** Adds scores for another S from the per-step cosines recorded with `scan --record-steps`. */
export function withRecordedS(report: ConflictReport, reportPath: string, S: number): ConflictReport {
  const rec = report.recordedSteps;
  if (!rec) throw new ReconError(`the report has no scores for S=${S} (it has ${report.settings.S.join(', ')}); rescan with --S or --record-steps`);
  const bytes = readFileSync(join(dirname(reportPath), rec.file));
  const [steps, layers, pairs] = rec.shape;
  if (bytes.byteLength !== steps * layers * pairs * 4)
    throw new ReconError(`${rec.file}: expected ${steps * layers * pairs * 4} bytes, found ${bytes.byteLength}`);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const counts = new Array<number>(layers).fill(0);
  for (let s = 0; s < steps; s++) for (let l = 0; l < layers; l++) for (let p = 0; p < pairs; p++) if (data[(s * layers + l) * pairs + p]! < S) counts[l]!++;
  const order = counts.map((c, i) => ({ c, i })).sort((a, b) => b.c - a.c || a.i - b.i);
  const rank = new Array<number>(layers);
  order.forEach((o, r) => (rank[o.i] = r + 1));
  return {
    ...report,
    settings: { ...report.settings, S: [...report.settings.S, S] },
    layers: report.layers.map((l, i) => ({ ...l, scores: [...l.scores, { S, score: counts[i]!, rank: rank[i]! }] })),
  };
}
