import { readFileSync } from 'node:fs';
import { ReconError } from '../util/errors.js';
import type { TaskMetrics } from './evaluate.js';

/** Whether a larger value of a metric means a better model. */
export type MetricDirection = 'higher' | 'lower';

/** The metrics `evaluateModel` produces and their direction: accuracies higher, errors lower. */
export const METRIC_DIRECTIONS = {
  accuracy: 'higher',
  mIoU: 'higher',
  pixelAccuracy: 'higher',
  absError: 'lower',
  relError: 'lower',
} as const satisfies Record<string, MetricDirection>;

export type MetricName = keyof typeof METRIC_DIRECTIONS;

export const METRIC_NAMES = Object.keys(METRIC_DIRECTIONS) as MetricName[];

/** The metrics a task's evaluation holds, in METRIC_NAMES order. */
export function taskMetricNames(metrics: TaskMetrics): MetricName[] {
  return METRIC_NAMES.filter((name) => metrics[name] !== undefined);
}

export interface MetricChange {
  metric: MetricName;
  direction: MetricDirection;
  value: number;
  baseline: number;
  /** (-1)^l (value − baseline) / baseline · 100, l = 1 when higher is better: negative = better. */
  signedChangePct: number;
}

export interface TaskDeltaM {
  task: string;
  metrics: MetricChange[];
  /** Mean of the task's signed changes (a task with several metrics counts once). */
  deltaPct: number;
}

export interface DeltaM {
  /** Δm% = (1/T) Σ_t task deltas; negative = better than the baseline on average. */
  deltaPct: number;
  tasks: TaskDeltaM[];
}

/**
 * Recon's Δm% (the multi-task performance measure of Maninis et al., used by Recon, CAGrad and
 * Nash-MTL): Δm = (1/T) Σ_t (−1)^{l_t} (M_t − M_base,t) / M_base,t × 100 with l_t = 1 when higher is
 * better, so a negative Δm means the model beats the baseline. A task with several metrics
 * (mIoU and pixel accuracy; absolute and relative error) contributes the mean of its metrics'
 * terms, so every task weighs the same (LibMTL's averaging). Tasks are matched by name; both
 * sides must have the same tasks and metrics, and no baseline metric may be 0.
 */
export function deltaM(metrics: readonly TaskMetrics[], baseline: readonly TaskMetrics[]): DeltaM {
  if (baseline.length === 0) throw new ReconError('Δm needs at least one task in the baseline');
  const byName = new Map(metrics.map((m) => [m.task, m]));
  if (byName.size !== metrics.length) throw new ReconError('Δm: a task appears twice in the metrics');
  const extra = metrics.filter((m) => !baseline.some((b) => b.task === m.task)).map((m) => m.task);
  if (extra.length > 0) throw new ReconError(`Δm: task ${extra.join(', ')} has no baseline metrics`);
  const tasks = baseline.map((base): TaskDeltaM => {
    const current = byName.get(base.task);
    if (!current) throw new ReconError(`Δm: task ${base.task} of the baseline has no metrics`);
    const names = taskMetricNames(base);
    if (names.length === 0) throw new ReconError(`Δm: the baseline of task ${base.task} has no metric`);
    const changes = names.map((metric): MetricChange => {
      const value = current[metric];
      const reference = base[metric]!;
      if (value === undefined) throw new ReconError(`Δm: task ${base.task} has no ${metric} to compare with the baseline's`);
      if (reference === 0 || !Number.isFinite(reference)) {
        throw new ReconError(`Δm: the baseline's ${metric} of task ${base.task} is ${reference}; a relative change needs a finite non-zero baseline`);
      }
      const direction = METRIC_DIRECTIONS[metric];
      const sign = direction === 'higher' ? -1 : 1;
      return { metric, direction, value, baseline: reference, signedChangePct: (sign * (value - reference) * 100) / reference };
    });
    return { task: base.task, metrics: changes, deltaPct: mean(changes.map((c) => c.signedChangePct)) };
  });
  return { deltaPct: mean(tasks.map((t) => t.deltaPct)), tasks };
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Per-task mean of each metric over several runs (e.g. seeds); every run must have the same tasks and metrics. */
export function meanMetrics(runs: readonly (readonly TaskMetrics[])[]): TaskMetrics[] {
  if (runs.length === 0) throw new ReconError('no runs to average');
  const first = runs[0]!;
  return first.map((template) => {
    const same = runs.map((r) => {
      const m = r.find((x) => x.task === template.task);
      if (!m) throw new ReconError(`task ${template.task} is missing from one of the runs`);
      return m;
    });
    const out: TaskMetrics = { task: template.task, count: template.count };
    for (const name of taskMetricNames(template)) {
      out[name] = mean(
        same.map((m) => {
          const v = m[name];
          if (v === undefined) throw new ReconError(`task ${template.task}: ${name} is missing from one of the runs`);
          return v;
        }),
      );
    }
    return out;
  });
}

/**
 * The final per-task metrics in a metrics file: `recon train`'s <output>.metrics.json (`final`) or
 * `recon run`'s train-original.json / train-recon.json (`metrics`). Errors name the file.
 */
export function readMetricsFile(path: string): TaskMetrics[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ReconError(`${path}: cannot read metrics: ${(error as Error).message.split('\n')[0]}`);
  }
  const root = (json ?? {}) as { final?: unknown; metrics?: unknown };
  const metrics = root.final ?? root.metrics;
  const valid =
    Array.isArray(metrics) &&
    metrics.length > 0 &&
    metrics.every(
      (m: unknown) =>
        typeof m === 'object' &&
        m !== null &&
        typeof (m as TaskMetrics).task === 'string' &&
        METRIC_NAMES.some((name) => typeof (m as TaskMetrics)[name] === 'number'),
    );
  if (!valid) throw new ReconError(`${path}: no per-task metrics (expected "final" of recon train or "metrics" of recon run's train-*.json)`);
  return metrics as TaskMetrics[];
}

/** Δm, or undefined with a warning when it is undefined (a zero baseline, other tasks): results already trained are not lost. */
export function deltaMOrWarn(metrics: readonly TaskMetrics[], baseline: readonly TaskMetrics[], warn: (message: string) => void): DeltaM | undefined {
  try {
    return deltaM(metrics, baseline);
  } catch (error) {
    if (!(error instanceof ReconError)) throw error;
    warn(`no Δm: ${error.message}`);
    return undefined;
  }
}
