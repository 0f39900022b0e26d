/**
 * Choosing the layers to branch, the one implementation `rewrite` and `run` share: explicit names
 * (a list or a file), or a ranking (a conflict report at one S, or Recon's own `{layer: count}`)
 * cut by a rule (top-K, a parameter budget or a MAC budget).
 */
import { readFileSync } from 'node:fs';
import { printable, ReconError } from '../util/errors.js';
import type { Model } from '../onnx/model.js';
import type { ModelAnalysis } from '../analysis/analyze.js';
import { CostModel } from '../rewrite/recon.js';
import { parseLayerList, selectLayers, type SelectionRule } from '../rewrite/select.js';
import { readConflictReport } from '../report/io.js';
import { isReconScores, parseReconScores } from '../report/recon-json.js';

/** A rule as the user gives it: exactly one of these (or none, when `defaultTopK` is set). */
export interface SelectionRequest {
  topK?: string | number;
  /** A percentage, `5` or `5%`. */
  maxParamIncrease?: string | number;
  maxFlopIncrease?: string | number;
}

export function selectionRule(request: SelectionRequest, defaultTopK?: number): SelectionRule {
  const { topK, maxParamIncrease, maxFlopIncrease } = request;
  const given = [topK, maxParamIncrease, maxFlopIncrease].filter((v) => v !== undefined).length;
  if (given === 0 && defaultTopK !== undefined) return { topK: defaultTopK };
  if (given !== 1) throw new ReconError('give exactly one of --top-k K, --max-param-increase P%, --max-flop-increase P%');
  const pct = (v: string | number, flag: string): number => {
    const n = Number(String(v).replace(/%$/, ''));
    if (!Number.isFinite(n) || n < 0) throw new ReconError(`${flag} must be a percentage like 5%, got "${v}"`);
    return n;
  };
  if (topK !== undefined) {
    const k = Number(topK);
    if (!Number.isInteger(k) || k < 1) throw new ReconError(`--top-k must be a positive integer, got "${topK}"`);
    return { topK: k };
  }
  if (maxParamIncrease !== undefined) return { maxParamIncreasePct: pct(maxParamIncrease, '--max-param-increase') };
  return { maxMacIncreasePct: pct(maxFlopIncrease!, '--max-flop-increase') };
}

/** Layer scores, best first as the file ranks them, and the S they were taken at (none for Recon's format). */
export interface Ranking {
  source: string;
  scored: { name: string; score: number }[];
  S: number | undefined;
}

/**
 * Layer scores from a conflict report (at `S`, default its first S) or from a ranking in Recon's
 * own `{layer: count}` format (no S: the file holds one ranking).
 */
export function readRanking(path: string, S?: number): Ranking {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ReconError(`${path}: cannot read scores: ${printable((error as Error).message.split('\n')[0] ?? '')}`);
  }
  if (isReconScores(json)) {
    if (S !== undefined) throw new ReconError(`--S does not apply to ${path}: a Recon score file holds one ranking`);
    return { source: path, scored: parseReconScores(json, path), S: undefined };
  }
  const report = readConflictReport(path);
  const at = S ?? report.settings.S[0]!;
  const sIndex = report.settings.S.indexOf(at);
  if (sIndex < 0) throw new ReconError(`the report has no scores for S=${at} (it has S=${report.settings.S.join(', ')})`);
  return { source: path, scored: report.layers.map((l) => ({ name: l.name, score: l.scores[sIndex]!.score })), S: at };
}

export interface LayerChoice {
  layers: string[];
  /** What the rewrite records in the model's metadata about this choice. */
  provenance: Record<string, unknown>;
}

/** Explicit layer names (`a,b` or `@file`): every name must be a layer of the model; a file's lines are never echoed. */
export function chooseNamedLayers(analysis: ModelAnalysis, spec: string): LayerChoice {
  const layers = parseLayerList(spec);
  if (spec.startsWith('@')) {
    const known = new Set(analysis.layers.map((l) => l.name));
    const unknown = layers.filter((n) => !known.has(n));
    if (unknown.length > 0) {
      throw new ReconError(`layer list ${spec.slice(1)}: ${unknown.length} of ${layers.length} names are not layers of this model (recon inspect lists them)`);
    }
  }
  return { layers, provenance: { selection: { rule: 'explicit', layers } } };
}

/**
 * The ranked layers that exist in the model, cut by the rule (budgets priced by the cost model).
 * A ranking none of whose layers exist (made on another architecture) is an error.
 */
export async function chooseRankedLayers(model: Model, analysis: ModelAnalysis, ranking: Ranking, rule: SelectionRule): Promise<LayerChoice> {
  const known = new Map(analysis.layers.map((l) => [l.name, l]));
  const missing = ranking.scored.filter((l) => !known.has(l.name)).map((l) => l.name);
  if (missing.length === ranking.scored.length) {
    throw new ReconError(`none of the ranked layers of ${ranking.source} exist in this model (e.g. "${missing[0]}"); was it made on another architecture?`);
  }
  const ranked = ranking.scored
    .filter((l) => known.has(l.name))
    .map((l) => ({ name: l.name, score: l.score, params: known.get(l.name)!.numel, tasks: known.get(l.name)!.tasks.length }));
  const costModel = await CostModel.create(model, analysis);
  const selection = selectLayers(ranked, rule, (names) => costModel.cost(names));
  return {
    layers: selection.layers,
    provenance: {
      selection: {
        rule,
        S: ranking.S,
        report: ranking.source,
        layers: selection.layers.map((n) => ({ name: n, score: ranked.find((r) => r.name === n)!.score })),
      },
    },
  };
}
