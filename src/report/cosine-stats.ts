/**
 * Streaming summary of cosines that merges exactly across layers, pairs and shards.
 */
import { FINE_BIN_COUNT, PAPER_BIN_COUNT, binIndex, fineBinEdge, fineBinIndex } from './bins.js';
import type { CosineQuantiles, CosineStats } from './schema.js';
import { ReconError } from '../util/errors.js';

/**
 * Values kept per accumulator for exact quantiles. 50k covers the paper's searches per
 * (layer, pair) (MNIST 18,720, NYUv2 ≈19,850 iterations) at 400 KB each.
 */
export const DEFAULT_EXACT_QUANTILE_LIMIT = 50_000;

// Cosines computed in float32 may overshoot ±1 by rounding; anything further out is a bug upstream.
const COSINE_TOLERANCE = 1e-3;

const QUANTILE_LEVELS: Readonly<Record<keyof CosineQuantiles, number>> = { p05: 0.05, p25: 0.25, p50: 0.5, p75: 0.75, p95: 0.95 };

/**
 * Accumulates cosines into exact count, sum, sum of squares, min, max and both histograms.
 *
 * Quantiles are exact (linear interpolation between order statistics, numpy's default) while
 * the accumulator still holds every value, i.e. at most `exactLimit` values and never merged
 * with one rebuilt from stats. Otherwise they are read off the fine histogram, spreading each
 * bin's values evenly over the bin (narrowed to [min, max]); the error is then at most one bin
 * width, 0.01. Values are clamped to [-1, 1].
 */
export class CosineAccumulator {
  private n = 0;
  // Neumaier-compensated sums keep merged totals independent of the order of additions to ~1 ulp.
  private sumValue = 0;
  private sumError = 0;
  private squaresValue = 0;
  private squaresError = 0;
  private minValue = Infinity;
  private maxValue = -Infinity;
  private readonly paper = new Array<number>(PAPER_BIN_COUNT).fill(0);
  private readonly fine = new Array<number>(FINE_BIN_COUNT).fill(0);
  private values: Float64Array | null;
  private stored = 0;

  constructor(readonly exactLimit: number = DEFAULT_EXACT_QUANTILE_LIMIT) {
    this.values = exactLimit > 0 ? new Float64Array(Math.min(256, exactLimit)) : null;
  }

  /** Rebuilds an accumulator from stats; its quantiles come from the fine histogram unless count is 0. */
  static fromStats(stats: CosineStats, exactLimit: number = DEFAULT_EXACT_QUANTILE_LIMIT): CosineAccumulator {
    const acc = new CosineAccumulator(exactLimit);
    if (stats.count === 0) return acc;
    acc.n = stats.count;
    acc.sumValue = stats.sum;
    acc.squaresValue = stats.sumSquares;
    acc.minValue = stats.min;
    acc.maxValue = stats.max;
    stats.histogram.forEach((c, b) => (acc.paper[b] = c));
    stats.fineHistogram.forEach((c, i) => (acc.fine[i] = c));
    acc.values = null;
    return acc;
  }

  get count(): number {
    return this.n;
  }

  push(cos: number): void {
    assertCosine(cos, 'CosineAccumulator.push');
    const x = clampCosine(cos);
    if (this.values !== null) {
      if (this.n < this.exactLimit) this.store(x);
      else this.values = null;
    }
    this.n++;
    [this.sumValue, this.sumError] = addCompensated(this.sumValue, this.sumError, x);
    [this.squaresValue, this.squaresError] = addCompensated(this.squaresValue, this.squaresError, x * x);
    if (x < this.minValue) this.minValue = x;
    if (x > this.maxValue) this.maxValue = x;
    this.paper[binIndex(x)]!++;
    this.fine[fineBinIndex(x)]!++;
  }

  pushAll(values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) this.push(values[i]!);
  }

  /** Adds `other`'s observations to this accumulator (other is unchanged). */
  merge(other: CosineAccumulator): this {
    if (other.n === 0) return this;
    if (this.values !== null && other.values !== null && this.n + other.n <= this.exactLimit) {
      for (let i = 0; i < other.n; i++) this.store(other.values[i]!);
    } else {
      this.values = null;
    }
    this.n += other.n;
    [this.sumValue, this.sumError] = addCompensated(this.sumValue, this.sumError + other.sumError, other.sumValue);
    [this.squaresValue, this.squaresError] = addCompensated(this.squaresValue, this.squaresError + other.squaresError, other.squaresValue);
    this.minValue = Math.min(this.minValue, other.minValue);
    this.maxValue = Math.max(this.maxValue, other.maxValue);
    other.paper.forEach((c, b) => (this.paper[b]! += c));
    other.fine.forEach((c, i) => (this.fine[i]! += c));
    return this;
  }

  toStats(): CosineStats {
    const n = this.n;
    const sum = this.sumValue + this.sumError;
    const sumSquares = this.squaresValue + this.squaresError;
    const mean = n > 0 ? sum / n : 0;
    const variance = n > 0 ? Math.max(0, sumSquares / n - mean * mean) : 0;
    return {
      count: n,
      mean,
      std: Math.sqrt(variance),
      min: n > 0 ? this.minValue : 0,
      max: n > 0 ? this.maxValue : 0,
      sum,
      sumSquares,
      quantiles: this.quantiles(),
      quantilesExact: this.values !== null,
      histogram: [...this.paper],
      fineHistogram: [...this.fine],
    };
  }

  private store(x: number): void {
    let values = this.values!;
    if (this.stored === values.length) {
      const grown = new Float64Array(Math.min(this.exactLimit, values.length * 2));
      grown.set(values);
      values = this.values = grown;
    }
    values[this.stored++] = x;
  }

  private quantiles(): CosineQuantiles {
    const result: CosineQuantiles = { p05: 0, p25: 0, p50: 0, p75: 0, p95: 0 };
    if (this.n === 0) return result;
    const orderStatistic = this.values !== null ? sortedLookup(this.values.slice(0, this.n)) : this.histogramLookup();
    for (const key of Object.keys(QUANTILE_LEVELS) as (keyof CosineQuantiles)[]) {
      const position = QUANTILE_LEVELS[key] * (this.n - 1);
      const lower = Math.floor(position);
      const below = orderStatistic(lower);
      const value = lower + 1 < this.n ? below + (position - lower) * (orderStatistic(lower + 1) - below) : below;
      result[key] = Math.min(this.maxValue, Math.max(this.minValue, value));
    }
    return result;
  }

  /** Estimated r-th smallest value (0-based) from the fine histogram. */
  private histogramLookup(): (r: number) => number {
    const fine = this.fine;
    return (r) => {
      let before = 0;
      for (let i = 0; i < FINE_BIN_COUNT; i++) {
        const c = fine[i]!;
        if (r < before + c) {
          const low = Math.max(fineBinEdge(i), this.minValue);
          const high = Math.min(fineBinEdge(i + 1), this.maxValue);
          return low + ((r - before + 0.5) / c) * (high - low);
        }
        before += c;
      }
      return this.maxValue;
    };
  }
}

/** Throws unless `cos` is finite and within rounding distance of [-1, 1]. */
export function assertCosine(cos: number, where: string): void {
  if (!Number.isFinite(cos) || Math.abs(cos) > 1 + COSINE_TOLERANCE) throw new ReconError(`${where}: ${cos} is not a cosine`);
}

export function clampCosine(cos: number): number {
  return Math.min(1, Math.max(-1, cos));
}

/**
 * Pools stats of disjoint sets of cosines (e.g. the pairs of one layer, or one layer over shards).
 * A single non-empty input is returned as a copy, keeping its exact quantiles.
 */
export function mergeCosineStats(stats: readonly CosineStats[]): CosineStats {
  const nonEmpty = stats.filter((s) => s.count > 0);
  if (nonEmpty.length === 0) return new CosineAccumulator().toStats();
  if (nonEmpty.length === 1) return copyStats(nonEmpty[0]!);
  const acc = new CosineAccumulator(0);
  for (const s of nonEmpty) acc.merge(CosineAccumulator.fromStats(s, 0));
  return acc.toStats();
}

/** Fraction of cosines < 0 (the paper's definition of a conflict); 0 for empty stats. */
export function conflictFraction(stats: CosineStats): number {
  return stats.count > 0 ? (stats.count - stats.histogram[0]!) / stats.count : 0;
}

function copyStats(stats: CosineStats): CosineStats {
  return { ...stats, quantiles: { ...stats.quantiles }, histogram: [...stats.histogram], fineHistogram: [...stats.fineHistogram] };
}

function sortedLookup(values: Float64Array): (r: number) => number {
  values.sort();
  return (r) => values[r]!;
}

function addCompensated(total: number, error: number, x: number): [number, number] {
  const t = total + x;
  const e = Math.abs(total) >= Math.abs(x) ? total - t + x : x - t + total;
  return [t, error + e];
}
