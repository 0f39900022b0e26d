import { dirname, relative } from 'node:path';
import { ReconError } from '../../util/errors.js';
import { readConflictReport, writeTextFileAtomic } from '../../report/io.js';
import { renderRankingTable } from '../../report/table.js';
import { renderConflictCsv } from '../../report/csv.js';
import { renderHtmlReport } from '../../report/html.js';
import { compareReports } from '../../report/compare.js';
import { renderReconScores } from '../../report/recon-json.js';
import { renderMarkdownSummary } from '../../report/markdown.js';
import { renderGraphSvgFile } from '../../report/graph/index.js';
import { loadReportGraph, readStepCosines, recordedFileCandidates } from '../../report/graph/load.js';
import type { ConflictReport } from '../../report/schema.js';
import { optionValue, type ParsedArgs, type PathRole } from '../args.js';
import { checkNoAliasing } from '../validate.js';
import type { Command } from '../command.js';

export const reportCommand: Command = {
  name: 'report',
  summary: 'Render a conflict report: ranking table, CSV, Markdown, the conflict graph as SVG, and a self-contained HTML page with charts.',
  usage:
    'recon report report.json [--model model.onnx] [--top 25] [--S s] [--csv out.csv] [--html out.html] [--graph-svg out.svg] [--before original.json] [--format table|recon-json|md] [-o out]',
  positionals: [{ name: 'the report', kind: 'input' }],
  options: [
    { name: 'top', check: { kind: 'number', integer: true, min: 1 }, value: 'N', description: 'rows of the ranking table and highlighted layers (default 25)' },
    {
      name: 'S',
      check: { kind: 'number', min: -1, max: 1 },
      value: 's',
      description: "rank by this S (default: the report's first); with --record-steps data any S works",
    },
    { name: 'csv', check: { kind: 'output' }, value: 'file', description: 'write one row per layer and S as CSV' },
    { name: 'html', check: { kind: 'output' }, value: 'file', description: 'write a single self-contained HTML page (no network needed)' },
    { name: 'graph-svg', check: { kind: 'output' }, value: 'file', description: 'write the model graph coloured by conflict score as a standalone SVG' },
    {
      name: 'model',
      check: { kind: 'input' },
      value: 'model.onnx',
      description: 'the scanned model, for the graph view (default: the path the report records, if it exists)',
    },
    {
      name: 'before',
      check: { kind: 'input' },
      value: 'report.json',
      description: 'scan of the original model: adds the before/after conflict-occurrence comparison',
    },
    {
      name: 'format',
      value: 'table|recon-json|md',
      description:
        "what goes to stdout (or -o): the ranking table (default), Recon's {layer: count} JSON at one S (its scripts/cal_conflict_scores.py format), or a Markdown summary for pull requests",
    },
    { name: 'output', check: { kind: 'output' }, value: 'file', description: 'write the --format output to this file instead of stdout' },
  ],
  async run(args, io) {
    const path = args.positionals[0];
    if (!path) throw new ReconError(`missing report file (usage: ${this.usage})`);
    let report = readConflictReport(path);
    refuseReportSourceOutputs(args, path, report);
    const format = optionValue(args, 'format') ?? 'table';
    if (format !== 'table' && format !== 'recon-json' && format !== 'md') throw new ReconError(`--format must be table, recon-json or md, got "${format}"`);
    const output = optionValue(args, 'output');
    const top = Number(optionValue(args, 'top') ?? 25);
    const sText = optionValue(args, 'S');
    const S = sText === undefined ? undefined : Number(sText);
    if (S !== undefined && !report.settings.S.includes(S)) report = withRecordedS(report, path, S);
    const csv = optionValue(args, 'csv');
    const html = optionValue(args, 'html');
    const graphSvg = optionValue(args, 'graph-svg');
    const beforePath = optionValue(args, 'before');
    const before = beforePath ? readConflictReport(beforePath) : undefined;
    const compare = before ? compareReports(before, report) : undefined;
    const warn = (m: string): void => io.stderr(`warning: ${m}\n`);
    // The graph needs the model: load it before writing anything, so a bad --model fails early.
    const modelPath = optionValue(args, 'model');
    if (modelPath && !html && !graphSvg) warn('--model is used only with --html or --graph-svg; ignored');
    const graph = html || graphSvg ? loadReportGraph(report, path, modelPath, warn) : undefined;
    if (graphSvg && graph && 'missing' in graph) throw new ReconError(`--graph-svg needs the model: ${graph.missing}`);
    if (graph && 'missing' in graph) warn(`no graph view: ${graph.missing}`);
    const stepCosines = html && graph && 'view' in graph ? readStepCosines(report, path) : undefined;
    const beforeStepCosines = html && before && beforePath && graph && 'view' in graph && graph.view.rewrite ? readStepCosines(before, beforePath) : undefined;
    const sOption = S !== undefined ? { S } : {};

    if (csv) writeTextFileAtomic(csv, renderConflictCsv(report));
    if (html) {
      writeTextFileAtomic(
        html,
        renderHtmlReport(report, {
          top,
          ...sOption,
          ...(before && compare ? { before, compare } : {}),
          ...(graph && 'view' in graph ? { graph: graph.view } : graph ? { graphMissing: graph.missing } : {}),
          ...(stepCosines ? { stepCosines } : {}),
          ...(beforeStepCosines ? { beforeStepCosines } : {}),
        }),
      );
    }
    if (graphSvg && graph && 'view' in graph) {
      writeTextFileAtomic(graphSvg, renderGraphSvgFile(report, graph.view, { top, ...sOption, ...(before ? { before } : {}) }));
    }
    let text: string;
    if (format === 'recon-json') text = renderReconScores(report, S);
    else if (format === 'md') {
      // The link is relative to where the Markdown goes (the current folder for stdout).
      const htmlLink = html ? relative(output ? dirname(output) : '.', html) : undefined;
      text = renderMarkdownSummary(report, { top, ...sOption, ...(compare ? { compare } : {}), ...(htmlLink !== undefined ? { htmlLink } : {}) });
    } else text = `${renderRankingTable(report, { top, ...sOption })}\n`;
    if (output) writeTextFileAtomic(output, text);
    else io.stdout(text);
    if (output) io.stdout(`${format}: ${output}\n`);
    if (csv) io.stdout(`csv: ${csv}\n`);
    if (html) io.stdout(`html: ${html}\n`);
    if (graphSvg) io.stdout(`graph-svg: ${graphSvg}\n`);
    return 0;
  },
};

/** Adds scores for another S from the per-step cosines recorded with `scan --record-steps`. */
export function withRecordedS(report: ConflictReport, reportPath: string, S: number): ConflictReport {
  const recorded = readStepCosines(report, reportPath);
  if (!recorded) throw new ReconError(`the report has no scores for S=${S} (it has ${report.settings.S.join(', ')}); rescan with --S or --record-steps`);
  const { steps, layers, pairs, data } = recorded;
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

/**
 * The model and data a report names are inputs too: the graph view reads the model, and writing
 * a rendering over either (`-o model.onnx`) would destroy what the scan was made from.
 */
function refuseReportSourceOutputs(args: ParsedArgs, reportPath: string, report: ConflictReport): void {
  if (!args.paths) return;
  const sources: PathRole[] = [];
  for (const [what, recorded] of [
    ['the model the report was made from:', report.model.path],
    ['the data the report was made from:', report.settings.data],
  ] as const) {
    if (!recorded || recorded === '<memory>') continue;
    for (const candidate of recordedFileCandidates(recorded, reportPath)) sources.push({ shown: what, path: candidate });
  }
  checkNoAliasing(sources, args.paths.outputs, args.paths.allow, args.paths.hint);
}
