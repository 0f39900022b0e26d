import { renderTextTable } from '../util/text-table.js';
/**
 * Before/after comparison in the format of the paper's conflict-occurrence tables (§7).
 */
import { ReconError } from '../util/errors.js';
import { PAPER_BINS, binsBelow } from './bins.js';
import { formatInteger, formatThreshold } from './format.js';
import type { ConflictReport, OccurrenceHistogram } from './schema.js';

/**
 * 'layers': every (layer, step, pair) cosine of the shared layers (report.trunk).
 * 'whole-trunk': one cosine per (step, pair) of the concatenated shared gradient, the paper's
 * literal definition (report.trunk.wholeTrunk; both reports must have it).
 */
export type OccurrenceBasis = 'layers' | 'whole-trunk';

export interface CompareOptions {
  /** Severe conflict = cos < threshold; one of PAPER_BINS.edges (default -0.01, as in Table 6). */
  severeThreshold?: number;
  basis?: OccurrenceBasis;
}

export interface OccurrenceColumn {
  model: string;
  sharedLayers: number;
  observations: number;
  /** Counts in the paper bins. */
  counts: number[];
  /** Percent of observations in each paper bin. */
  percent: number[];
  /** Percent of observations in the severe bins. */
  severePercent: number;
}

export interface CompareResult {
  basis: OccurrenceBasis;
  binLabels: string[];
  severeThreshold: number;
  /** Paper bins that count as severe. */
  severeBins: number[];
  before: OccurrenceColumn;
  after: OccurrenceColumn;
  /** (before - after) / before · 100 of the severe percentages; null when before has none. */
  severeReductionPct: number | null;
  /** Shared layers of the original that are no longer shared (by name). */
  removedLayers: string[];
  /** Caveats worth printing next to the table (different settings, partial scans, …). */
  notes: string[];
}

/**
 * Compares conflict occurrence over the shared layers of the original model (`before`) with the
 * layers still shared in the rewritten model (`after`). Refuses reports with different tasks.
 */
export function compareReports(before: ConflictReport, after: ConflictReport, options: CompareOptions = {}): CompareResult {
  const severeThreshold = options.severeThreshold ?? -0.01;
  const severeBins = binsBelow(severeThreshold);
  const basis = options.basis ?? 'layers';
  const beforeTasks = before.tasks.map((t) => t.name).join(', ');
  const afterTasks = after.tasks.map((t) => t.name).join(', ');
  if (beforeTasks !== afterTasks) throw new ReconError(`cannot compare reports with different tasks (before: ${beforeTasks}; after: ${afterTasks})`);

  const column = (report: ConflictReport, role: string): OccurrenceColumn => {
    const occurrence = occurrenceOf(report, basis, role);
    if (occurrence.observations === 0) throw new ReconError(`cannot compare: the ${role} report (${report.model.path}) has no observations`);
    const percent = occurrence.histogram.map((c) => (100 * c) / occurrence.observations);
    return {
      model: report.model.path,
      sharedLayers: report.layers.length,
      observations: occurrence.observations,
      counts: [...occurrence.histogram],
      percent,
      severePercent: severeBins.reduce((total, b) => total + percent[b]!, 0),
    };
  };
  const beforeColumn = column(before, 'before');
  const afterColumn = column(after, 'after');
  const afterNames = new Set(after.layers.map((l) => l.name));
  const beforeNames = new Set(before.layers.map((l) => l.name));

  return {
    basis,
    binLabels: [...PAPER_BINS.labels],
    severeThreshold,
    severeBins,
    before: beforeColumn,
    after: afterColumn,
    severeReductionPct: beforeColumn.severePercent > 0 ? ((beforeColumn.severePercent - afterColumn.severePercent) / beforeColumn.severePercent) * 100 : null,
    removedLayers: before.layers.filter((l) => !afterNames.has(l.name)).map((l) => l.name),
    notes: comparisonNotes(before, after, after.layers.filter((l) => !beforeNames.has(l.name)).length),
  };
}

function occurrenceOf(report: ConflictReport, basis: OccurrenceBasis, role: string): OccurrenceHistogram {
  if (basis === 'layers') return report.trunk;
  if (!report.trunk.wholeTrunk)
    throw new ReconError(`cannot compare on the whole-trunk basis: the ${role} report (${report.model.path}) has no trunk.wholeTrunk`);
  return report.trunk.wholeTrunk;
}

function comparisonNotes(before: ConflictReport, after: ConflictReport, newLayers: number): string[] {
  const notes: string[] = [];
  const a = before.settings;
  const b = after.settings;
  const differing = (
    [
      ['method', a.method, b.method],
      ['data', a.data, b.data],
      ['seed', a.seed, b.seed],
      ['epochs', a.epochs, b.epochs],
      ['steps', a.steps, b.steps],
      ['batchSize', a.batchSize, b.batchSize],
      ['optimizer', JSON.stringify(a.optimizer), JSON.stringify(b.optimizer)],
      ['bn', a.bn, b.bn],
    ] as const
  ).filter(([, x, y]) => x !== y);
  if (differing.length > 0) {
    notes.push(`settings differ: ${differing.map(([name, x, y]) => `${name} ${String(x)} vs ${String(y)}`).join('; ')}`);
  }
  if (before.partial) notes.push(`the before scan is partial (${before.progress.stepsDone} of ${before.progress.totalSteps} steps)`);
  if (after.partial) notes.push(`the after scan is partial (${after.progress.stepsDone} of ${after.progress.totalSteps} steps)`);
  if (newLayers > 0) notes.push(`${newLayers} shared layer(s) of the after model do not appear in the before model (renamed by the rewrite?)`);
  return notes;
}

/** The comparison as a terminal table, bins as rows like the paper's Tables 6 and 8–10. */
export function renderCompareText(result: CompareResult): string {
  const basisText = result.basis === 'layers' ? '(layer, step, pair) cosines of the shared layers' : '(step, pair) cosines of the whole shared trunk';
  const rows: string[][] = [
    ['bin', `before (${layerCount(result.before.sharedLayers)})`, `after (${layerCount(result.after.sharedLayers)})`],
    ...result.binLabels.map((label, b) => [label, result.before.percent[b]!.toFixed(2), result.after.percent[b]!.toFixed(2)]),
    [`severe (cos < ${formatThreshold(result.severeThreshold)})`, result.before.severePercent.toFixed(2), result.after.severePercent.toFixed(2)],
  ];
  const lines = [`Conflict occurrence, % of ${basisText}`, '', ...renderTextTable(rows)];
  lines.push('');
  lines.push(
    `reduction of severe conflicts: ${result.severeReductionPct === null ? 'n/a (no severe conflicts before)' : `${result.severeReductionPct.toFixed(2)}%`}`,
  );
  lines.push(`observations: ${formatInteger(result.before.observations)} before, ${formatInteger(result.after.observations)} after`);
  if (result.removedLayers.length > 0) lines.push(`no longer shared: ${result.removedLayers.length} layer(s): ${result.removedLayers.join(', ')}`);
  for (const note of result.notes) lines.push(`note: ${note}`);
  return `${lines.join('\n')}\n`;
}

function layerCount(n: number): string {
  return `${n} layer${n === 1 ? '' : 's'}`;
}
