import { readFileSync, statSync } from 'node:fs';
import { ReconError } from '../util/errors.js';
import { closestNames } from './edit-distance.js';

/** A layer as ranked by conflict score. */
export interface RankedLayer {
  name: string;
  score: number;
  /** Parameter elements of the layer. */
  params: number;
  macsIfBranched?: number;
  /** Tasks the layer reaches; layers reaching fewer than two are not shared and never selected. */
  tasks?: number;
}

export type SelectionRule = { topK: number } | { maxParamIncreasePct: number } | { maxMacIncreasePct: number };

export interface SelectionCost {
  paramIncreasePct: number;
  macIncreasePct: number;
}

/** Cost of branching exactly these layers, relative to the unmodified model. */
export type SelectionCostFn = (layers: string[]) => SelectionCost;

export interface LayerSelection {
  /** Selected layer names, in score order. */
  layers: string[];
  /** Budget rules: layers that would have broken the budget, in score order. */
  rejected: string[];
  /** Budget rules: the cost of the final selection. */
  cost?: SelectionCost;
}

/** Layers sorted by descending score; ties keep their given order (Recon's stable sort). */
export function rankByScore<L extends { score: number }>(layers: readonly L[]): L[] {
  return layers
    .map((l, i) => ({ l, i }))
    .sort((a, b) => b.l.score - a.l.score || a.i - b.i)
    .map((x) => x.l);
}

/**
 * Chooses layers in descending score order: the top K, or greedily every layer that still keeps
 * the total increase within the budget (a layer that does not fit is passed over and later,
 * cheaper ones are still tried). Budget rules need `cost`.
 */
export function selectLayers(ranked: readonly RankedLayer[], rule: SelectionRule, cost?: SelectionCostFn): LayerSelection {
  const candidates = rankByScore(ranked.filter((l) => (l.tasks ?? 2) >= 2));
  if (candidates.length === 0) throw new ReconError('no shared layer to select from');
  if ('topK' in rule) {
    if (!Number.isInteger(rule.topK) || rule.topK < 1) throw new ReconError(`top-K must be a positive integer, got ${rule.topK}`);
    return { layers: candidates.slice(0, rule.topK).map((l) => l.name), rejected: [] };
  }
  if (!cost) throw new ReconError('selectLayers: a budget rule needs a cost function');
  const byParams = 'maxParamIncreasePct' in rule;
  const budget = byParams ? rule.maxParamIncreasePct : rule.maxMacIncreasePct;
  const metric = (c: SelectionCost): number => (byParams ? c.paramIncreasePct : c.macIncreasePct);
  const label = byParams ? 'parameter' : 'MAC';
  if (!(budget >= 0)) throw new ReconError(`the ${label} budget must be a non-negative percentage, got ${budget}`);
  const layers: string[] = [];
  const rejected: string[] = [];
  let current: SelectionCost | undefined;
  let cheapest: { name: string; pct: number } | undefined;
  for (const l of candidates) {
    const c = cost([...layers, l.name]);
    // Percentages are computed in floating point; do not reject a layer for rounding noise.
    if (metric(c) <= budget + 1e-9) {
      layers.push(l.name);
      current = c;
    } else {
      rejected.push(l.name);
      if (layers.length === 0 && (!cheapest || metric(c) < cheapest.pct)) cheapest = { name: l.name, pct: metric(c) };
    }
  }
  if (layers.length === 0) {
    const hint = cheapest ? `; the cheapest, "${cheapest.name}", adds ${cheapest.pct.toFixed(3)}%` : '';
    throw new ReconError(`no layer fits a ${label} budget of ${budget}%${hint}`);
  }
  return { layers, rejected, cost: current! };
}

/**
 * Checks requested layer names against the layers that exist: unknown names fail with the
 * closest existing names, task-specific ones fail as not shared. Duplicates are dropped.
 */
export function resolveLayerNames(requested: readonly string[], available: readonly string[], options: { taskSpecific?: Iterable<string> } = {}): string[] {
  if (requested.length === 0) throw new ReconError('empty layer selection');
  const known = new Set(available);
  const unknown = requested.filter((r) => !known.has(r));
  if (unknown.length > 0) {
    const parts = [...new Set(unknown)].map((u) => {
      const near = closestNames(u, available);
      return near.length > 0 ? `"${u}" (closest: ${near.join(', ')})` : `"${u}"`;
    });
    throw new ReconError(`unknown layer${parts.length > 1 ? 's' : ''}: ${parts.join('; ')}`);
  }
  const specific = new Set(options.taskSpecific ?? []);
  const notShared = requested.filter((r) => specific.has(r));
  if (notShared.length > 0) {
    throw new ReconError(`not shared (already task-specific): ${[...new Set(notShared)].join(', ')}`);
  }
  return [...new Set(requested)];
}

/** A layer-list file: a regular file of at most 1 MiB (not a pipe or a device that never ends). */
function readLayerListFile(path: string): string {
  const s = statSync(path);
  if (!s.isFile()) throw new ReconError(`layer list ${path} is not a regular file`);
  if (s.size > 1 << 20) throw new ReconError(`layer list ${path} has ${s.size} bytes; a list of layer names is far smaller`);
  return readFileSync(path, 'utf8');
}

/**
 * Layer names from `a,b,c` or `@file` (names separated by commas or newlines; `#` starts a
 * comment). An empty list is an error.
 */
export function parseLayerList(spec: string, readFile: (path: string) => string = readLayerListFile): string[] {
  let text = spec;
  if (spec.startsWith('@')) {
    const path = spec.slice(1);
    try {
      text = readFile(path);
    } catch (e) {
      if (e instanceof ReconError) throw e;
      throw new ReconError(`cannot read layer list ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  }
  const names = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .flatMap((line) => line.split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new ReconError(`empty layer list${spec.startsWith('@') ? ` in ${spec.slice(1)}` : ''}`);
  return names;
}
