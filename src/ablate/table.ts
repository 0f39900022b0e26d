import { renderTextTable } from '../util/text-table.js';
/**
 * The ablation table `recon ablate` writes (ablation.json, ablation.csv) and the shape a report
 * renderer reads: one row per (variant, seed) and one summary row per variant (mean over seeds).
 */
import { readFileSync } from 'node:fs';
import { ReconError } from '../util/errors.js';
import { csvField } from '../report/csv.js';
import type { TaskMetrics } from '../train/evaluate.js';
import { taskMetricNames, METRIC_DIRECTIONS, type MetricDirection, type MetricName } from '../train/delta-m.js';
import type { AblationVariant, VariantKind } from './selections.js';

export const ABLATION_KIND = 'recon-ablation';
export const ABLATION_SCHEMA_VERSION = 1;

/** Conflict occurrence in the layers that stay shared, over the training run of a variant. */
export interface RemainingConflict {
  /** Shared layers left in the trained model. */
  sharedLayers: number;
  /** (layer, step, pair) cosines observed. */
  observations: number;
  /** % of cosines < 0. */
  conflictPct: number;
  /** % of cosines < severeThreshold (paper Table 6: −0.01). */
  severePct: number;
  /** (joint − variant) / joint · 100 of severePct, same seed; null for joint or when joint has none. */
  severeReductionPct: number | null;
}

/** What a variant costs, from the cost model of the unrewritten model. */
export interface VariantCost {
  params: number;
  paramIncreasePct: number;
  /** Multiply-accumulates per sample (Conv, ConvTranspose, Gemm, MatMul). */
  macs: number;
  macIncreasePct: number;
}

export interface AblationRow extends VariantCost {
  variant: string;
  kind: VariantKind;
  budget: string;
  S: number | null;
  seed: number;
  layers: string[];
  metrics: TaskMetrics[];
  /** Δm% against joint training with the same seed (negative = better); null for an undefined Δm. */
  deltaMPct: number | null;
  conflict: RemainingConflict;
  steps: number;
  /** Wall time of the training and evaluation (of the run that produced it, when reused). */
  seconds: number;
}

export interface AblationSummaryRow extends VariantCost {
  variant: string;
  kind: VariantKind;
  budget: string;
  S: number | null;
  seeds: number[];
  layers: string[];
  /** Per-task mean of each metric over the seeds. */
  metrics: TaskMetrics[];
  /** Sample standard deviation over seeds (null with one seed), same layout as `metrics`. */
  metricsStd: TaskMetrics[] | null;
  /** Δm% of the mean metrics against joint training's mean metrics. */
  deltaMPct: number | null;
  /** Sample standard deviation of the per-seed Δm% (null with one seed). */
  deltaMStd: number | null;
  conflictPct: number;
  severePct: number;
  /** From the mean severe percentages. */
  severeReductionPct: number | null;
}

export interface MetricColumn {
  task: string;
  metric: MetricName;
  direction: MetricDirection;
}

export interface AblationTable {
  schemaVersion: typeof ABLATION_SCHEMA_VERSION;
  kind: typeof ABLATION_KIND;
  createdAt: string;
  model: { path: string; sha256: string };
  /** The scan report whose scores chose Recon's layers. */
  report: string;
  data: { train: string; eval: string };
  tasks: string[];
  /** Per-task metric columns in table order, each with its direction for Δm. */
  metricColumns: MetricColumn[];
  settings: {
    seeds: number[];
    selectionSeed: number;
    controls: string[];
    severeThreshold: number;
    /** The training settings every variant shares (seed aside). */
    training: Record<string, unknown>;
  };
  variants: AblationVariant[];
  rows: AblationRow[];
  summary: AblationSummaryRow[];
  /** True when some (variant, seed) runs are missing (an interrupted ablation). */
  partial: boolean;
}

export function metricColumns(metrics: readonly TaskMetrics[]): MetricColumn[] {
  return metrics.flatMap((m) => taskMetricNames(m).map((metric) => ({ task: m.task, metric, direction: METRIC_DIRECTIONS[metric] })));
}

function metricValue(metrics: readonly TaskMetrics[], column: MetricColumn): number | undefined {
  return metrics.find((m) => m.task === column.task)?.[column.metric];
}

const BASE_COLUMNS = ['variant', 'kind', 'budget', 'S', 'seed', 'layers_branched', 'params', 'param_increase_pct', 'macs', 'mac_increase_pct'] as const;
const TAIL_COLUMNS = [
  'delta_m_pct',
  'delta_m_std',
  'shared_layers_left',
  'conflict_pct',
  'severe_pct',
  'severe_reduction_pct',
  'steps',
  'seconds',
  'layers',
] as const;

/** CSV header: fixed columns, one `<task>_<metric>` column per metric (and `_std` on summary rows), then Δm and conflicts. */
export function ablationCsvColumns(table: Pick<AblationTable, 'metricColumns'>): string[] {
  const metricCols = table.metricColumns.flatMap((c) => [`${c.task}_${c.metric}`, `${c.task}_${c.metric}_std`]);
  return [...BASE_COLUMNS, ...metricCols, ...TAIL_COLUMNS];
}

/**
 * The table as CSV (RFC 4180, CRLF): the per-seed rows, then one summary row per variant with
 * seed "mean" (standard deviations in the *_std columns). Empty cells mean "not applicable".
 */
export function renderAblationCsv(table: AblationTable): string {
  const num = (v: number | null | undefined): string => (v === null || v === undefined ? '' : String(v));
  const lines = [ablationCsvColumns(table).join(',')];
  for (const r of table.rows) {
    lines.push(
      [
        r.variant,
        r.kind,
        r.budget,
        num(r.S),
        String(r.seed),
        String(r.layers.length),
        num(r.params),
        num(r.paramIncreasePct),
        num(r.macs),
        num(r.macIncreasePct),
        ...table.metricColumns.flatMap((c) => [num(metricValue(r.metrics, c)), '']),
        num(r.deltaMPct),
        '',
        String(r.conflict.sharedLayers),
        num(r.conflict.conflictPct),
        num(r.conflict.severePct),
        num(r.conflict.severeReductionPct),
        String(r.steps),
        r.seconds.toFixed(1),
        r.layers.join(';'),
      ]
        .map(csvField)
        .join(','),
    );
  }
  for (const s of table.summary) {
    lines.push(
      [
        s.variant,
        s.kind,
        s.budget,
        num(s.S),
        'mean',
        String(s.layers.length),
        num(s.params),
        num(s.paramIncreasePct),
        num(s.macs),
        num(s.macIncreasePct),
        ...table.metricColumns.flatMap((c) => [num(metricValue(s.metrics, c)), num(s.metricsStd ? metricValue(s.metricsStd, c) : null)]),
        num(s.deltaMPct),
        num(s.deltaMStd),
        '',
        num(s.conflictPct),
        num(s.severePct),
        num(s.severeReductionPct),
        '',
        '',
        s.layers.join(';'),
      ]
        .map(csvField)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The summary rows as a terminal table. */
export function renderAblationText(table: AblationTable): string {
  const pm = (mean: number, std: number | undefined | null, digits: number): string =>
    std === null || std === undefined ? mean.toFixed(digits) : `${mean.toFixed(digits)}±${std.toFixed(digits)}`;
  const header = [
    'variant',
    'layers',
    'params',
    'MACs',
    ...table.metricColumns.map((c) => `${c.task} ${c.metric}${c.direction === 'higher' ? '↑' : '↓'}`),
    'Δm%↓',
    'severe%',
  ];
  const rows = table.summary.map((s) => [
    s.variant,
    String(s.layers.length),
    `${s.params.toLocaleString('en-US')} (+${s.paramIncreasePct.toFixed(1)}%)`,
    `+${s.macIncreasePct.toFixed(1)}%`,
    ...table.metricColumns.map((c) => {
      const mean = metricValue(s.metrics, c);
      const digits = c.direction === 'higher' ? 2 : 4;
      return mean === undefined ? '' : pm(mean, s.metricsStd ? metricValue(s.metricsStd, c) : null, digits);
    }),
    s.deltaMPct === null ? 'n/a' : pm(s.deltaMPct, s.deltaMStd, 2),
    s.severePct.toFixed(2),
  ]);
  const lines = renderTextTable([header, ...rows]);
  const seeds = table.settings.seeds.join(',');
  return [
    `Ablation over seeds ${seeds} (mean±std; Δm% against joint training, negative = better; severe = % of cosines < ${table.settings.severeThreshold} in the layers left shared)`,
    '',
    ...lines,
    ...(table.partial ? ['', 'PARTIAL: some runs are missing; run the same command again to finish'] : []),
  ].join('\n');
}

/** Reads ablation.json for rendering; errors name the file. Checks the kind and version only. */
export function readAblationTable(path: string): AblationTable {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ReconError(`${path}: cannot read ablation table: ${(error as Error).message.split('\n')[0]}`);
  }
  const t = json as Partial<AblationTable> | null;
  if (!t || typeof t !== 'object' || t.kind !== ABLATION_KIND) throw new ReconError(`${path}: not an ablation table (kind must be "${ABLATION_KIND}")`);
  if (t.schemaVersion !== ABLATION_SCHEMA_VERSION) {
    throw new ReconError(`${path}: ablation table version ${String(t.schemaVersion)}, this tool reads version ${ABLATION_SCHEMA_VERSION}`);
  }
  if (!Array.isArray(t.rows) || !Array.isArray(t.summary) || !Array.isArray(t.metricColumns)) {
    throw new ReconError(`${path}: ablation table without rows, summary or metricColumns`);
  }
  return t as AblationTable;
}
