import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createMethod,
  METHOD_NAMES,
  METHOD_SPECS,
  parseMethodOptions,
  resolveMethodOptions,
  type MethodInstance,
  type MethodName,
  type MethodRandom,
  type MethodState,
} from '../../src/conflict/method-registry.js';
import { createOptimizer } from '../../src/conflict/optimizer.js';
import { Random } from '../../src/util/random.js';

// Fixtures from scripts/methods/make_method_fixtures.py: an independent Python/torch
// implementation of every method on explicit gradient VECTORS. Here each step's Grams are formed
// from those vectors, the registry computes coefficients from the Grams alone, and the update
// Σ_i w_i g_i (per layer group when the method returns per-group weights) must match the
// reference update vector.

interface Step {
  epoch: number;
  grads: number[][];
  losses: number[];
  lossesAfter?: number[];
  permutations?: number[][];
  normals?: number[];
  expected: { update: number[]; taskSpecific: number[] };
}
interface Case {
  name: string;
  T: number;
  layers: number[];
  options: Record<string, number | string>;
  sgdLr?: number;
  steps: Step[];
}
interface Fixture {
  method: MethodName;
  cases: Case[];
}

const dir = join(import.meta.dirname, '..', 'fixtures', 'methods');
const load = (m: MethodName): Fixture => JSON.parse(readFileSync(join(dir, `${m}.json`), 'utf8')) as Fixture;

/**
 * Relative tolerance per method, on max|Δ| / max(‖expected‖, ‖actual‖, max_i ‖g_i‖):
 * - closed forms and exact finite algorithms on float64 (EW, DWA, RLW, GLS, PCGrad, IMTL-G,
 *   Aligned-MTL's eigen-decomposition vs the reference's SVD, GradVac's projections, the exact
 *   active-set QP of UPGrad / DualProj vs face enumeration, FAMO's float64 Adam): 1e-9;
 * - float32 learned scalars (UW's log-variances, GradNorm's weights) stepped by float32 SGD on
 *   both sides, whose rounding may differ by an ulp per step: 1e-6;
 * - iterative solvers stopped on a tolerance (MGDA's and CAGrad's Frank–Wolfe gap 1e-12·max|G|
 *   bounds the update error by ~1e-6 relative; Nash-MTL / FairGrad Newton vs the reference's
 *   Newton, converged to ~1e-14 but the brief's bound for iterative solvers): 1e-6.
 */
const TOLERANCE: Record<MethodName, number> = {
  ew: 1e-9,
  uw: 1e-6,
  dwa: 1e-9,
  rlw: 1e-9,
  gls: 1e-9,
  famo: 1e-9,
  gradnorm: 1e-6,
  mgda: 1e-6,
  pcgrad: 1e-9,
  cagrad: 1e-6,
  'imtl-g': 1e-9,
  'nash-mtl': 1e-6,
  'aligned-mtl': 1e-9,
  upgrad: 1e-9,
  dualproj: 1e-9,
  gradvac: 1e-9,
  fairgrad: 1e-6,
};

const norm = (v: ArrayLike<number>): number => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

/** Replays the random draws recorded in the fixture. */
function replay(step: Step): MethodRandom {
  const perms = [...(step.permutations ?? [])];
  const normals = [...(step.normals ?? [])];
  return {
    permutation: (n) => {
      const p = perms.shift();
      if (!p || p.length !== n) throw new Error(`fixture has no permutation of ${n}`);
      return Int32Array.from(p);
    },
    normal: () => {
      const x = normals.shift();
      if (x === undefined) throw new Error('fixture has no more normal samples');
      return x;
    },
  };
}

function layerBounds(sizes: number[]): [number, number][] {
  const out: [number, number][] = [];
  let lo = 0;
  for (const s of sizes) {
    out.push([lo, lo + s]);
    lo += s;
  }
  return out;
}

function gram(grads: number[][], lo: number, hi: number): Float64Array {
  const T = grads.length;
  const G = new Float64Array(T * T);
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      let s = 0;
      for (let k = lo; k < hi; k++) s += grads[i]![k]! * grads[j]![k]!;
      G[i * T + j] = s;
    }
  }
  return G;
}

interface StepOutcome {
  update: Float64Array;
  taskSpecific: Float64Array;
}

/** Runs one case through a method instance, driving learned scalars with float32 SGD and `afterUpdate`. */
function runCase(method: MethodName, c: Case, interruptAt?: number): StepOutcome[] {
  const bounds = layerBounds(c.layers);
  const groups = c.layers.map((_, k) => `layer${k}`);
  let inst: MethodInstance = createMethod(method, { tasks: c.T, groups }, c.options);
  const optimizer = c.sgdLr !== undefined ? createOptimizer({ kind: 'sgd', lr: c.sgdLr }) : undefined;
  const outcomes: StepOutcome[] = [];
  c.steps.forEach((step, s) => {
    if (s === interruptAt) {
      // Resume: a fresh instance loaded from the JSON-serialised state (as the scan checkpoint).
      const state = JSON.parse(JSON.stringify(inst.state())) as MethodState;
      const learnedState = optimizer?.state();
      inst = createMethod(method, { tasks: c.T, groups }, c.options);
      inst.load(state);
      if (learnedState) optimizer!.load(learnedState);
    }
    const d = step.grads[0]!.length;
    const out = inst.step({
      step: s,
      epoch: step.epoch,
      losses: step.losses,
      gram: gram(step.grads, 0, d),
      groupGrams: bounds.map(([lo, hi]) => gram(step.grads, lo, hi)),
      rng: replay(step),
    });
    const update = new Float64Array(d);
    bounds.forEach(([lo, hi], k) => {
      const w = out.perGroup?.[k] ?? out.shared;
      for (let i = 0; i < c.T; i++) for (let x = lo; x < hi; x++) update[x]! += w[i]! * step.grads[i]![x]!;
    });
    outcomes.push({ update, taskSpecific: out.taskSpecific.slice() });
    if (inst.learned && out.learnedGradient) {
      optimizer!.step(new Map([['learned', inst.learned]]), new Map([['learned', out.learnedGradient]]), c.sgdLr!);
    }
    inst.afterUpdate?.(step.lossesAfter);
  });
  return outcomes;
}

describe('method fixtures (independent Python/torch implementation on gradient vectors)', () => {
  for (const method of METHOD_NAMES) {
    describe(method, () => {
      const fixture = load(method);
      it('fixture covers T = 2, 3, 5 and the degenerate cases', () => {
        expect(fixture.method).toBe(method);
        const Ts = new Set(fixture.cases.map((c) => c.T));
        if (!['uw', 'dwa', 'famo', 'gradnorm'].includes(method)) {
          for (const T of [2, 3, 5]) expect(Ts.has(T)).toBe(true);
        }
      });
      for (const c of fixture.cases) {
        it(`${c.name} (${c.steps.length} step${c.steps.length > 1 ? 's' : ''})`, () => {
          const outcomes = runCase(method, c);
          c.steps.forEach((step, s) => {
            const got = outcomes[s]!;
            const scale = Math.max(norm(step.expected.update), norm(got.update), ...step.grads.map(norm), 1e-300);
            let err = 0;
            step.expected.update.forEach((x, k) => (err = Math.max(err, Math.abs(x - got.update[k]!))));
            expect(err / scale, `step ${s}: update`).toBeLessThanOrEqual(TOLERANCE[method]);
            const hScale = Math.max(norm(step.expected.taskSpecific), 1);
            step.expected.taskSpecific.forEach((x, i) =>
              expect(Math.abs(x - got.taskSpecific[i]!) / hScale, `step ${s}: task-specific weight ${i}`).toBeLessThanOrEqual(TOLERANCE[method]),
            );
          });
          // Saving the state half-way and loading it into a fresh instance changes nothing.
          if (c.steps.length > 1) {
            const resumed = runCase(method, c, Math.floor(c.steps.length / 2));
            resumed.forEach((o, s) => {
              expect(Array.from(o.update)).toEqual(Array.from(outcomes[s]!.update));
              expect(Array.from(o.taskSpecific)).toEqual(Array.from(outcomes[s]!.taskSpecific));
            });
          }
        });
      }
    });
  }
});

describe('method registry', () => {
  it('has one entry per report method name, each with a source and typed defaults', () => {
    expect([...METHOD_SPECS.keys()].sort()).toEqual([...METHOD_NAMES].sort());
    for (const spec of METHOD_SPECS.values()) {
      expect(spec.source.length).toBeGreaterThan(0);
      for (const o of spec.options) {
        if (o.default === undefined) continue;
        expect(resolveMethodOptions(spec.name)[o.name]).toBe(o.default);
      }
    }
  });

  it('validates options with one-line messages', () => {
    expect(() => parseMethodOptions('gradnorm', { alpha: 'x' })).toThrow(/^--method-opt alpha must be a number for gradnorm, got "x"$/);
    expect(() => parseMethodOptions('gradnorm', { beta: '1' })).toThrow(/gradnorm has no option "beta" \(options: alpha, layer\)/);
    expect(() => parseMethodOptions('ew', { beta: '1' })).toThrow(/ew has no options/);
    expect(() => parseMethodOptions('mgda', { normalization: 'l1' })).toThrow(/must be one of none, l2, loss, loss\+/);
    expect(() => parseMethodOptions('nash-mtl', { update_weights_every: '1.5' })).toThrow(/must be an integer/);
    expect(() => parseMethodOptions('dwa', { temperature: '0' })).toThrow(/must be > 0/);
    expect(() => parseMethodOptions('cagrad', { alpha: '-1' })).toThrow(/must be ≥ 0/);
    expect(parseMethodOptions('aligned-mtl', { scale_mode: 'rmse' })).toEqual({ scale_mode: 'rmse' });
    expect(() => createMethod('gradnorm', { tasks: 2, groups: ['a', 'b'] }, { layer: 'c' })).toThrow(
      /layer=c: not a shared layer of this model \(shared layers: a, b\)/,
    );
  });

  it('GLS and GradNorm refuse non-positive losses; the state of another method is refused', () => {
    const gls = createMethod('gls', { tasks: 2, groups: ['a'] });
    const input = { step: 0, epoch: 0, losses: [1, 0], gram: [1, 0, 0, 1], groupGrams: [[1, 0, 0, 1]], rng: new Random(0) };
    expect(() => gls.step(input)).toThrow(/needs positive finite losses; task 2 has loss 0/);
    expect(() => createMethod('gradnorm', { tasks: 2, groups: ['a'] }).step(input)).toThrow(/positive/);
    const uw = createMethod('uw', { tasks: 2, groups: ['a'] });
    expect(() => uw.load(createMethod('famo', { tasks: 2, groups: ['a'] }).state())).toThrow(/state of method famo, not uw/);
  });

  it('the legacy Gram-only methods give the same weights as combinationWeights', async () => {
    const { combinationWeights } = await import('../../src/conflict/methods.js');
    const G = Float64Array.of(2, -0.5, 0.3, -0.5, 1.5, 0.2, 0.3, 0.2, 1);
    for (const m of ['ew', 'pcgrad', 'cagrad', 'mgda'] as const) {
      const out = createMethod(m, { tasks: 3, groups: ['a'] }).step({ step: 0, epoch: 0, losses: [1, 1, 1], gram: G, groupGrams: [], rng: new Random(4) });
      expect(Array.from(out.shared)).toEqual(Array.from(combinationWeights(m, G, 3, { rng: new Random(4) })));
      expect(Array.from(out.taskSpecific)).toEqual([1, 1, 1]);
    }
  });
});
