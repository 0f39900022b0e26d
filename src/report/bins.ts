import { ReconError } from '../util/errors.js';
/**
 * Cosine bins: the five coarse bins of the paper's conflict-occurrence tables (§7) and the 200
 * fine bins that make quantiles mergeable across shards.
 *
 * Every boundary follows one rule, the same strict "<" as Recon's S-conflict score: a cosine
 * belongs below an edge only when `cos < edge`. So a value lying exactly on an edge goes to the
 * bin ABOVE it (the less conflicting one):
 *
 *   bin 0  "[1,0)"        0     <= cos <= 1      no conflict (cos = 0, e.g. a zero gradient, is not a conflict)
 *   bin 1  "(0,-.01]"     -0.01 <= cos <  0
 *   bin 2  "(-.01,-.02]"  -0.02 <= cos < -0.01
 *   bin 3  "(-.02,-.03]"  -0.03 <= cos < -0.02
 *   bin 4  "(-.03,-1]"    -1    <= cos < -0.03
 *
 * This matches the paper's interval notation for bins 1–4 ("(0,-.01]" excludes 0 and includes
 * -0.01) and puts cos = 0 in bin 0, because the paper defines a conflict as cos < 0.
 *
 * Fine bin i covers [e_i, e_{i+1}) with e_i = (i - 100) / 100, the last one also holding 1.
 * The paper edges 0, -0.01, -0.02, -0.03 are fine edges e_100, e_99, e_98, e_97 (bit-identical
 * doubles), so a paper histogram and any "count of cos < S" with S a multiple of 0.01 follow
 * exactly from a fine histogram.
 */

export const PAPER_BIN_COUNT = 5;

export const PAPER_BINS = {
  /** Boundaries between consecutive bins, descending: bin b+1 holds the cosines below edges[b]. */
  edges: [0, -0.01, -0.02, -0.03],
  /** Row labels as printed in the paper's tables (ASCII minus). */
  labels: ['[1,0)', '(0,-.01]', '(-.01,-.02]', '(-.02,-.03]', '(-.03,-1]'],
  /** The exact membership of each bin, for legends and documentation. */
  intervals: ['0 <= cos <= 1', '-0.01 <= cos < 0', '-0.02 <= cos < -0.01', '-0.03 <= cos < -0.02', '-1 <= cos < -0.03'],
} as const;

export const FINE_BIN_COUNT = 200;

const FINE_BINS_PER_UNIT = 100;

/** Paper bin of a cosine (see the module comment for the boundary rule). Throws on NaN. */
export function binIndex(cos: number): number {
  if (Number.isNaN(cos)) throw new ReconError('binIndex: cosine is NaN');
  const edges = PAPER_BINS.edges;
  for (let b = 0; b < edges.length; b++) {
    if (cos >= edges[b]!) return b;
  }
  return edges.length;
}

/** Lower edge of fine bin i (i = 200 gives the upper end, 1). */
export function fineBinEdge(i: number): number {
  // Dividing integers yields the double nearest to the decimal, i.e. the same value as the
  // literals -0.01, -0.1, … that producers use for S.
  return (i - FINE_BINS_PER_UNIT) / FINE_BINS_PER_UNIT;
}

/** Fine bin of a cosine; values outside [-1, 1] land in the first or last bin. Throws on NaN. */
export function fineBinIndex(cos: number): number {
  if (Number.isNaN(cos)) throw new ReconError('fineBinIndex: cosine is NaN');
  let i = Math.floor((cos + 1) * FINE_BINS_PER_UNIT);
  if (i < 0) i = 0;
  if (i > FINE_BIN_COUNT - 1) i = FINE_BIN_COUNT - 1;
  // The multiplication can round across an edge; settle on the exact "e_i <= cos < e_{i+1}" bin.
  while (i > 0 && cos < fineBinEdge(i)) i--;
  while (i < FINE_BIN_COUNT - 1 && cos >= fineBinEdge(i + 1)) i++;
  return i;
}

/** Index k of the fine edge equal to `threshold`, or -1 when the threshold is not a fine edge. */
export function fineEdgeIndex(threshold: number): number {
  const k = Math.round((threshold + 1) * FINE_BINS_PER_UNIT);
  return k >= 0 && k <= FINE_BIN_COUNT && fineBinEdge(k) === threshold ? k : -1;
}

/** Number of observations with cos < threshold; exact because threshold must be a fine edge. */
export function countBelowFromFine(fineHistogram: readonly number[], threshold: number): number {
  const k = fineEdgeIndex(threshold);
  if (k < 0) throw new ReconError(`countBelowFromFine: ${threshold} is not a multiple of 0.01 in [-1, 1]`);
  let total = 0;
  for (let i = 0; i < k; i++) total += fineHistogram[i]!;
  return total;
}

/** The paper histogram implied by a fine histogram (exact, see the module comment). */
export function paperHistogramFromFine(fineHistogram: readonly number[]): number[] {
  const histogram: number[] = [];
  let upper = FINE_BIN_COUNT;
  for (const edge of PAPER_BINS.edges) {
    const lower = fineEdgeIndex(edge);
    histogram.push(sumRange(fineHistogram, lower, upper));
    upper = lower;
  }
  histogram.push(sumRange(fineHistogram, 0, upper));
  return histogram;
}

/** Indices of the paper bins holding cos < threshold, for a threshold among PAPER_BINS.edges. */
export function binsBelow(threshold: number): number[] {
  const j = PAPER_BINS.edges.indexOf(threshold as (typeof PAPER_BINS.edges)[number]);
  if (j < 0) {
    throw new ReconError(`threshold ${threshold} is not a paper bin edge (${PAPER_BINS.edges.join(', ')})`);
  }
  const bins: number[] = [];
  for (let b = j + 1; b < PAPER_BIN_COUNT; b++) bins.push(b);
  return bins;
}

function sumRange(values: readonly number[], from: number, to: number): number {
  let total = 0;
  for (let i = from; i < to; i++) total += values[i]!;
  return total;
}
