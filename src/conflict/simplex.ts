/**
 * Minimisation over the probability simplex {w ≥ 0, Σw = 1} for the multi-task weighting methods
 * (MGDA's min-norm point, CAGrad's inner problem). Everything is expressed through the T×T task
 * Gram matrix, so the cost depends on T only, never on the number of shared parameters.
 *
 * Solver: pairwise ("mass-transfer") Frank–Wolfe with an exact line search. Each iteration moves
 * weight from the support vertex with the largest partial derivative to the vertex with the
 * smallest one. Unlike plain Frank–Wolfe it can drop a vertex to exactly zero, and on a polytope it
 * converges linearly for objectives of the form h(A·w) with h strongly convex (Lacoste-Julien &
 * Jaggi 2015). That covers MGDA's ‖Σ w_i g_i‖² even when G is singular (T > rank). It stops on the
 * Frank–Wolfe duality gap, which bounds the suboptimality of a convex objective.
 */
import { ReconError } from '../util/errors.js';

/** A convex objective on the simplex, given by its gradient and an exact line search. */
export interface SimplexObjective {
  gradient(w: Float64Array): Float64Array;
  /**
   * argmin over γ ∈ [0, γmax] of f(w + γ(e_to − e_from)). The direction is a descent direction
   * whenever the solver calls this.
   */
  lineSearch(w: Float64Array, to: number, from: number, gammaMax: number): number;
}

export interface SimplexSolveOptions {
  /** Stop when the Frank–Wolfe gap ⟨∇f, w⟩ − min_i ∂_i f is at most this. */
  gapTolerance: number;
  maxIterations: number;
}

export interface SimplexSolveResult {
  weights: Float64Array;
  iterations: number;
  /** Frank–Wolfe gap at the returned point: an upper bound on f(w) − min f. */
  gap: number;
}

export function pairwiseFrankWolfe(objective: SimplexObjective, start: Float64Array, options: SimplexSolveOptions): SimplexSolveResult {
  const T = start.length;
  const w = Float64Array.from(start);
  let gap = Infinity;
  let it = 0;
  for (; it < options.maxIterations; it++) {
    const grad = objective.gradient(w);
    let to = 0;
    let from = -1;
    let inner = 0;
    for (let i = 0; i < T; i++) {
      inner += w[i]! * grad[i]!;
      if (grad[i]! < grad[to]!) to = i;
      if (w[i]! > 0 && (from < 0 || grad[i]! > grad[from]!)) from = i;
    }
    gap = inner - grad[to]!;
    if (gap <= options.gapTolerance || from < 0 || from === to) break;
    const gammaMax = w[from]!;
    const gamma = objective.lineSearch(w, to, from, gammaMax);
    if (!(gamma > 0)) break; // no progress possible in floating point
    if (gamma >= gammaMax) {
      // Drop the vertex exactly, so the support shrinks instead of carrying 1e-17 residues.
      w[to]! += gammaMax;
      w[from] = 0;
    } else {
      w[to]! += gamma;
      w[from]! -= gamma;
    }
  }
  return { weights: w, iterations: it, gap };
}

/** Symmetric copy of a row-major T×T matrix; validates shape and finiteness. */
export function symmetricGram(gram: ArrayLike<number>, T: number): Float64Array {
  if (!Number.isInteger(T) || T < 1) throw new ReconError(`task count must be a positive integer, got ${T}`);
  if (gram.length !== T * T) throw new ReconError(`Gram matrix has ${gram.length} entries, expected ${T}×${T} = ${T * T}`);
  const out = new Float64Array(T * T);
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      const v = 0.5 * (gram[i * T + j]! + gram[j * T + i]!);
      if (!Number.isFinite(v)) throw new ReconError(`Gram matrix entry (${i}, ${j}) is not finite`);
      out[i * T + j] = v;
    }
  }
  return out;
}

/** (G·v)_i for a row-major T×T matrix. */
export function gramTimes(G: Float64Array, v: ArrayLike<number>, T: number): Float64Array {
  const out = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    let s = 0;
    for (let j = 0; j < T; j++) s += G[i * T + j]! * v[j]!;
    out[i] = s;
  }
  return out;
}

/** uᵀ G v. */
export function gramForm(G: Float64Array, u: ArrayLike<number>, v: ArrayLike<number>, T: number): number {
  let s = 0;
  for (let i = 0; i < T; i++) {
    if (u[i] === 0) continue;
    let r = 0;
    for (let j = 0; j < T; j++) r += G[i * T + j]! * v[j]!;
    s += u[i]! * r;
  }
  return s;
}

/** Largest |G_ij|: the scale that makes the stopping tolerances relative. */
export function gramScale(G: Float64Array): number {
  let m = 0;
  for (const v of G) m = Math.max(m, Math.abs(v));
  return m;
}

/**
 * Bisection for the root of a non-decreasing function on [0, hi] (the derivative of a convex 1-D
 * function). Runs until the bracket stops shrinking in floating point, so the result is as exact as
 * double precision allows.
 */
export function bisectIncreasing(derivative: (x: number) => number, hi: number): number {
  if (derivative(0) >= 0) return 0;
  if (derivative(hi) <= 0) return hi;
  let lo = 0;
  let up = hi;
  for (let k = 0; k < 200; k++) {
    const mid = 0.5 * (lo + up);
    if (mid <= lo || mid >= up) break;
    if (derivative(mid) < 0) lo = mid;
    else up = mid;
  }
  return 0.5 * (lo + up);
}
