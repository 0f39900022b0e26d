import { describe, expect, it } from 'vitest';
import { binIndex, fineBinIndex } from '../../src/report/bins.js';
import { CosineAccumulator, conflictFraction, mergeCosineStats } from '../../src/report/cosine-stats.js';
import { Random } from '../../src/util/random.js';

function randomCosines(seed: number, n: number): number[] {
  const rng = new Random(seed);
  return Array.from({ length: n }, () => Math.max(-1, Math.min(1, -0.004 + rng.normal() * 0.02 - (rng.uniform() < 0.03 ? 0.1 * rng.uniform() : 0))));
}

/** Numpy's default quantile: linear interpolation between the order statistics around q·(n−1). */
function directQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

function direct(values: readonly number[]) {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / n);
  const histogram = [0, 0, 0, 0, 0];
  const fine = new Array<number>(200).fill(0);
  for (const v of values) {
    histogram[binIndex(v)]!++;
    fine[fineBinIndex(v)]!++;
  }
  return {
    mean,
    std,
    min: Math.min(...values),
    max: Math.max(...values),
    sumSquares: values.reduce((a, v) => a + v * v, 0),
    quantiles: {
      p05: directQuantile(values, 0.05),
      p25: directQuantile(values, 0.25),
      p50: directQuantile(values, 0.5),
      p75: directQuantile(values, 0.75),
      p95: directQuantile(values, 0.95),
    },
    histogram,
    fine,
  };
}

describe('CosineAccumulator', () => {
  const values = randomCosines(11, 4001);
  const expected = direct(values);

  it('matches direct computation, with exact quantiles while it holds every value', () => {
    const acc = new CosineAccumulator();
    acc.pushAll(values);
    const stats = acc.toStats();
    expect(stats.count).toBe(values.length);
    expect(stats.mean).toBeCloseTo(expected.mean, 14);
    expect(stats.std).toBeCloseTo(expected.std, 12);
    expect(stats.min).toBe(expected.min);
    expect(stats.max).toBe(expected.max);
    expect(stats.sumSquares).toBeCloseTo(expected.sumSquares, 12);
    expect(stats.histogram).toEqual(expected.histogram);
    expect(stats.fineHistogram).toEqual(expected.fine);
    expect(stats.quantilesExact).toBe(true);
    for (const key of ['p05', 'p25', 'p50', 'p75', 'p95'] as const) expect(stats.quantiles[key]).toBeCloseTo(expected.quantiles[key], 15);
  });

  it('falls back to the fine histogram past its limit, within one bin width (0.01)', () => {
    const acc = new CosineAccumulator(1000);
    acc.pushAll(values);
    const stats = acc.toStats();
    expect(stats.quantilesExact).toBe(false);
    expect(stats.mean).toBeCloseTo(expected.mean, 14);
    for (const key of ['p05', 'p25', 'p50', 'p75', 'p95'] as const) {
      expect(Math.abs(stats.quantiles[key] - expected.quantiles[key])).toBeLessThanOrEqual(0.01);
    }
    // The histogram estimate should still be a good deal better than the worst case here.
    expect(Math.abs(stats.quantiles.p50 - expected.quantiles.p50)).toBeLessThan(0.003);
  });

  it('merging two halves equals accumulating everything', () => {
    const whole = new CosineAccumulator();
    whole.pushAll(values);
    const a = new CosineAccumulator();
    const b = new CosineAccumulator();
    a.pushAll(values.slice(0, 1500));
    b.pushAll(values.slice(1500));
    const merged = a.merge(b).toStats();
    const all = whole.toStats();
    expect(merged.count).toBe(all.count);
    expect(merged.sum).toBeCloseTo(all.sum, 13);
    expect(merged.sumSquares).toBeCloseTo(all.sumSquares, 13);
    expect(merged.std).toBeCloseTo(all.std, 13);
    expect(merged.histogram).toEqual(all.histogram);
    expect(merged.fineHistogram).toEqual(all.fineHistogram);
    expect(merged.quantiles).toEqual(all.quantiles);
    expect(merged.quantilesExact).toBe(true);
  });

  it('merges stats from disk exactly except for the quantiles', () => {
    const a = new CosineAccumulator();
    const b = new CosineAccumulator();
    a.pushAll(values.slice(0, 2000));
    b.pushAll(values.slice(2000));
    const merged = mergeCosineStats([a.toStats(), b.toStats()]);
    expect(merged.count).toBe(values.length);
    expect(merged.mean).toBeCloseTo(expected.mean, 14);
    expect(merged.std).toBeCloseTo(expected.std, 12);
    expect(merged.min).toBe(expected.min);
    expect(merged.max).toBe(expected.max);
    expect(merged.fineHistogram).toEqual(expected.fine);
    expect(merged.quantilesExact).toBe(false);
    expect(Math.abs(merged.quantiles.p95 - expected.quantiles.p95)).toBeLessThanOrEqual(0.01);
  });

  it('keeps exact quantiles when only one input has observations', () => {
    const a = new CosineAccumulator();
    a.pushAll(values);
    const merged = mergeCosineStats([new CosineAccumulator().toStats(), a.toStats()]);
    expect(merged.quantilesExact).toBe(true);
    expect(merged.quantiles.p25).toBeCloseTo(expected.quantiles.p25, 15);
  });

  it('clamps float32 overshoot, rejects non-cosines', () => {
    const acc = new CosineAccumulator();
    acc.push(1.0000001);
    acc.push(-1.0000001);
    expect(acc.toStats().max).toBe(1);
    expect(acc.toStats().min).toBe(-1);
    expect(() => acc.push(Number.NaN)).toThrow(/not a cosine/);
    expect(() => acc.push(1.5)).toThrow(/not a cosine/);
    expect(acc.count).toBe(2);
  });

  it('reports zeros for no observations', () => {
    const stats = new CosineAccumulator().toStats();
    expect(stats).toMatchObject({ count: 0, mean: 0, std: 0, min: 0, max: 0, sum: 0 });
    expect(conflictFraction(stats)).toBe(0);
  });

  it('conflictFraction counts cos < 0 only', () => {
    const acc = new CosineAccumulator();
    acc.pushAll([0, 0.2, -0.001, -0.5]);
    expect(conflictFraction(acc.toStats())).toBe(0.5);
  });
});
