import { describe, expect, it } from 'vitest';
import { buildAblationVariants, type AblationLayer, type AblationSelectionInput, type AblationVariant } from '../../src/ablate/selections.js';
import { isReconError } from '../../src/util/errors.js';

// Ten shared layers in network order with distinct costs, and scores that rank them out of order.
const LAYERS: AblationLayer[] = [
  { name: 'L0', addedParams: 100 },
  { name: 'L1', addedParams: 10 },
  { name: 'L2', addedParams: 250 },
  { name: 'L3', addedParams: 40 },
  { name: 'L4', addedParams: 60 },
  { name: 'L5', addedParams: 5 },
  { name: 'L6', addedParams: 300 },
  { name: 'L7', addedParams: 20 },
  { name: 'L8', addedParams: 80 },
  { name: 'L9', addedParams: 30 },
];
const SCORES_A = [5, 9, 1, 7, 7, 2, 8, 0, 3, 6]; // top 3: L1 (9), L6 (8), L3 (7, before L4 by network order)
const SCORES_B = [9, 0, 8, 1, 2, 3, 4, 5, 6, 7]; // top 3: L0, L2, L9
const scoreMap = (s: number[]) => new Map(LAYERS.map((l, i) => [l.name, s[i]!]));
const BASE_PARAMS = 10_000;

function input(over: Partial<AblationSelectionInput> = {}): AblationSelectionInput {
  return {
    layers: LAYERS,
    baseParams: BASE_PARAMS,
    scores: new Map([[-0.02, scoreMap(SCORES_A)]]),
    budgets: [{ kind: 'top-k', k: 3 }],
    controls: ['rsl', 'rsp', 'first', 'last'],
    selectionSeed: 0,
    ...over,
  };
}

const find = (vs: AblationVariant[], id: string): AblationVariant => {
  const v = vs.find((x) => x.id === id);
  if (!v) throw new Error(`no variant ${id} in ${vs.map((x) => x.id).join(', ')}`);
  return v;
};
const cost = (names: string[]): number => names.reduce((n, name) => n + LAYERS.find((l) => l.name === name)!.addedParams, 0);
const networkIndex = (name: string): number => Number(name.slice(1));

describe('ablation selections', () => {
  it('top-K: Recon takes the K best scores (ties in network order); first/last are the network ends', () => {
    const vs = buildAblationVariants(input());
    expect(vs.map((v) => v.id)).toEqual(['joint', 'recon-k3', 'rsl-k3', 'rsp-k3', 'first-k3', 'last-k3']);
    expect(find(vs, 'joint').layers).toEqual([]);
    expect(find(vs, 'recon-k3').layers).toEqual(['L1', 'L6', 'L3']);
    expect(find(vs, 'recon-k3').addedParams).toBe(10 + 300 + 40);
    expect(find(vs, 'first-k3').layers).toEqual(['L0', 'L1', 'L2']);
    expect(find(vs, 'last-k3').layers).toEqual(['L7', 'L8', 'L9']);
    for (const v of vs) expect(v.addedParams, v.id).toBe(cost(v.layers));
  });

  it('RSL: K distinct shared layers, not Recon’s, in network order, reproducible, and the seed changes the draw', () => {
    const draws = [0, 1, 2, 3, 4].map((selectionSeed) => find(buildAblationVariants(input({ selectionSeed })), 'rsl-k3').layers);
    for (const layers of draws) {
      expect(layers).toHaveLength(3);
      expect(new Set(layers).size).toBe(3);
      for (const l of layers) expect(LAYERS.map((x) => x.name)).toContain(l);
      expect([...layers].sort()).not.toEqual(['L1', 'L3', 'L6']);
      expect(layers.map(networkIndex)).toEqual([...layers.map(networkIndex)].sort((a, b) => a - b));
    }
    expect(find(buildAblationVariants(input({ selectionSeed: 0 })), 'rsl-k3').layers).toEqual(draws[0]);
    expect(new Set(draws.map((d) => d.join())).size).toBeGreaterThan(1);
  });

  it('RSP: within Recon’s parameter cost, close to it, different from Recon’s layers', () => {
    for (const selectionSeed of [0, 1, 2, 3]) {
      const vs = buildAblationVariants(input({ selectionSeed }));
      const target = cost(['L1', 'L6', 'L3']); // 350
      const rsp = find(vs, 'rsp-k3');
      expect(cost(rsp.layers)).toBe(rsp.addedParams);
      expect(rsp.addedParams).toBeLessThanOrEqual(target);
      // 64 random greedy fills of 10 layers reach within 10 % of 350 (e.g. 300 + 40 + 10).
      expect(rsp.addedParams).toBeGreaterThanOrEqual(0.9 * target);
      expect(rsp.note).toBeUndefined();
      expect([...rsp.layers].sort()).not.toEqual(['L1', 'L3', 'L6']);
    }
  });

  it('parameter budget: Recon greedy in score order within the budget; RSP within the budget; RSL/first/last take Recon’s count', () => {
    // 2% of 10,000 = 200 added parameters. Score order A with costs: L1 10 → 10, L6 300 (no), L3 40 → 50,
    // L4 60 → 110, L9 30 → 140, L0 100 (no), L8 80 (no), L5 5 → 145, L2 250 (no), L7 20 → 165.
    const vs = buildAblationVariants(input({ budgets: [{ kind: 'params', amount: 2, unit: 'percent' }] }));
    const ranked = LAYERS.map((l, i) => ({ ...l, score: SCORES_A[i]!, i })).sort((a, b) => b.score - a.score || a.i - b.i);
    const expected: string[] = [];
    let total = 0;
    for (const l of ranked) {
      if (total + l.addedParams <= 200) {
        expected.push(l.name);
        total += l.addedParams;
      }
    }
    const recon = find(vs, 'recon-p2pct');
    expect(expected).toEqual(['L1', 'L3', 'L4', 'L9', 'L5', 'L7']);
    expect(recon.layers).toEqual(expected);
    expect(recon.addedParams).toBe(165);
    expect(recon.addedParams).toBe(total);
    const K = expected.length;
    expect(find(vs, 'rsl-p2pct').layers).toHaveLength(K);
    expect(find(vs, 'first-p2pct').layers).toEqual(LAYERS.slice(0, K).map((l) => l.name));
    expect(find(vs, 'last-p2pct').layers).toEqual(LAYERS.slice(10 - K).map((l) => l.name));
    expect(find(vs, 'rsp-p2pct').addedParams).toBeLessThanOrEqual(200);
    // An absolute budget of the same size gives the same Recon selection.
    expect(find(buildAblationVariants(input({ budgets: [{ kind: 'params', amount: 200, unit: 'params' }] })), 'recon-p200').layers).toEqual(expected);
  });

  it('a sweep over K and S: Recon and RSP per (K, S), count-only controls once per K', () => {
    const vs = buildAblationVariants(
      input({
        scores: new Map([
          [0, scoreMap(SCORES_A)],
          [-0.1, scoreMap(SCORES_B)],
        ]),
        budgets: [
          { kind: 'top-k', k: 1 },
          { kind: 'top-k', k: 3 },
        ],
        controls: ['rsl', 'rsp', 'last'],
      }),
    );
    expect(vs.map((v) => v.id)).toEqual([
      'joint',
      'recon-k1-S0',
      'rsl-k1',
      'rsp-k1-S0',
      'last-k1',
      'recon-k1-S-0.1',
      'rsp-k1-S-0.1',
      'recon-k3-S0',
      'rsl-k3',
      'rsp-k3-S0',
      'last-k3',
      'recon-k3-S-0.1',
      'rsp-k3-S-0.1',
    ]);
    expect(find(vs, 'recon-k3-S-0.1').layers).toEqual(['L0', 'L2', 'L9']);
    expect(find(vs, 'recon-k3-S-0.1').S).toBe(-0.1);
    expect(find(vs, 'rsp-k3-S-0.1').addedParams).toBeLessThanOrEqual(100 + 250 + 30);
  });

  it('refuses a K that leaves no shared layer, and an empty budget', () => {
    const cases: [Partial<AblationSelectionInput>, RegExp][] = [
      [{ budgets: [{ kind: 'top-k', k: 10 }] }, /from 1 to 9/],
      [{ budgets: [{ kind: 'top-k', k: 0 }] }, /from 1 to 9/],
      [{ budgets: [{ kind: 'params', amount: 100, unit: 'percent' }] }, /selects all 10 shared layers/],
      [{ budgets: [{ kind: 'params', amount: 1, unit: 'params' }] }, /no layer fits/],
      [{ layers: LAYERS.slice(0, 1) }, /at least two shared layers/],
    ];
    for (const [over, message] of cases) {
      let error: unknown;
      try {
        buildAblationVariants(input(over));
      } catch (e) {
        error = e;
      }
      expect(isReconError(error), String(message)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });
});
