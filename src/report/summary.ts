/**
 * Views derived from a report that several renderers share (pooled stats, rank order, trunk rates).
 */
import { conflictFraction, mergeCosineStats } from './cosine-stats.js';
import { orderByRank } from './rank.js';
import { PAIR_SEPARATOR, type ConflictReport, type CosineStats, type LayerConflict } from './schema.js';
import { ReconError } from '../util/errors.js';

/** Index into settings.S of threshold `S` (default: the first, which drives cost and selection). */
export function thresholdIndex(report: ConflictReport, S?: number): number {
  if (S === undefined) return 0;
  const index = report.settings.S.indexOf(S);
  if (index < 0) throw new ReconError(`S = ${S} was not scanned (report has S = ${report.settings.S.join(', ')})`);
  return index;
}

/** Layer indices from most to least conflicting at settings.S[sIndex]. */
export function layersByRank(report: ConflictReport, sIndex: number): number[] {
  return orderByRank(report.layers.map((layer) => layer.scores[sIndex]!.rank));
}

/** One layer's cosines pooled over all task pairs. */
export function pooledLayerStats(layer: LayerConflict): CosineStats {
  return mergeCosineStats(Object.values(layer.pairs));
}

/**
 * Fraction of (layer, step, pair) cosines < 0 per epoch over all shared layers. Every layer sees
 * the same steps and pairs, so the plain mean of the layers' rates is the pooled rate.
 */
export function trunkConflictRatePerEpoch(report: ConflictReport): number[] {
  const epochs = report.progress.epochStepsDone.length;
  const rates = new Array<number>(epochs).fill(0);
  if (report.layers.length === 0) return rates;
  for (const layer of report.layers) layer.conflictRatePerEpoch.forEach((r, e) => (rates[e]! += r));
  return rates.map((r) => r / report.layers.length);
}

export interface PairSummary {
  key: string;
  first: string;
  second: string;
  /** Cosines of this pair pooled over all shared layers. */
  stats: CosineStats;
  conflictRate: number;
}

export function pairSummaries(report: ConflictReport): PairSummary[] {
  return report.pairs.map((key) => {
    const [first, second] = key.split(PAIR_SEPARATOR) as [string, string];
    const stats = mergeCosineStats(report.layers.map((layer) => layer.pairs[key]!));
    return { key, first, second, stats, conflictRate: conflictFraction(stats) };
  });
}

export function totalParams(report: ConflictReport): number {
  return report.layers.reduce((total, layer) => total + layer.params, 0);
}
