import type { Random } from '../../src/util/random.js';

/**
 * The layers a conformance rewrite branches: the first shared layer (so everything downstream is
 * per task) plus up to two more drawn at random. scripts/corpus/check_rewritten.py mirrors the
 * selection through `recon rewrite --layers`, so both check the same rewrites.
 */
export function corpusSelection(shared: readonly string[], rng: Random): string[] {
  if (shared.length === 0) return [];
  const chosen = new Set([shared[0]!]);
  for (let k = 0; k < 2 && shared.length > 1; k++) chosen.add(shared[1 + rng.int(shared.length - 1)]!);
  return [...chosen];
}
