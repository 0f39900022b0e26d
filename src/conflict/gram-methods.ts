/**
 * The multi-task combination rules beyond Recon's four that can be computed from the T×T Gram
 * matrix of the task gradients (and, for MGDA's loss normalisers, the losses). Each returns the
 * coefficients w of the update Σ_i w_i g_i in the scale of its reference implementation; the
 * method registry (method-registry.ts) applies Recon's n_tasks convention and optimizer details
 * such as gradient-norm clipping.
 *
 * "Gram" below is always the symmetrised row-major T×T matrix G_ij = ⟨g_i, g_j⟩.
 */
import type { Random } from '../util/random.js';
import { mgdaSimplexWeights } from './methods.js';
import { FLOAT32_EPS, nonNegativeQp, smallestSingularValue, solveLinear, symmetricEigen, symmetricPinvTimes } from './linalg.js';
import { gramForm, gramTimes } from './simplex.js';
import { ReconError } from '../util/errors.js';

const diagonal = (G: Float64Array, T: number): Float64Array => Float64Array.from({ length: T }, (_, i) => G[i * T + i]!);
const norms = (G: Float64Array, T: number): Float64Array => diagonal(G, T).map((x) => Math.sqrt(Math.max(x, 0)));

/** ‖Σ w_i g_i‖ from the Gram. */
export function combinedNorm(G: Float64Array, w: ArrayLike<number>, T: number): number {
  return Math.sqrt(Math.max(gramForm(G, w, w, T), 0));
}

/**
 * Factor applied by torch.nn.utils.clip_grad_norm_(shared, maxNorm) to the update Σ w_i g_i:
 * min(1, maxNorm / (‖Σ w_i g_i‖ + 1e-6)). maxNorm ≤ 0 disables clipping (factor 1).
 */
export function clipFactor(G: Float64Array, w: ArrayLike<number>, T: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  const coef = maxNorm / (combinedNorm(G, w, T) + 1e-6);
  // biome-ignore lint/complexity/useMathMinMax: a NaN norm must leave the update unscaled (1), where Math.min gives NaN.
  return coef < 1 ? coef : 1;
}

export type MgdaNormalization = 'none' | 'l2' | 'loss' | 'loss+';
export const MGDA_NORMALIZATIONS: readonly MgdaNormalization[] = ['none', 'l2', 'loss', 'loss+'];

/**
 * MGDA with LibMTL's gradient normalisers (`mgda_gn`, from Sener & Koltun's
 * `gradient_normalizers`): g_i is divided by gn_i = 1 (none), ‖g_i‖ (l2), L_i (loss) or
 * L_i·‖g_i‖ (loss+), the min-norm point of the normalised gradients is found on the simplex, and
 * LibMTL writes back Σ sol_i·g_i/gn_i, so the coefficient of the raw g_i is sol_i/gn_i. A task
 * with gn_i = 0 has a zero normalised gradient (coefficient 0) instead of LibMTL's NaN. Returns
 * the simplex solution and the coefficients of the raw gradients (without the ×T factor).
 */
export function mgdaNormalizedWeights(
  G: Float64Array,
  T: number,
  losses: ArrayLike<number>,
  normalization: MgdaNormalization,
): { simplex: Float64Array; coefficients: Float64Array } {
  const n = norms(G, T);
  const gn = Float64Array.from({ length: T }, (_, i) => {
    switch (normalization) {
      case 'none':
        return 1;
      case 'l2':
        return n[i]!;
      case 'loss':
        return losses[i]!;
      case 'loss+':
        return losses[i]! * n[i]!;
    }
  });
  const inv = gn.map((x) => (x !== 0 && Number.isFinite(x) ? 1 / x : 0));
  const Gn = new Float64Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) Gn[i * T + j] = G[i * T + j]! * inv[i]! * inv[j]!;
  const simplex = mgdaSimplexWeights(Gn, T);
  return { simplex, coefficients: simplex.map((s, i) => s * inv[i]!) };
}

/**
 * IMTL-G (Liu et al., ICLR 2021, "Towards Impartial Multi-task Learning"), closed form: with
 * u_i = g_i/‖g_i‖, D = [g_1 − g_k]_{k≥2} and U = [u_1 − u_k]_{k≥2}, the weights of tasks 2..T are
 * α = g_1ᵀUᵀ(DUᵀ)⁻¹ and α_1 = 1 − Σα, so that the combined gradient has equal projections on all
 * u_i. Every entry of DUᵀ and g_1ᵀUᵀ is a Gram entry divided by a norm. When a gradient is zero or
 * DUᵀ is singular (smallest singular value ≤ 1e-10·max‖g_i‖), the closed form does not exist and
 * we use TorchJD's generalisation (IMTLGWeighting): v = G⁺·(‖g_i‖)_i, α = v/Σv (0 when |Σv| < 1e-12),
 * which coincides with the closed form whenever G is invertible. The pseudo-inverse drops
 * eigenvalues ≤ T·eps_float32·max λ (torch.linalg.pinv's default on the float32 Grams TorchJD
 * works with; our Grams come from float32 gradients too). α sums to 1 (no ×T here).
 */
export function imtlGWeights(G: Float64Array, T: number): Float64Array {
  if (T === 1) return Float64Array.of(1);
  const n = norms(G, T);
  const generalized = (): Float64Array => {
    const v = symmetricPinvTimes(G, n, T, T * FLOAT32_EPS);
    let s = 0;
    for (const x of v) s += x;
    return Math.abs(s) < 1e-12 ? new Float64Array(T) : v.map((x) => x / s);
  };
  if (n.some((x) => !(x > 0))) return generalized();
  const m = T - 1;
  // M = (D Uᵀ)ᵀ so that M·α_rest = U g_1.
  const M = new Float64Array(m * m);
  const b = new Float64Array(m);
  for (let l = 0; l < m; l++) {
    b[l] = G[0]! / n[0]! - G[l + 1]! / n[l + 1]!;
    for (let k = 0; k < m; k++) {
      const dU = G[0]! / n[0]! - G[l + 1]! / n[l + 1]! - G[(k + 1) * T]! / n[0]! + G[(k + 1) * T + l + 1]! / n[l + 1]!;
      M[l * m + k] = dU; // (D Uᵀ)[k][l]
    }
  }
  let maxNorm = 0;
  for (const x of n) maxNorm = Math.max(maxNorm, x);
  if (smallestSingularValue(M, m) <= 1e-10 * maxNorm) return generalized();
  const rest = solveLinear(M, b, m);
  if (!rest) return generalized();
  let sum = 0;
  for (const x of rest) sum += x;
  const out = new Float64Array(T);
  out[0] = 1 - sum;
  out.set(rest, 1);
  return out;
}

/**
 * α > 0 with G·α = α^(−1/p): Nash-MTL's bargaining solution for p = 1 (Navon et al., ICML 2022:
 * Gα = 1/α) and FairGrad's α-fair allocation for general p (Ban & Ji, ICML 2024:
 * Gᵀw = w^(−1/α)). It is the unique minimiser of the strictly convex
 *   f(α) = ½αᵀGα + Σ h(α_i),   h'(a) = −a^(−1/p),
 * which is bounded below exactly when no non-negative combination of the gradients vanishes, i.e.
 * when the MGDA min-norm point is not 0. We check that first (‖min-norm‖² ≤ 1e-12·max G_ii: no
 * solution, return undefined), then run damped Newton (exact Hessian G + diag(h''), fraction-to-
 * boundary rule, Armijo backtracking) on G/‖G‖_F as the Nash-MTL reference does, and scale back:
 * α = α'·‖G‖_F^(−p/(p+1)). Stops when max_i |r_i|·α_i^(1/p) ≤ 1e-14 (relative residual of the
 * fixed-point equation); returns undefined if 200 Newton steps leave it above 1e-9.
 */
export function powerBargainingSolution(gram: Float64Array, T: number, p: number): Float64Array | undefined {
  let fro = 0;
  for (const x of gram) fro += x * x;
  fro = Math.sqrt(fro);
  if (!(fro > 0) || !Number.isFinite(fro)) return undefined;
  const G = gram.map((x) => x / fro);
  let maxDiag = 0;
  for (let i = 0; i < T; i++) maxDiag = Math.max(maxDiag, G[i * T + i]!);
  const mn = mgdaSimplexWeights(G, T);
  if (gramForm(G, mn, mn, T) <= 1e-12 * maxDiag) return undefined;

  const q = 1 / p;
  const h = (a: number): number => (p === 1 ? -Math.log(a) : -(a ** (1 - q)) / (1 - q));
  const f = (a: Float64Array): number => {
    let s = 0.5 * gramForm(G, a, a, T);
    for (const x of a) s += h(x);
    return s;
  };
  let Q = 0;
  for (const x of G) Q += x;
  const start = Q > 0 ? (T / Q) ** (p / (p + 1)) : 1;
  let a = new Float64Array(T).fill(start);
  let rel = Infinity;
  for (let it = 0; it < 200; it++) {
    const Ga = gramTimes(G, a, T);
    const r = Float64Array.from({ length: T }, (_, i) => Ga[i]! - a[i]! ** -q);
    rel = 0;
    for (let i = 0; i < T; i++) rel = Math.max(rel, Math.abs(r[i]!) * a[i]! ** q);
    if (rel <= 1e-14) break;
    const H = Float64Array.from(G);
    for (let i = 0; i < T; i++) H[i * T + i]! += q * a[i]! ** (-q - 1);
    const delta = solveLinear(
      H,
      r.map((x) => -x),
      T,
    );
    if (!delta) return undefined;
    let slope = 0;
    for (let i = 0; i < T; i++) slope += r[i]! * delta[i]!;
    let t = 1;
    for (let i = 0; i < T; i++) if (delta[i]! < 0) t = Math.min(t, (-0.99 * a[i]!) / delta[i]!);
    const f0 = f(a);
    let next = a.map((x, i) => x + t * delta[i]!);
    // Armijo, with slack for rounding in f so that full Newton steps are taken near the optimum.
    while (f(next) > f0 + 0.25 * t * slope + 1e-14 * Math.abs(f0) && t > 1e-20) {
      t *= 0.5;
      next = a.map((x, i) => x + t * delta[i]!);
    }
    if (next.every((x, i) => x === a[i])) break;
    a = next;
  }
  if (!(rel <= 1e-9)) return undefined;
  const scale = fro ** (-p / (p + 1));
  return a.map((x) => x * scale);
}

export type AlignedScaleMode = 'min' | 'median' | 'rmse';
export const ALIGNED_SCALE_MODES: readonly AlignedScaleMode[] = ['min', 'median', 'rmse'];

/**
 * Aligned-MTL (Senushkin et al., CVPR 2023), as the authors' ProcrustesSolver (SamsungLabs/MTL,
 * also LibMTL's Aligned_MTL): eigen-decomposition G = VΛVᵀ, rank = #{λ > max λ·T·eps_float32},
 * keep the top-rank eigenpairs, B = √s·V Λ^(−1/2) Vᵀ with s the smallest kept eigenvalue ('min',
 * the default: the smallest singular value of the gradient matrix squared), torch's lower median
 * ('median') or the mean ('rmse'), and the update Σ_j (B·1)_j g_j (the authors sum the aligned
 * task gradients). All-zero gradients (rank 0) give B = I as in TorchJD.
 */
export function alignedMtlWeights(G: Float64Array, T: number, scaleMode: AlignedScaleMode = 'min'): Float64Array {
  const { values, vectors } = symmetricEigen(G, T);
  let top = -Infinity;
  for (const x of values) top = Math.max(top, x);
  const tol = top * T * FLOAT32_EPS;
  const kept: number[] = [];
  for (let k = T - 1; k >= 0; k--) if (values[k]! > tol) kept.push(k); // descending
  if (kept.length === 0) return new Float64Array(T).fill(1);
  const lambdas = kept.map((k) => values[k]!);
  let s: number;
  if (scaleMode === 'min') s = lambdas[lambdas.length - 1]!;
  else if (scaleMode === 'median') s = [...lambdas].sort((x, y) => x - y)[Math.floor((lambdas.length - 1) / 2)]!;
  else s = lambdas.reduce((acc, x) => acc + x, 0) / lambdas.length;
  const root = Math.sqrt(s);
  const out = new Float64Array(T);
  for (const k of kept) {
    let sum = 0;
    for (let i = 0; i < T; i++) sum += vectors[i * T + k]!;
    const c = (root / Math.sqrt(values[k]!)) * sum;
    for (let i = 0; i < T; i++) out[i]! += c * vectors[i * T + k]!;
  }
  return out;
}

/** TorchJD's `normalize` (divide by the trace, or zero below normEps) and `regularize` (+ regEps·I). */
function dualConeGram(G: Float64Array, T: number, normEps: number, regEps: number): Float64Array {
  let trace = 0;
  for (let i = 0; i < T; i++) trace += G[i * T + i]!;
  const H = trace < normEps ? new Float64Array(T * T) : G.map((x) => x / trace);
  for (let i = 0; i < T; i++) H[i * T + i]! += regEps;
  return H;
}

/** KKT tolerance of the dual-cone QP; its Gram is trace-normalised, so entries are O(1). */
const DUAL_CONE_QP_TOLERANCE = 1e-14;

/**
 * Weights v of the projection of Jᵀu onto the dual cone {x: Jx ≥ 0} of the gradients, from the
 * Gram H: min vᵀHv subject to v ≥ u (Proposition 1 of Quinton & Rey, "Jacobian Descent for
 * Multi-Objective Optimization", 2024; TorchJD `project_weights`). Substituting v = u + s gives a
 * non-negative QP in s, solved exactly by the active-set method in linalg.ts (TorchJD calls
 * quadprog, also an exact active-set solver); KKT tolerance 1e-14 on a Gram with O(1) entries.
 */
export function dualConeProjection(H: Float64Array, T: number, u: ArrayLike<number>): Float64Array {
  const c = gramTimes(H, u, T);
  const { x } = nonNegativeQp(H, c, T, DUAL_CONE_QP_TOLERANCE);
  return Float64Array.from({ length: T }, (_, i) => u[i]! + x[i]!);
}

/**
 * UPGrad (TorchJD `UPGradWeighting`, default preference 1/T): project each (1/T)·g_i onto the
 * dual cone and add the projections; weights = Σ_i v(e_i/T), on TorchJD's normalised and
 * regularised Gram (norm_eps, reg_eps = 1e-4 by default). Mean scale (no ×T here).
 */
export function upgradWeights(G: Float64Array, T: number, normEps = 1e-4, regEps = 1e-4): Float64Array {
  const H = dualConeGram(G, T, normEps, regEps);
  const out = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const u = new Float64Array(T);
    u[i] = 1 / T;
    const v = dualConeProjection(H, T, u);
    for (let k = 0; k < T; k++) out[k]! += v[k]!;
  }
  return out;
}

/** DualProj (TorchJD `DualProjWeighting`): project the mean gradient onto the dual cone. Mean scale. */
export function dualprojWeights(G: Float64Array, T: number, normEps = 1e-4, regEps = 1e-4): Float64Array {
  const H = dualConeGram(G, T, normEps, regEps);
  return dualConeProjection(H, T, new Float64Array(T).fill(1 / T));
}

/**
 * One step of GradVac (Wang et al., ICLR 2021, "Gradient Vaccine"), in LibMTL's formulation with
 * one group per shared layer (their group_type=1) or one group for the whole trunk: for each task i
 * (in order) and each other task j (in the order of rng.permutation(T − 1) over the ascending
 * other tasks, as for PCGrad), in each group k:
 *   ρ = ⟨g_i^PC, g_j⟩/(‖g_i^PC‖‖g_j‖ + 1e-8);
 *   if ρ < φ̂_ijk: g_i^PC += ‖g_i^PC‖(φ̂√(1−ρ²) − ρ√(1−φ̂²))/(‖g_j‖√(1−φ̂²) + 1e-8) · g_j;
 *   φ̂_ijk ← (1 − β)φ̂_ijk + βρ.
 * g_i^PC is tracked as coefficients over the original gradients of that group, so every inner
 * product comes from the group's Gram. Square roots of 1 − ρ² are clamped at 0 (ρ can exceed 1 by
 * rounding). Returns per-group coefficients of Σ_i g_i^PC (sum scale, like LibMTL) and updates
 * `targets` (T·T·K, index (i·T + j)·K + k) in place.
 */
export function gradvacStep(
  groupGrams: readonly Float64Array[],
  T: number,
  targets: Float64Array,
  beta: number,
  rng: Pick<Random, 'permutation'>,
): Float64Array[] {
  const K = groupGrams.length;
  if (targets.length !== T * T * K) throw new ReconError(`GradVac state has ${targets.length} targets, expected ${T * T * K}`);
  const rows = groupGrams.map(() => Array.from({ length: T }, (_, i) => Float64Array.from({ length: T }, (_, m) => (m === i ? 1 : 0))));
  for (let i = 0; i < T; i++) {
    const others: number[] = [];
    for (let j = 0; j < T; j++) if (j !== i) others.push(j);
    const order = rng.permutation(T - 1);
    for (let o = 0; o < order.length; o++) {
      const j = others[order[o]!]!;
      for (let k = 0; k < K; k++) {
        const G = groupGrams[k]!;
        const row = rows[k]![i]!;
        let dot = 0;
        for (let m = 0; m < T; m++) dot += row[m]! * G[m * T + j]!;
        const pcNorm = combinedNorm(G, row, T);
        const gjNorm = Math.sqrt(Math.max(G[j * T + j]!, 0));
        const rho = dot / (pcNorm * gjNorm + 1e-8);
        const idx = (i * T + j) * K + k;
        const phi = targets[idx]!;
        if (rho < phi) {
          const s1 = Math.sqrt(Math.max(1 - rho * rho, 0));
          const s2 = Math.sqrt(Math.max(1 - phi * phi, 0));
          row[j]! += (pcNorm * (phi * s1 - rho * s2)) / (gjNorm * s2 + 1e-8);
        }
        targets[idx] = (1 - beta) * phi + beta * rho;
      }
    }
  }
  return rows.map((groupRows) => {
    const out = new Float64Array(T);
    for (const row of groupRows) for (let m = 0; m < T; m++) out[m]! += row[m]!;
    return out;
  });
}
