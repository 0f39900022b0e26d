import { ReconError } from '../../src/util/errors.js';
import { describe, expect, it } from 'vitest';
import {
  FINE_BIN_COUNT,
  PAPER_BINS,
  binIndex,
  binsBelow,
  countBelowFromFine,
  fineBinEdge,
  fineBinIndex,
  fineEdgeIndex,
  paperHistogramFromFine,
} from '../../src/report/bins.js';
import { Random } from '../../src/util/random.js';

describe('binIndex', () => {
  it('puts every boundary value into the less conflicting bin (strict "<" like the S-score)', () => {
    expect(binIndex(1)).toBe(0);
    expect(binIndex(0.5)).toBe(0);
    expect(binIndex(0)).toBe(0);
    expect(binIndex(-0)).toBe(0);
    expect(binIndex(-Number.MIN_VALUE)).toBe(1);
    expect(binIndex(-0.005)).toBe(1);
    expect(binIndex(-0.01)).toBe(1);
    expect(binIndex(-0.010000000001)).toBe(2);
    expect(binIndex(-0.02)).toBe(2);
    expect(binIndex(-0.020000000001)).toBe(3);
    expect(binIndex(-0.03)).toBe(3);
    expect(binIndex(-0.030000000001)).toBe(4);
    expect(binIndex(-1)).toBe(4);
  });

  it('rejects NaN', () => {
    expect(() => binIndex(Number.NaN)).toThrow(/NaN/);
  });

  it('has one label and one interval per bin', () => {
    expect(PAPER_BINS.labels).toHaveLength(PAPER_BINS.edges.length + 1);
    expect(PAPER_BINS.intervals).toHaveLength(PAPER_BINS.edges.length + 1);
  });
});

describe('fine bins', () => {
  it('places each fine edge at the start of its own bin', () => {
    for (let k = 0; k < FINE_BIN_COUNT; k++) {
      expect(fineBinIndex(fineBinEdge(k))).toBe(k);
      if (k > 0) expect(fineBinIndex(fineBinEdge(k) - 1e-12)).toBe(k - 1);
    }
    expect(fineBinIndex(1)).toBe(FINE_BIN_COUNT - 1);
    expect(fineBinIndex(-1)).toBe(0);
  });

  it('uses the very same doubles as the usual S literals', () => {
    expect(fineBinEdge(99)).toBe(-0.01);
    expect(fineBinEdge(98)).toBe(-0.02);
    expect(fineBinEdge(97)).toBe(-0.03);
    expect(fineBinEdge(95)).toBe(-0.05);
    expect(fineBinEdge(90)).toBe(-0.1);
    expect(fineEdgeIndex(-0.1)).toBe(90);
    expect(fineEdgeIndex(-0.015)).toBe(-1);
  });

  it('derives the paper histogram and below-S counts exactly, including values on the edges', () => {
    const rng = new Random(3);
    const values = [0, -0.01, -0.02, -0.03, -0.05, -0.1, 1, -1];
    for (let i = 0; i < 5000; i++) values.push(Math.max(-1, Math.min(1, rng.normal() * 0.03)));
    const fine = new Array<number>(FINE_BIN_COUNT).fill(0);
    const paper = new Array<number>(5).fill(0);
    for (const v of values) {
      fine[fineBinIndex(v)]!++;
      paper[binIndex(v)]!++;
    }
    expect(paperHistogramFromFine(fine)).toEqual(paper);
    for (const S of [0, -0.01, -0.02, -0.05, -0.1, -1]) {
      expect(countBelowFromFine(fine, S)).toBe(values.filter((v) => v < S).length);
    }
    expect(() => countBelowFromFine(fine, -0.015)).toThrow(/multiple of 0.01/);
  });

  it('lists the severe bins below a paper edge', () => {
    expect(binsBelow(-0.01)).toEqual([2, 3, 4]);
    expect(binsBelow(0)).toEqual([1, 2, 3, 4]);
    expect(binsBelow(-0.03)).toEqual([4]);
    expect(() => binsBelow(-0.04)).toThrow(/not a paper bin edge/);
    expect(() => binsBelow(-0.04)).toThrow(ReconError); // one clean line in the CLI, not 'internal error'
  });
});
