/**
 * Multi-task gradient combination from the task Gram matrix alone.
 *
 * Every method here (EW, PCGrad, CAGrad, MGDA) produces an update that is a linear combination
 * Σ_i w_i g_i of the T task gradients of the shared parameters, and the coefficients depend only on
 * the inner products G_ij = ⟨g_i, g_j⟩ over the WHOLE shared gradient (all shared layers
 * concatenated, as Recon's `_grad2vec`). So the session emits per-layer Grams, we sum them, compute
 * w here, and the caller writes back Σ w_i g_i layer by layer without ever materialising the
 * concatenated vectors.
 *
 * Scaling follows Recon (models/base_model.py `overwrite_grad`): each method's result is multiplied
 * by n_tasks "to match the sum loss", so the weights returned here already include that factor
 * (EW gives w = 1, i.e. the gradient of the summed losses).
 *
 * The training scan reaches these (and the other methods: loss weighting, IMTL-G, Nash-MTL, ...)
 * through the method registry in method-registry.ts.
 */
import type { Random } from '../util/random.js';
import { sumGrams } from './gram.js';
import {
  bisectIncreasing,
  gramForm,
  gramScale,
  gramTimes,
  pairwiseFrankWolfe,
  symmetricGram,
  type SimplexObjective,
  type SimplexSolveResult,
} from './simplex.js';
import { InternalError, ReconError } from '../util/errors.js';

export type CombinationMethod = 'ew' | 'pcgrad' | 'cagrad' | 'mgda';
export const COMBINATION_METHODS: readonly CombinationMethod[] = ['ew', 'pcgrad', 'cagrad', 'mgda'];

export interface CombinationOptions {
  /** Consumed by PCGrad only (one permutation of the other tasks per task, in task order). */
  rng: Pick<Random, 'permutation'>;
  /** CAGrad's c (the paper's α). Recon: 0.2 for MNIST/CityScapes, 0.4 for NYUv2. */
  cagradAlpha?: number;
}

export const DEFAULT_CAGRAD_ALPHA = 0.2;

/**
 * The reference implementations (Recon's copies of the CAGrad repo code) add these to norms and
 * square roots so that zero gradients give finite results. They are absolute, so they matter only
 * when gradients are tiny (‖g‖ ≲ 1e-4).
 */
const PCGRAD_NORM_EPS = 1e-8;
const CAGRAD_SQRT_EPS = 1e-8;

/** Relative Frank–Wolfe gap (× max|G_ij|) at which the simplex solvers stop. */
const SIMPLEX_GAP_TOLERANCE = 1e-12;
/** Cap on solver iterations; pairwise Frank–Wolfe normally stops after a few dozen for T ≤ 40. */
const SIMPLEX_MAX_ITERATIONS = 20_000;

/** Sum of per-layer Grams = the Gram of the concatenated shared gradient. */
export function wholeGram(layerGrams: readonly ArrayLike<number>[], T: number): Float64Array {
  return sumGrams(layerGrams, T);
}

/**
 * Coefficients w (length T) such that the shared-parameter update is Σ_i w_i g_i, with Recon's
 * n_tasks factor included. `gram` is row-major T×T; it is symmetrised before use.
 */
export function combinationWeights(method: CombinationMethod, gram: ArrayLike<number>, T: number, options: CombinationOptions): Float64Array {
  const G = symmetricGram(gram, T);
  switch (method) {
    case 'ew':
      return new Float64Array(T).fill(1);
    case 'pcgrad':
      return pcgradWeights(G, T, options.rng);
    case 'mgda': {
      const w = mgdaSimplexWeights(G, T);
      for (let i = 0; i < T; i++) w[i]! *= T;
      return w;
    }
    case 'cagrad':
      return cagradSolution(G, T, options.cagradAlpha ?? DEFAULT_CAGRAD_ALPHA).coefficients;
    default: {
      const never: never = method;
      throw new InternalError(`unknown combination method ${String(never)}`);
    }
  }
}

/**
 * PCGrad (Yu et al. 2020) as in Recon's models/pcgrad_model.py. For each task i (in task order) we
 * draw `rng.permutation(T - 1)` to order the other tasks (ascending task indices, i skipped), then
 * project g_i^PC off every g_j it conflicts with: if ⟨g_i^PC, g_j⟩ < 0, subtract
 * ⟨g_i^PC, g_j⟩ / (‖g_j‖ + 1e-8)² · g_j. The reference divides by (‖g_j‖ + 1e-8) twice through its
 * normalised vector, which is why a zero g_j projects nothing instead of producing NaN. Each
 * g_i^PC is tracked as a coefficient row over the original gradients, so every dot product comes
 * from G. Result: mean_i g_i^PC × T = Σ_i g_i^PC.
 */
function pcgradWeights(G: Float64Array, T: number, rng: Pick<Random, 'permutation'>): Float64Array {
  const out = new Float64Array(T);
  const row = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const others: number[] = [];
    for (let j = 0; j < T; j++) if (j !== i) others.push(j);
    const order = rng.permutation(T - 1);
    row.fill(0);
    row[i] = 1;
    for (let k = 0; k < order.length; k++) {
      const j = others[order[k]!]!;
      let dot = 0;
      for (let m = 0; m < T; m++) dot += row[m]! * G[m * T + j]!;
      if (dot < 0) {
        const norm = Math.sqrt(Math.max(G[j * T + j]!, 0)) + PCGRAD_NORM_EPS;
        row[j]! -= dot / (norm * norm);
      }
    }
    for (let m = 0; m < T; m++) out[m]! += row[m]!;
  }
  return out;
}

/** ‖Σ w_i g_i‖² on the simplex: f(w) = wᵀGw. */
function minNormObjective(G: Float64Array, T: number): SimplexObjective {
  return {
    gradient: (w) => {
      const g = gramTimes(G, w, T);
      for (let i = 0; i < T; i++) g[i]! *= 2;
      return g;
    },
    lineSearch: (w, to, from, gammaMax) => {
      // f(w + γd) = f(w) + 2γ·dᵀGw + γ²·dᵀGd with d = e_to − e_from.
      let slope = 0;
      for (let m = 0; m < T; m++) slope += (G[to * T + m]! - G[from * T + m]!) * w[m]!;
      const curvature = G[to * T + to]! + G[from * T + from]! - 2 * G[to * T + from]!;
      if (!(curvature > 0)) return slope < 0 ? gammaMax : 0;
      return Math.min(gammaMax, Math.max(0, -slope / curvature));
    },
  };
}

/**
 * Exact minimiser of ‖c·g_1 + (1−c)·g_2‖² over c ∈ [0, 1] from the three inner products, with the
 * same case split as MinNormSolver._min_norm_element_from2. The reference returns 0.999 / 0.001
 * for the vertex cases (an artefact, it never reaches a vertex); we return the true vertex.
 */
function minNormPair(v11: number, v12: number, v22: number): { c: number; cost: number } {
  if (v12 >= v11) return { c: 1, cost: v11 };
  if (v12 >= v22) return { c: 0, cost: v22 };
  const c = (v22 - v12) / (v11 + v22 - 2 * v12);
  return { c, cost: v22 + c * (v12 - v22) };
}

/**
 * MGDA (Sener & Koltun 2018): the min-norm point of the convex hull of the task gradients, as
 * weights on the simplex (sum 1, WITHOUT the ×T factor).
 *
 * Gradients are NOT normalised. Recon's models/mgd_model.py passes the raw columns of its
 * [P, T] gradient matrix to MinNormSolver.find_min_norm_element and writes back grads·w (then
 * ×n_tasks in overwrite_grad); the `gradient_normalizers` helper in utils/min_norm_solvers.py is
 * never called. (LibMTL's MGDA, by contrast, defaults to the 'l2' normaliser.)
 *
 * T = 2: closed form. T > 2: start from the best pair (as MinNormSolver does), then pairwise
 * Frank–Wolfe with exact line search until the duality gap is ≤ 1e-12·max|G_ij|. The reference
 * uses projected gradient with stop criterion 1e-5 on the change in w, so its weights can differ
 * from the true optimum by about that much.
 */
export function mgdaSimplexWeights(gram: ArrayLike<number>, T: number): Float64Array {
  const G = symmetricGram(gram, T);
  if (T === 1) return Float64Array.of(1);
  let best = { i: 0, j: 1, c: 1, cost: Infinity };
  for (let i = 0; i < T; i++) {
    for (let j = i + 1; j < T; j++) {
      const p = minNormPair(G[i * T + i]!, G[i * T + j]!, G[j * T + j]!);
      if (p.cost < best.cost) best = { i, j, c: p.c, cost: p.cost };
    }
  }
  const start = new Float64Array(T);
  start[best.i] = best.c;
  start[best.j]! += 1 - best.c;
  if (T === 2) return start;
  return solve(minNormObjective(G, T), start, G).weights;
}

export interface CagradSolution {
  /** Minimiser of F(w) on the simplex. */
  simplexWeights: Float64Array;
  /** λ = c / (‖g_w‖ + 1e-8). */
  lambda: number;
  /** c = α·sqrt(‖g0‖² + 1e-8) + 1e-8, the radius of the ball around g0 (√φ in the paper). */
  radius: number;
  /** Final coefficients: T·(1/T + λ·w_i)/(1 + α²). */
  coefficients: Float64Array;
}

/**
 * CAGrad (Liu et al. 2021) as in Recon's models/cagrad_model.py (rescale = 1):
 *   g0 = mean_i g_i, c = α·sqrt(mean(G) + 1e-8) + 1e-8   (mean(G) = ‖g0‖²),
 *   w* = argmin_{w ∈ simplex} F(w) = g_wᵀg0 + c·sqrt(‖g_w‖² + 1e-8),   g_w = Σ w_i g_i,
 *   λ = c/(‖g_w‖ + 1e-8),   g = (g0 + λ·g_w)/(1 + α²),   update = T·g.
 * The reference solves for w with scipy SLSQP from w = 1/T (tolerance ~1e-6). We solve F exactly
 * instead: F is convex (a linear term plus the norm of (L·w, 1e-4)), so for T = 2 a bisection on
 * F' over w_0 ∈ [0, 1] runs to double precision; for T > 2 pairwise Frank–Wolfe from w = 1/T
 * with a bisection line search stops at a duality gap ≤ 1e-12·max|G_ij|.
 */
export function cagradSolution(gram: ArrayLike<number>, T: number, alpha: number = DEFAULT_CAGRAD_ALPHA): CagradSolution {
  if (!(alpha >= 0) || !Number.isFinite(alpha)) throw new ReconError(`CAGrad alpha must be a finite non-negative number, got ${alpha}`);
  const G = symmetricGram(gram, T);
  const b = new Float64Array(T).fill(1 / T);
  const Gb = gramTimes(G, b, T);
  const g0sq = Math.max(gramForm(G, b, b, T), 0);
  const c = alpha * Math.sqrt(g0sq + CAGRAD_SQRT_EPS) + CAGRAD_SQRT_EPS;

  const objective: SimplexObjective = {
    gradient: (w) => {
      const Gw = gramTimes(G, w, T);
      const r = Math.sqrt(Math.max(dot(w, Gw), 0) + CAGRAD_SQRT_EPS);
      const out = new Float64Array(T);
      for (let i = 0; i < T; i++) out[i] = Gb[i]! + (c * Gw[i]!) / r;
      return out;
    },
    lineSearch: (w, to, from, gammaMax) => {
      // φ(γ) = F(w + γd), d = e_to − e_from; φ is convex, so bisect on φ'.
      const Gw = gramTimes(G, w, T);
      const q0 = dot(w, Gw);
      const slope = Gw[to]! - Gw[from]!;
      const curvature = G[to * T + to]! + G[from * T + from]! - 2 * G[to * T + from]!;
      const linear = Gb[to]! - Gb[from]!;
      return bisectIncreasing((gamma) => {
        const q = Math.max(q0 + 2 * gamma * slope + gamma * gamma * curvature, 0);
        return linear + (c * (slope + gamma * curvature)) / Math.sqrt(q + CAGRAD_SQRT_EPS);
      }, gammaMax);
    },
  };

  let w: Float64Array;
  if (T === 1) w = Float64Array.of(1);
  else if (T === 2) {
    // w = (γ, 1 − γ): one exact line search from vertex 1 towards vertex 0 over the whole edge.
    const start = Float64Array.of(0, 1);
    const gamma = objective.lineSearch(start, 0, 1, 1);
    w = Float64Array.of(gamma, 1 - gamma);
  } else {
    w = solve(objective, new Float64Array(T).fill(1 / T), G).weights;
  }

  const gwNorm = Math.sqrt(Math.max(gramForm(G, w, w, T), 0));
  const lambda = c / (gwNorm + CAGRAD_SQRT_EPS);
  const coefficients = new Float64Array(T);
  for (let i = 0; i < T; i++) coefficients[i] = (T * (1 / T + lambda * w[i]!)) / (1 + alpha * alpha);
  return { simplexWeights: w, lambda, radius: c, coefficients };
}

function solve(objective: SimplexObjective, start: Float64Array, G: Float64Array): SimplexSolveResult {
  const scale = gramScale(G);
  if (scale === 0) return { weights: start, iterations: 0, gap: 0 };
  return pairwiseFrankWolfe(objective, start, { gapTolerance: SIMPLEX_GAP_TOLERANCE * scale, maxIterations: SIMPLEX_MAX_ITERATIONS });
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Σ_i w_i·vectors[i] for one parameter (or layer) of the shared model, accumulated in float64 and
 * stored as float32 like the gradients it replaces.
 */
export function combineVectors(weights: ArrayLike<number>, vectors: readonly ArrayLike<number>[], out?: Float32Array): Float32Array {
  if (vectors.length !== weights.length) throw new ReconError(`${weights.length} weights for ${vectors.length} vectors`);
  const n = vectors[0]?.length ?? 0;
  for (const v of vectors) if (v.length !== n) throw new ReconError('vectors to combine differ in length');
  const result = out ?? new Float32Array(n);
  if (result.length !== n) throw new ReconError(`output has length ${result.length}, expected ${n}`);
  for (let k = 0; k < n; k++) {
    let s = 0;
    for (let i = 0; i < vectors.length; i++) s += weights[i]! * vectors[i]![k]!;
    result[k] = s;
  }
  return result;
}
