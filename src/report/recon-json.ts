/**
 * The ranking in the format Recon's own code reads and writes (`scripts/cal_conflict_scores.py`
 * writes it; the arch constructors' `conflict_scores_file` + `topK` take its first K keys): one
 * JSON object `{layer name: S-conflict count}` holding every shared layer, in descending count,
 * ties in network order. Layer names are PyTorch module paths, as `recon inspect` names layers.
 */
import { ReconError } from '../util/errors.js';
import type { ConflictReport } from './schema.js';

/** One ranked layer of a Recon-format file, in file order. */
export interface ReconScore {
  name: string;
  score: number;
}

/** Recon's `{layer: count}` JSON for the report's scores at `S` (default: the report's first S). */
export function renderReconScores(report: ConflictReport, S?: number): string {
  const s = S ?? report.settings.S[0]!;
  const index = report.settings.S.indexOf(s);
  if (index < 0) throw new ReconError(`the report has no scores for S=${s} (it has S=${report.settings.S.join(', ')})`);
  // A stable sort of the report's layers (network order) by descending count: ties keep network order.
  const ranked = report.layers.map((l) => ({ name: l.name, score: l.scores[index]!.score })).sort((a, b) => b.score - a.score);
  const lines = ranked.map((r) => `  ${JSON.stringify(r.name)}: ${r.score}`);
  return `{\n${lines.join(',\n')}\n}\n`;
}

/** Whether parsed JSON is a Recon-format ranking (a flat object of non-negative numbers). */
export function isReconScores(json: unknown): json is Record<string, number> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return false;
  const values = Object.values(json);
  return values.length > 0 && values.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0);
}

/**
 * The ranking of a Recon-format file, in the file's key order (which is Recon's rank order).
 * JSON objects lose the order of integer-like keys, so such names are refused.
 */
export function parseReconScores(json: unknown, source: string): ReconScore[] {
  if (!isReconScores(json)) throw new ReconError(`${source}: not a Recon score file ({"layer name": count, ...} with non-negative counts)`);
  const names = Object.keys(json);
  const numeric = names.find((n) => /^(0|[1-9]\d*)$/.test(n));
  if (numeric !== undefined) throw new ReconError(`${source}: layer name "${numeric}" is an integer, whose position a JSON object does not keep`);
  return names.map((name) => ({ name, score: json[name]! }));
}
