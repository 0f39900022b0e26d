/**
 * The layer selections of Recon's ablation (paper Tables 7 and 11, Fig. 3): Recon's own choice
 * (the top layers by S-conflict score, or greedily within a parameter budget) and the controls that
 * test whether the choice matters: random layers of the same count (RSL), random layers of about
 * the same parameter cost (RSP), and the first or last K shared layers in network order.
 */
import { ReconError } from '../util/errors.js';
import { selectLayers } from '../rewrite/select.js';
import { Random } from '../util/random.js';

export const CONTROL_KINDS = ['rsl', 'rsp', 'first', 'last'] as const;
export type ControlKind = (typeof CONTROL_KINDS)[number];
export type VariantKind = 'joint' | 'recon' | ControlKind;

/** How many layers Recon may branch: the top K, or the best-scoring ones whose copies add at most so many parameters. */
export type AblationBudget =
  | { kind: 'top-k'; k: number }
  /** At most `amount` added parameters, or `amount` percent of the unrewritten model's parameters. */
  | { kind: 'params'; amount: number; unit: 'params' | 'percent' };

/** A shared layer (network order) and the parameters its per-task copies add. */
export interface AblationLayer {
  name: string;
  /** (tasks reached − 1) × parameter elements: what branching it adds to the model. */
  addedParams: number;
}

/** One model to train: the unrewritten model (joint training), Recon's selection or a control. */
export interface AblationVariant {
  /** Unique and file-name safe: joint, recon-k3, rsl-k3, rsp-p5pct-S-0.02, ... */
  id: string;
  kind: VariantKind;
  /** "k=3" or "params<=5%"; empty for joint. */
  budget: string;
  /** The S whose ranking chose the layers (Recon, and controls sized after Recon's choice); null otherwise. */
  S: number | null;
  /** Branched layers: Recon's in score order, the controls' in network order. */
  layers: string[];
  addedParams: number;
  /** Set when a control could not meet its definition exactly (e.g. RSP's closest cost). */
  note?: string;
}

export interface AblationSelectionInput {
  /** Shared layers of the model, in network order. */
  layers: readonly AblationLayer[];
  /** Trainable parameters of the unrewritten model (percent budgets are relative to it). */
  baseParams: number;
  /** Layer scores (name → S-conflict score) at each S to select with. */
  scores: ReadonlyMap<number, ReadonlyMap<string, number>>;
  budgets: readonly AblationBudget[];
  controls: readonly ControlKind[];
  /** Seeds the random controls (fixed across training seeds, so seeds vary the training only). */
  selectionSeed: number;
}

/** Random draws tried per control; the best draw (closest cost, differing from Recon's) is kept. */
const DRAWS = 64;

/**
 * Every variant of the ablation, joint first, then per budget and S Recon's selection followed by
 * the requested controls. Variants that would be identical by definition (RSL for a top-K budget
 * does not depend on S) appear once. Each variant must leave at least one layer shared, because
 * the training records conflicts in the remaining shared layers. `warn` hears every inexact control.
 */
export function buildAblationVariants(input: AblationSelectionInput, warn: (message: string) => void = () => {}): AblationVariant[] {
  const L = input.layers.length;
  if (L < 2) throw new ReconError(`an ablation needs at least two shared layers (the model has ${L})`);
  const byName = new Map(input.layers.map((l) => [l.name, l]));
  const sValues = [...input.scores.keys()];
  const severalS = sValues.length > 1;
  const variants: AblationVariant[] = [{ id: 'joint', kind: 'joint', budget: '', S: null, layers: [], addedParams: 0 }];
  const seen = new Set(['joint']);
  const add = (v: AblationVariant): void => {
    if (seen.has(v.id)) return;
    seen.add(v.id);
    variants.push(v);
  };
  const added = (names: readonly string[]): number => names.reduce((n, name) => n + byName.get(name)!.addedParams, 0);
  const networkOrder = (names: Iterable<string>): string[] => {
    const set = new Set(names);
    return input.layers.filter((l) => set.has(l.name)).map((l) => l.name);
  };

  for (const budget of input.budgets) {
    const budgetText = budget.kind === 'top-k' ? `k=${budget.k}` : `params<=${budget.amount}${budget.unit === 'percent' ? '%' : ''}`;
    const budgetId = budget.kind === 'top-k' ? `k${budget.k}` : `p${budget.amount}${budget.unit === 'percent' ? 'pct' : ''}`;
    if (budget.kind === 'params' && !(budget.amount > 0 && Number.isFinite(budget.amount))) {
      throw new ReconError(`a parameter budget must be a positive number, got ${budget.amount}`);
    }
    const maxAdded = budget.kind === 'top-k' ? 0 : budget.unit === 'percent' ? (budget.amount * input.baseParams) / 100 : budget.amount;
    if (budget.kind === 'top-k' && (!Number.isInteger(budget.k) || budget.k < 1 || budget.k >= L)) {
      throw new ReconError(`top-K ${budget.k} must be an integer from 1 to ${L - 1}: training needs at least one of the ${L} shared layers left shared`);
    }
    for (const S of sValues) {
      const scores = input.scores.get(S)!;
      const sSuffix = severalS ? `-S${S}` : '';
      const ranked = input.layers.map((l) => ({ name: l.name, score: scores.get(l.name) ?? 0, params: l.addedParams }));
      const recon =
        budget.kind === 'top-k'
          ? selectLayers(ranked, { topK: budget.k }).layers
          : selectLayers(ranked, { maxParamIncreasePct: (100 * maxAdded) / input.baseParams }, (names) => ({
              paramIncreasePct: (100 * added(names)) / input.baseParams,
              macIncreasePct: 0,
            })).layers;
      if (recon.length >= L) {
        throw new ReconError(`the budget ${budgetText} selects all ${L} shared layers at S=${S}; training needs at least one left shared: lower the budget`);
      }
      const reconAdded = added(recon);
      add({ id: `recon-${budgetId}${sSuffix}`, kind: 'recon', budget: budgetText, S, layers: recon, addedParams: reconAdded });
      const K = recon.length;
      const reconKey = networkOrder(recon).join('\n');
      // Controls sized by count depend on S only when the count does (parameter budgets).
      const countSuffix = budget.kind === 'top-k' ? '' : sSuffix;
      const countS = budget.kind === 'top-k' ? null : S;
      // RSP matches Recon's cost for top-K, the budget itself for parameter budgets.
      const rspTarget = budget.kind === 'top-k' ? reconAdded : maxAdded;
      const rspSuffix = budget.kind === 'top-k' ? sSuffix : '';
      for (const control of input.controls) {
        const idBase = `${control}-${budgetId}`;
        if (control === 'first' || control === 'last') {
          const layers = control === 'first' ? input.layers.slice(0, K) : input.layers.slice(L - K);
          const names = layers.map((l) => l.name);
          add({ id: `${idBase}${countSuffix}`, kind: control, budget: budgetText, S: countS, layers: names, addedParams: added(names) });
        } else if (control === 'rsl') {
          const id = `${idBase}${countSuffix}`;
          if (seen.has(id)) continue;
          const rng = new Random(seedFor(input.selectionSeed, id));
          let names: string[] = [];
          for (let draw = 0; draw < DRAWS; draw++) {
            names = networkOrder([...rng.permutation(L).subarray(0, K)].map((i) => input.layers[i]!.name));
            if (names.join('\n') !== reconKey) break;
          }
          const note = names.join('\n') === reconKey ? `every one of ${DRAWS} random draws of ${K} layers equals Recon's selection` : undefined;
          if (note) warn(`${id}: ${note}`);
          add({ id, kind: 'rsl', budget: budgetText, S: countS, layers: names, addedParams: added(names), ...(note ? { note } : {}) });
        } else {
          const id = `${idBase}${rspSuffix}`;
          if (seen.has(id)) continue;
          const rng = new Random(seedFor(input.selectionSeed, id));
          let best: { names: string[]; cost: number; differs: boolean } | undefined;
          for (let draw = 0; draw < DRAWS; draw++) {
            // Layers in random order, each taken while the total stays within the target.
            const picked: string[] = [];
            let cost = 0;
            for (const i of rng.permutation(L)) {
              const l = input.layers[i]!;
              if (cost + l.addedParams <= rspTarget && picked.length < L - 1) {
                picked.push(l.name);
                cost += l.addedParams;
              }
            }
            if (picked.length === 0) continue;
            const names = networkOrder(picked);
            const differs = names.join('\n') !== reconKey;
            const better = !best || (differs && !best.differs) || (differs === best.differs && cost > best.cost);
            if (better) best = { names, cost, differs };
          }
          if (!best) throw new ReconError(`${id}: no shared layer fits a parameter budget of ${rspTarget}`);
          const notes: string[] = [];
          if (!best.differs) notes.push(`every one of ${DRAWS} random draws equals Recon's selection`);
          const gap = rspTarget > 0 ? (100 * (rspTarget - best.cost)) / rspTarget : 0;
          if (gap > 10)
            notes.push(`the closest of ${DRAWS} random draws adds ${best.cost} parameters, ${gap.toFixed(1)}% below the target ${Math.round(rspTarget)}`);
          const note = notes.join('; ') || undefined;
          if (note) warn(`${id}: ${note}`);
          add({
            id,
            kind: 'rsp',
            budget: budgetText,
            S: budget.kind === 'top-k' ? S : null,
            layers: best.names,
            addedParams: best.cost,
            ...(note ? { note } : {}),
          });
        }
      }
    }
  }
  return variants;
}

/** A seed per control so adding or removing other variants does not change its draw. */
function seedFor(selectionSeed: number, id: string): number {
  let h = 2166136261 ^ (selectionSeed >>> 0);
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}
