import { describe, expect, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import { cagradSolution, combinationWeights, combineVectors, COMBINATION_METHODS, mgdaSimplexWeights, wholeGram } from '../../src/conflict/methods.js';

// Reference computations below work on explicit gradient vectors, never on the Gram matrix, so
// they check the Gram-only formulation independently.

type Vec = Float64Array;
const D = 20;

const dotv = (a: Vec, b: Vec): number => a.reduce((s, x, k) => s + x * b[k]!, 0);
const axpy = (out: Vec, a: number, x: Vec): Vec => {
  for (let k = 0; k < out.length; k++) out[k]! += a * x[k]!;
  return out;
};
const combine = (w: ArrayLike<number>, gs: Vec[]): Vec => gs.reduce((acc, g, i) => axpy(acc, w[i]!, g), new Float64Array(gs[0]!.length));
const norm = (a: Vec): number => Math.sqrt(dotv(a, a));
const gramOf = (gs: Vec[]): Float64Array => {
  const T = gs.length;
  const G = new Float64Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) G[i * T + j] = dotv(gs[i]!, gs[j]!);
  return G;
};
const randomVec = (rng: Random, scale = 1): Vec => Float64Array.from({ length: D }, () => scale * rng.normal());
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k]! - b[k]!));
  return m;
};
/** Relative closeness of two vectors, measured against the larger norm. */
const expectVecClose = (a: Vec, b: Vec, rel: number): void => {
  const scale = Math.max(norm(a), norm(b), 1e-300);
  expect(maxAbsDiff(a, b) / scale).toBeLessThanOrEqual(rel);
};

interface Case {
  name: string;
  gs: Vec[];
}

/** Fixed gradient sets: conflicting, non-conflicting, and degenerate. */
function cases(): Case[] {
  const rng = new Random(2023);
  const a = randomVec(rng);
  const b = randomVec(rng);
  const c = randomVec(rng);
  const conflicting2 = [a, axpy(randomVec(rng, 0.6), -0.8, a)];
  const aligned2 = [a, axpy(randomVec(rng, 0.3), 1.5, a)];
  // ⟨g1, g2⟩ > ‖g1‖²: MGDA's optimum is the vertex g1.
  const vertex2 = [a.map((x) => 0.3 * x), axpy(randomVec(rng, 0.2), 1.0, a)];
  const conflicting3 = [a, axpy(randomVec(rng, 0.5), -0.7, a), axpy(axpy(randomVec(rng, 0.4), -0.5, a), 0.8, b)];
  const mixed3 = [a, b, axpy(axpy(c.slice(), 0.5, a), -0.6, b)];
  return [
    { name: 'T=2 conflicting', gs: conflicting2 },
    { name: 'T=2 aligned', gs: aligned2 },
    { name: 'T=2 min-norm vertex', gs: vertex2 },
    { name: 'T=2 zero gradient', gs: [a, new Float64Array(D)] },
    { name: 'T=2 identical', gs: [b, b.slice()] },
    { name: 'T=3 conflicting', gs: conflicting3 },
    { name: 'T=3 mixed', gs: mixed3 },
    { name: 'T=3 independent random', gs: [a, b, c] },
    { name: 'T=3 zero gradient', gs: [a, new Float64Array(D), axpy(randomVec(rng, 0.5), -0.5, a)] },
    { name: 'T=3 identical', gs: [c, c.slice(), c.slice()] },
  ];
}

/** Every point of the simplex grid with step 1/n (T = 2 or 3), optionally restricted to a box. */
function* simplexGrid(T: number, n: number, lo: number[] = [0, 0], hi: number[] = [1, 1]): Generator<number[]> {
  if (T === 2) {
    for (let k = 0; k <= n; k++) {
      const x = lo[0]! + ((hi[0]! - lo[0]!) * k) / n;
      if (x >= 0 && x <= 1) yield [x, 1 - x];
    }
    return;
  }
  for (let k = 0; k <= n; k++) {
    const x = lo[0]! + ((hi[0]! - lo[0]!) * k) / n;
    for (let l = 0; l <= n; l++) {
      const y = lo[1]! + ((hi[1]! - lo[1]!) * l) / n;
      if (x >= 0 && y >= 0 && x + y <= 1 + 1e-15) yield [x, y, Math.max(0, 1 - x - y)];
    }
  }
}

/** Dense grid search over the simplex, then two finer grids around the best point. */
function bruteMinimise(T: number, f: (w: number[]) => number): { w: number[]; value: number } {
  let best = { w: [] as number[], value: Infinity };
  const scan = (lo?: number[], hi?: number[], n = T === 2 ? 20000 : 300) => {
    for (const w of simplexGrid(T, n, lo, hi)) {
      const v = f(w);
      if (v < best.value) best = { w, value: v };
    }
  };
  scan();
  let width = T === 2 ? 1 / 20000 : 1 / 300;
  for (let round = 0; round < 2; round++) {
    const lo = best.w.slice(0, 2).map((x) => x - 2 * width);
    const hi = best.w.slice(0, 2).map((x) => x + 2 * width);
    const n = T === 2 ? 2000 : 200;
    scan(lo, hi, n);
    width = (4 * width) / n;
  }
  return best;
}

describe('combinationWeights: EW', () => {
  it('weights every task by 1 (the summed losses)', () => {
    for (const { gs } of cases()) {
      const w = combinationWeights('ew', gramOf(gs), gs.length, { rng: new Random(0) });
      expect(Array.from(w)).toEqual(gs.map(() => 1));
    }
  });
});

describe('combinationWeights: PCGrad', () => {
  /** PCGrad on explicit vectors, drawing the same permutations as documented for the Gram version. */
  function pcgradDirect(gs: Vec[], rng: Random): Vec {
    const T = gs.length;
    const sum = new Float64Array(D);
    for (let i = 0; i < T; i++) {
      const others = [...Array(T).keys()].filter((j) => j !== i);
      const order = rng.permutation(T - 1);
      const v = gs[i]!.slice();
      for (const k of order) {
        const gj = gs[others[k]!]!;
        const d = dotv(v, gj);
        if (d < 0) {
          const n = norm(gj) + 1e-8;
          axpy(v, -d / (n * n), gj);
        }
      }
      axpy(sum, 1, v);
    }
    return sum;
  }

  for (const c of cases()) {
    it(`matches projections on the vectors: ${c.name}`, () => {
      for (const seed of [1, 2, 3]) {
        const w = combinationWeights('pcgrad', gramOf(c.gs), c.gs.length, { rng: new Random(seed) });
        expect(w.every(Number.isFinite)).toBe(true);
        expectVecClose(combine(w, c.gs), pcgradDirect(c.gs, new Random(seed)), 1e-12);
      }
    });
  }

  it('leaves non-conflicting gradients alone and makes a conflicting pair orthogonal', () => {
    const [aligned, conflicting] = [cases()[1]!.gs, cases()[0]!.gs];
    expect(Array.from(combinationWeights('pcgrad', gramOf(aligned), 2, { rng: new Random(0) }))).toEqual([1, 1]);
    const G = gramOf(conflicting);
    expect(G[1]!).toBeLessThan(0);
    const w = combinationWeights('pcgrad', G, 2, { rng: new Random(0) });
    // g1^PC = g1 − (⟨g1,g2⟩/‖g2‖²) g2 and symmetrically, so w = (1 − ⟨g1,g2⟩/‖g1‖², 1 − ⟨g1,g2⟩/‖g2‖²),
    // up to the reference's 1e-8 added to the norms (relative effect ~1e-8/‖g‖).
    expect(w[0]!).toBeCloseTo(1 - G[1]! / G[0]!, 7);
    expect(w[1]!).toBeCloseTo(1 - G[1]! / G[3]!, 7);
    const g1pc = axpy(conflicting[0]!.slice(), -G[1]! / G[3]!, conflicting[1]!);
    expect(Math.abs(dotv(g1pc, conflicting[1]!))).toBeLessThan(1e-12 * norm(conflicting[0]!) * norm(conflicting[1]!));
  });

  it('depends on the projection order for T = 3, so the permutation check above is not vacuous', () => {
    const { gs } = cases()[5]!;
    const results = new Set<string>();
    for (let seed = 0; seed < 12; seed++) {
      const w = combinationWeights('pcgrad', gramOf(gs), 3, { rng: new Random(seed) });
      results.add(Array.from(w, (x) => x.toFixed(9)).join(','));
    }
    expect(results.size).toBeGreaterThan(1);
  });

  it('applied layer by layer from summed per-layer Grams equals PCGrad on the concatenated vectors', () => {
    const { gs } = cases()[6]!;
    const split = 8;
    const layers = [gs.map((g) => g.slice(0, split)), gs.map((g) => g.slice(split))];
    const G = wholeGram(layers.map(gramOf), 3);
    expect(maxAbsDiff(G, gramOf(gs))).toBeLessThan(1e-12);
    const w = combinationWeights('pcgrad', G, 3, { rng: new Random(7) });
    const perLayer = layers.map((l) => combineVectors(w, l));
    const joined = Float64Array.from([...perLayer[0]!, ...perLayer[1]!]);
    // combineVectors stores float32, hence the tolerance.
    expectVecClose(joined, pcgradDirect(gs, new Random(7)), 1e-6);
  });
});

describe('combinationWeights: MGDA', () => {
  const normSq = (gs: Vec[]) => (w: number[]) => {
    const v = combine(w, gs);
    return dotv(v, v);
  };

  for (const c of cases()) {
    it(`is the min-norm point of the convex hull (grid search): ${c.name}`, () => {
      const T = c.gs.length;
      const G = gramOf(c.gs);
      const w = combinationWeights('mgda', G, T, { rng: new Random(0) });
      const simplex = Array.from(w, (x) => x / T);
      expect(simplex.every((x) => x >= 0)).toBe(true);
      expect(simplex.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 14);
      const f = normSq(c.gs);
      const brute = bruteMinimise(T, f);
      const scale = Math.max(...Array.from(G, Math.abs));
      expect(f(simplex)).toBeLessThanOrEqual(brute.value + 1e-12 * scale);
      // The minimiser is unique unless two or more gradients coincide (or one is zero and others are not the min).
      if (!c.name.includes('identical')) expect(maxAbsDiff(simplex, brute.w)).toBeLessThan(1e-4);
      // update = T·Σ w_i g_i on the simplex.
      expectVecClose(
        combine(w, c.gs),
        combine(brute.w, c.gs).map((x) => T * x),
        1e-3,
      );
    });
  }

  it('matches the T = 2 closed form c = ⟨g2 − g1, g2⟩/‖g1 − g2‖² clamped to [0, 1]', () => {
    for (const c of cases().filter((k) => k.gs.length === 2 && !k.name.includes('identical'))) {
      const [g1, g2] = c.gs as [Vec, Vec];
      const diff = axpy(g1.slice(), -1, g2);
      const cStar = Math.min(1, Math.max(0, dotv(axpy(g2.slice(), -1, g1), g2) / dotv(diff, diff)));
      const w = mgdaSimplexWeights(gramOf(c.gs), 2);
      expect(w[0]!).toBeCloseTo(cStar, 12);
      expect(w[1]!).toBeCloseTo(1 - cStar, 12);
    }
    // The vertex case really is a vertex here (the reference solver would return 0.999).
    expect(Array.from(mgdaSimplexWeights(gramOf(cases()[2]!.gs), 2))).toEqual([1, 0]);
  });

  it('degenerate inputs: zero gradient gives a zero update, identical gradients give T·g', () => {
    const zero = cases()[3]!.gs;
    const wz = combinationWeights('mgda', gramOf(zero), 2, { rng: new Random(0) });
    expect(norm(combine(wz, zero))).toBe(0);
    const same = cases()[9]!.gs;
    const ws = combinationWeights('mgda', gramOf(same), 3, { rng: new Random(0) });
    expectVecClose(
      combine(ws, same),
      same[0]!.map((x) => 3 * x),
      1e-14,
    );
    expect(Array.from(combinationWeights('mgda', new Float64Array(9), 3, { rng: new Random(0) })).reduce((s, x) => s + x, 0)).toBeCloseTo(3, 14);
  });

  it('satisfies the KKT conditions for larger T (including rank-deficient Grams)', () => {
    const rng = new Random(99);
    for (const [T, dim] of [
      [5, 20],
      [8, 20],
      [12, 6], // T > dimension: G is singular
      [30, 40],
    ] as const) {
      const gs = Array.from({ length: T }, () => Float64Array.from({ length: dim }, () => rng.normal() + 0.3));
      const G = gramOf(gs);
      const w = mgdaSimplexWeights(G, T);
      const u = combine(w, gs);
      const f = dotv(u, u);
      const scale = Math.max(...Array.from(G, Math.abs));
      // Optimal on the simplex ⇔ ⟨g_i, u⟩ ≥ ‖u‖² for all i, with equality where w_i > 0.
      for (let i = 0; i < T; i++) {
        const gi = dotv(gs[i]!, u);
        expect(gi).toBeGreaterThanOrEqual(f - 1e-10 * scale);
        if (w[i]! > 1e-9) expect(Math.abs(gi - f)).toBeLessThan(1e-10 * scale);
      }
    }
  });
});

describe('combinationWeights: CAGrad', () => {
  /** The CAGrad objective and update, written on explicit vectors. */
  function cagradDirect(gs: Vec[], alpha: number) {
    const T = gs.length;
    const g0 = combine(
      gs.map(() => 1 / T),
      gs,
    );
    const c = alpha * Math.sqrt(dotv(g0, g0) + 1e-8) + 1e-8;
    const F = (w: number[]): number => {
      const gw = combine(w, gs);
      return dotv(gw, g0) + c * Math.sqrt(dotv(gw, gw) + 1e-8);
    };
    const update = (w: ArrayLike<number>): Vec => {
      const gw = combine(w, gs);
      const lambda = c / (norm(gw) + 1e-8);
      return axpy(g0.slice(), lambda, gw).map((x) => (T * x) / (1 + alpha * alpha));
    };
    return { F, update };
  }

  for (const alpha of [0.2, 0.4]) {
    for (const c of cases()) {
      it(`minimises F over the simplex (grid search) and forms the update (α=${alpha}): ${c.name}`, () => {
        const T = c.gs.length;
        const G = gramOf(c.gs);
        const sol = cagradSolution(G, T, alpha);
        const w = Array.from(sol.simplexWeights);
        expect(w.every((x) => x >= 0)).toBe(true);
        expect(w.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 14);
        const direct = cagradDirect(c.gs, alpha);
        const brute = bruteMinimise(T, direct.F);
        const scale = Math.max(...Array.from(G, Math.abs));
        expect(direct.F(w)).toBeLessThanOrEqual(brute.value + 1e-12 * scale);
        const coef = combinationWeights('cagrad', G, T, { rng: new Random(0), cagradAlpha: alpha });
        expect(Array.from(coef)).toEqual(Array.from(sol.coefficients));
        // Our coefficients reproduce the explicit update for our weights...
        expectVecClose(combine(coef, c.gs), direct.update(w), 1e-12);
        // ...and the brute-force weights give the same update up to grid resolution.
        if (!c.name.includes('identical')) {
          expect(maxAbsDiff(w, brute.w)).toBeLessThan(2e-4);
          expectVecClose(combine(coef, c.gs), direct.update(brute.w), 1e-3);
        }
      });
    }
  }

  it('defaults to α = 0.2 and reduces to EW when α = 0', () => {
    const { gs } = cases()[5]!;
    const G = gramOf(gs);
    expect(Array.from(combinationWeights('cagrad', G, 3, { rng: new Random(0) }))).toEqual(Array.from(cagradSolution(G, 3, 0.2).coefficients));
    const w0 = combinationWeights('cagrad', G, 3, { rng: new Random(0), cagradAlpha: 0 });
    for (const x of w0) expect(Math.abs(x - 1)).toBeLessThan(1e-7);
  });

  it('degenerate inputs: identical gradients give T·g·(1 + λ)/(1 + α²), a zero gradient stays finite', () => {
    const same = cases()[4]!.gs;
    const g = same[0]!;
    const alpha = 0.2;
    const c = alpha * Math.sqrt(dotv(g, g) + 1e-8) + 1e-8;
    const lambda = c / (norm(g) + 1e-8);
    const coef = combinationWeights('cagrad', gramOf(same), 2, { rng: new Random(0), cagradAlpha: alpha });
    expectVecClose(
      combine(coef, same),
      g.map((x) => (2 * x * (1 + lambda)) / (1 + alpha * alpha)),
      1e-12,
    );
    const zero = cases()[3]!.gs;
    const wz = combinationWeights('cagrad', gramOf(zero), 2, { rng: new Random(0) });
    expect(wz.every(Number.isFinite)).toBe(true);
    expect(combine(wz, zero).every(Number.isFinite)).toBe(true);
  });

  it('reaches the optimum for larger T: no vertex improves F to first order (Frank–Wolfe gap ≈ 0)', () => {
    const rng = new Random(5);
    for (const [T, dim] of [
      [5, 20],
      [10, 8],
    ] as const) {
      const gs = Array.from({ length: T }, () => Float64Array.from({ length: dim }, () => rng.normal() + 0.2));
      const { F } = cagradDirect(gs, 0.4);
      const w = Array.from(cagradSolution(gramOf(gs), T, 0.4).simplexWeights);
      const f = F(w);
      const scale = Math.max(...Array.from(gramOf(gs), Math.abs));
      // Finite-difference directional derivatives towards every vertex must be ≥ 0 at a minimum.
      const h = 1e-6;
      for (let i = 0; i < T; i++) {
        const moved = w.map((x, k) => (1 - h) * x + (k === i ? h : 0));
        expect((F(moved) - f) / h).toBeGreaterThan(-1e-6 * scale);
      }
    }
  });
});

describe('combinationWeights: input checks', () => {
  it('rejects a Gram matrix of the wrong size or with non-finite entries', () => {
    for (const m of COMBINATION_METHODS) {
      expect(() => combinationWeights(m, new Float64Array(3), 2, { rng: new Random(0) })).toThrow(/expected 2×2/);
      expect(() => combinationWeights(m, Float64Array.of(1, NaN, NaN, 1), 2, { rng: new Random(0) })).toThrow(/not finite/);
    }
  });

  it('returns weight 1 (EW, PCGrad, MGDA) for a single task', () => {
    for (const m of ['ew', 'pcgrad', 'mgda'] as const) expect(Array.from(combinationWeights(m, Float64Array.of(4), 1, { rng: new Random(0) }))).toEqual([1]);
  });
});
