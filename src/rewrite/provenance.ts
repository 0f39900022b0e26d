import type { Model } from '../onnx/model.js';

export const PROVENANCE_KEY = 'recon.rewrite';

/**
 * Stores `record` as JSON under `recon.rewrite`. An earlier record moves to the first free
 * `recon.rewrite.<n>` (n = 1, 2, ...), so `recon.rewrite` is always the latest rewrite and the
 * numbered keys are the history, oldest first.
 */
export function recordProvenance(model: Model, record: Record<string, unknown>): void {
  const previous = model.metadataProps.find((e) => e.key === PROVENANCE_KEY);
  if (previous) {
    const taken = new Set(model.metadataProps.map((e) => e.key));
    let n = 1;
    while (taken.has(`${PROVENANCE_KEY}.${n}`)) n++;
    previous.key = `${PROVENANCE_KEY}.${n}`;
  }
  model.metadataProps.push({ key: PROVENANCE_KEY, value: JSON.stringify(record) });
}

/** Every rewrite record of a model, oldest first. */
export function readProvenance(model: Model): Record<string, unknown>[] {
  const numbered = model.metadataProps
    .map((e) => ({ e, m: /^recon\.rewrite\.(\d+)$/.exec(e.key) }))
    .filter((x) => x.m !== null)
    .sort((a, b) => Number(a.m![1]) - Number(b.m![1]))
    .map((x) => x.e.value);
  const latest = model.metadataProps.find((e) => e.key === PROVENANCE_KEY);
  return [...numbered, ...(latest ? [latest.value] : [])].map((v) => JSON.parse(v) as Record<string, unknown>);
}
