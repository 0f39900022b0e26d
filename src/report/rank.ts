/**
 * Ranks 1..n by descending score. Ties keep input (network) order, as Recon's stable descending
 * sort does, so every layer gets a distinct rank and rank 1 is the most conflicting layer.
 */
export function rankScores(scores: readonly number[]): number[] {
  const order = scores.map((_, i) => i);
  // Array.prototype.sort is stable (ES2019), and the index tie-break makes that explicit.
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  const ranks = new Array<number>(scores.length);
  order.forEach((layer, position) => {
    ranks[layer] = position + 1;
  });
  return ranks;
}

/** Indices sorted by ascending rank (the inverse permutation of `ranks`). */
export function orderByRank(ranks: readonly number[]): number[] {
  const order = new Array<number>(ranks.length);
  ranks.forEach((rank, i) => {
    order[rank - 1] = i;
  });
  return order;
}
