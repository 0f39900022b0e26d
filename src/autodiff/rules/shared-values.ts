import type { Emitter } from '../emitter.js';

/**
 * Per-graph memo of values a backward rule derives from forward values only (a re-laid-out
 * activation, an im2col, centred BN inputs). A backward pass is emitted per task, and every task
 * reads the same forward values, so such values are built once and shared by all tasks. Keys name
 * the source value and the derivation; value names are unique in a graph, so a hit is the same
 * tensor. Keyed by the Emitter, which lives exactly as long as one gradient construction.
 */
const derived = new WeakMap<Emitter, Map<string, string>>();

export function sharedValue(e: Emitter, key: string, make: () => string): string {
  let m = derived.get(e);
  if (!m) derived.set(e, (m = new Map()));
  let v = m.get(key);
  if (v === undefined) {
    v = make();
    m.set(key, v);
  }
  return v;
}
