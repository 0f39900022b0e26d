/**
 * Merging the shard reports of a static scan (`settings.shard` = index/count) into one report.
 */
import { ReconError } from '../util/errors.js';
import { PAPER_BIN_COUNT } from './bins.js';
import { mergeCosineStats } from './cosine-stats.js';
import { downsampleLosses } from './loss-curves.js';
import { rankScores } from './rank.js';
import type { LayerDescriptor } from './report-builder.js';
import type { ConflictReport, CosineStats, LayerConflict, LossCurves, OccurrenceHistogram } from './schema.js';

export interface MergeOptions {
  /** File names of the reports, for error messages (default "report 1", "report 2", …). */
  sources?: readonly string[];
  /** createdAt of the merged report (default: now). */
  createdAt?: string;
}

/**
 * Merges shards 0..count-1 of one static scan. They must agree on everything but the shard
 * (model, tasks, settings, layers); each shard must appear exactly once, in any order.
 *
 * Scores, counts, sums and histograms add; min/max combine; mean, std and ranks are recomputed;
 * quantiles come from the merged fine histogram (quantilesExact false) unless only one shard
 * observed anything. Per-epoch conflict rates are weighted by each shard's steps in that epoch.
 * Losses are concatenated in shard order, later shards' steps shifted past the earlier ones, and
 * downsampled again. `cost` is dropped because it depends on the ranking, which the merge changes;
 * recompute it for the merged ranking.
 */
export function mergeReports(reports: readonly ConflictReport[], options: MergeOptions = {}): ConflictReport {
  const shards = orderShards(reports, options.sources);
  const first = shards[0]!;
  for (const shard of shards.slice(1)) checkCompatible(first, shard);
  const reference = first.report;
  const pairCount = reference.pairs.length;

  const epochCount = Math.max(...shards.map((s) => s.report.progress.epochStepsDone.length));
  const epochStepsDone = new Array<number>(epochCount).fill(0);
  for (const { report } of shards) report.progress.epochStepsDone.forEach((steps, e) => (epochStepsDone[e]! += steps));

  const layers: LayerConflict[] = reference.layers.map((layer, index) => {
    const parts = shards.map((s) => s.report.layers[index]!);
    const pairs: Record<string, CosineStats> = {};
    for (const key of reference.pairs) pairs[key] = mergeCosineStats(parts.map((p) => p.pairs[key]!));
    const conflictRatePerEpoch = epochStepsDone.map((steps, e) => {
      if (steps === 0) return 0;
      let conflicts = 0;
      for (const { report } of shards) {
        const shardSteps = report.progress.epochStepsDone[e] ?? 0;
        // Rates are exact fractions of whole counts; rounding recovers those counts.
        conflicts += Math.round((report.layers[index]!.conflictRatePerEpoch[e] ?? 0) * shardSteps * pairCount);
      }
      return conflicts / (steps * pairCount);
    });
    return {
      ...layerIdentity(layer),
      scores: layer.scores.map((score, s) => ({ S: score.S, score: sum(parts.map((p) => p.scores[s]!.score)), rank: 0 })),
      pairs,
      conflictRatePerEpoch,
    };
  });
  reference.settings.S.forEach((_, s) => {
    const ranks = rankScores(layers.map((layer) => layer.scores[s]!.score));
    layers.forEach((layer, i) => (layer.scores[s]!.rank = ranks[i]!));
  });

  const settings = structuredClone(reference.settings);
  delete settings.shard;
  const partialShards = shards.filter((s) => s.report.partial);
  const merged: ConflictReport = {
    schemaVersion: reference.schemaVersion,
    kind: reference.kind,
    tool: { ...reference.tool },
    createdAt: options.createdAt ?? new Date().toISOString(),
    partial: partialShards.length > 0,
    model: { ...reference.model },
    tasks: reference.tasks.map((t) => ({ ...t })),
    pairs: [...reference.pairs],
    settings,
    layers,
    trunk: addOccurrences(shards.map((s) => s.report.trunk)),
    losses: concatenateLosses(shards.map((s) => s.report)),
    progress: {
      stepsDone: sum(shards.map((s) => s.report.progress.stepsDone)),
      totalSteps: sum(shards.map((s) => s.report.progress.totalSteps)),
      epochStepsDone,
    },
  };
  if (shards.every((s) => s.report.conflictRateSteps)) {
    // Shards are consecutive blocks of steps: shift each shard's steps past the ones before it.
    const steps: number[] = [];
    const rate: number[] = [];
    let offset = 0;
    for (const s of shards) {
      const r = s.report.conflictRateSteps!;
      r.steps.forEach((step, i) => {
        steps.push(step + offset);
        rate.push(r.rate[i]!);
      });
      offset += s.report.progress.stepsDone;
    }
    merged.conflictRateSteps = { steps, rate };
  }
  if (shards.every((s) => s.report.trunk.wholeTrunk)) merged.trunk.wholeTrunk = addOccurrences(shards.map((s) => s.report.trunk.wholeTrunk!));
  if (partialShards.length > 0) {
    merged.partialReason = partialShards
      .map((s) => `shard ${s.report.settings.shard!.index}/${s.report.settings.shard!.count}: ${s.report.partialReason ?? 'stopped early'}`)
      .join('; ');
  }
  return merged;
}

interface NamedShard {
  report: ConflictReport;
  source: string;
}

function orderShards(reports: readonly ConflictReport[], sources: readonly string[] | undefined): NamedShard[] {
  if (reports.length === 0) throw new ReconError('cannot merge: no reports given');
  const named = reports.map((report, i) => ({ report, source: sources?.[i] ?? `report ${i + 1}` }));
  for (const { report, source } of named) {
    if (!report.settings.shard) throw new ReconError(`cannot merge: ${source} is not a shard (settings.shard is missing)`);
  }
  const count = named[0]!.report.settings.shard!.count;
  for (const { report, source } of named) {
    const shard = report.settings.shard!;
    if (shard.count !== count) {
      throw new ReconError(`cannot merge: ${named[0]!.source} is one of ${count} shards but ${source} is one of ${shard.count}`);
    }
  }
  const byIndex: (NamedShard | undefined)[] = Array.from({ length: count }, () => undefined);
  for (const shard of named) {
    const index = shard.report.settings.shard!.index;
    if (!Number.isInteger(index) || index < 0 || index >= count)
      throw new ReconError(`cannot merge: ${shard.source} has shard index ${index}, outside 0..${count - 1}`);
    const previous = byIndex[index];
    if (previous) throw new ReconError(`cannot merge: shard ${index}/${count} appears twice (${previous.source} and ${shard.source})`);
    byIndex[index] = shard;
  }
  const missing = byIndex.flatMap((s, i) => (s ? [] : [`${i}/${count}`]));
  if (missing.length > 0) throw new ReconError(`cannot merge: shard(s) ${missing.join(', ')} missing (shard indices are 0-based)`);
  return byIndex as NamedShard[];
}

function checkCompatible(a: NamedShard, b: NamedShard): void {
  const refuse = (what: string, x: unknown, y: unknown): never => {
    throw new ReconError(`cannot merge: ${b.source} differs from ${a.source} in ${what} (${brief(y)} vs ${brief(x)})`);
  };
  const ra = a.report;
  const rb = b.report;
  if (ra.schemaVersion !== rb.schemaVersion) refuse('schemaVersion', ra.schemaVersion, rb.schemaVersion);
  if (ra.tool.name !== rb.tool.name || ra.tool.version !== rb.tool.version)
    refuse('tool', `${ra.tool.name} ${ra.tool.version}`, `${rb.tool.name} ${rb.tool.version}`);
  // Shards may run on machines with different paths; the hash, when known, identifies the model.
  if (ra.model.sha256 !== undefined && rb.model.sha256 !== undefined) {
    if (ra.model.sha256 !== rb.model.sha256) refuse('model.sha256', ra.model.sha256, rb.model.sha256);
  } else if (ra.model.path !== rb.model.path) {
    refuse('model.path', ra.model.path, rb.model.path);
  }
  if (ra.model.opset !== rb.model.opset) refuse('model.opset', ra.model.opset, rb.model.opset);
  const { shard: _a, ...settingsA } = ra.settings;
  const { shard: _b, ...settingsB } = rb.settings;
  const sections: [string, unknown, unknown][] = [
    ['tasks', ra.tasks, rb.tasks],
    ['settings', settingsA, settingsB],
    ['layers', ra.layers.map(layerIdentity), rb.layers.map(layerIdentity)],
  ];
  for (const [name, x, y] of sections) {
    const difference = firstDifference(x, y, name);
    if (difference) refuse(difference.path, difference.a, difference.b);
  }
}

/** What must match between shards of one scan: a layer without its measurements (a copy). */
function layerIdentity(layer: LayerConflict): LayerDescriptor {
  return { name: layer.name, op: layer.op, nodes: [...layer.nodes], params: layer.params };
}

function firstDifference(a: unknown, b: unknown, path: string): { path: string; a: unknown; b: unknown } | null {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return { path: `${path}.length`, a: a.length, b: b.length };
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const key of keys) {
      const d = firstDifference(a[key], b[key], `${path}.${key}`);
      if (d) return d;
    }
    return null;
  }
  return Object.is(a, b) ? null : { path, a, b };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function addOccurrences(parts: readonly OccurrenceHistogram[]): OccurrenceHistogram {
  const histogram = new Array<number>(PAPER_BIN_COUNT).fill(0);
  for (const part of parts) part.histogram.forEach((c, b) => (histogram[b]! += c));
  return { histogram, observations: sum(parts.map((p) => p.observations)) };
}

function concatenateLosses(reports: readonly ConflictReport[]): LossCurves {
  const steps: number[] = [];
  const perTask: Record<string, number[]> = Object.fromEntries(reports[0]!.tasks.map((t) => [t.name, []]));
  let stepsBefore = 0;
  for (const report of reports) {
    const own = report.losses.steps;
    if (own.length > 0) {
      const last = steps[steps.length - 1];
      // Shards count their own steps from 0; shift past the shards before, and past their last point.
      const offset = Math.max(stepsBefore, last === undefined ? 0 : last + 1 - own[0]!);
      for (const step of own) steps.push(step + offset);
      for (const task of report.tasks) perTask[task.name]!.push(...report.losses.perTask[task.name]!);
    }
    stepsBefore += report.progress.stepsDone;
  }
  return downsampleLosses({ steps, perTask });
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function brief(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
