/**
 * Small dense linear algebra on T×T matrices (T = number of tasks, a handful to a few dozen) for
 * the Gram-based multi-task methods. Row-major Float64Array throughout; everything is O(T³) and
 * deterministic, so a resumed scan reproduces an uninterrupted one bit for bit.
 */
import { InternalError } from '../util/errors.js';

/** Machine epsilon of float32, which the Aligned-MTL reference uses for its rank tolerance. */
export const FLOAT32_EPS = 2 ** -23;

export interface SymmetricEigen {
  /** Eigenvalues in ascending order (like torch.linalg.eigh). */
  values: Float64Array;
  /** Eigenvectors as columns: vectors[i * n + k] is component i of eigenvector k. */
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric n×n matrix by the cyclic Jacobi method. Jacobi rotations are
 * accurate to a few ulps of the largest eigenvalue and need no shifting strategy, which is all that
 * matters for the tiny matrices here. Sweeps stop when the off-diagonal mass no longer decreases
 * (or after 100 sweeps; a few are enough in practice).
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): SymmetricEigen {
  const a = Float64Array.from(matrix as ArrayLike<number>);
  if (a.length !== n * n) throw new InternalError(`matrix has ${a.length} entries, expected ${n}×${n}`);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += a[i * n + i]! * a[i * n + i]!;
      for (let j = i + 1; j < n; j++) off += a[i * n + j]! * a[i * n + j]!;
    }
    if (off === 0 || off <= 1e-36 * diag) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        // Rotation angle that zeroes a[p][q] (Golub & Van Loan, Algorithm 8.4.1).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[x * n + x]! - a[y * n + y]!);
  const values = Float64Array.from(order, (k) => a[k * n + k]!);
  const vectors = new Float64Array(n * n);
  order.forEach((k, col) => {
    for (let i = 0; i < n; i++) vectors[i * n + col] = v[i * n + k]!;
  });
  return { values, vectors };
}

/**
 * Moore–Penrose pseudo-inverse of a symmetric matrix times a vector, A⁺·b, dropping eigenvalues
 * at or below rtol·max|λ| (rtol defaults to n·eps64, the float64 default of torch.linalg.pinv).
 */
export function symmetricPinvTimes(matrix: ArrayLike<number>, b: ArrayLike<number>, n: number, rtol = n * Number.EPSILON): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  let top = 0;
  for (const x of values) top = Math.max(top, Math.abs(x));
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const lambda = values[k]!;
    if (!(Math.abs(lambda) > rtol * top)) continue;
    let proj = 0;
    for (let i = 0; i < n; i++) proj += vectors[i * n + k]! * b[i]!;
    proj /= lambda;
    for (let i = 0; i < n; i++) out[i]! += proj * vectors[i * n + k]!;
  }
  return out;
}

/**
 * Solves A·x = b (A row-major n×n) by Gaussian elimination with partial pivoting. Returns
 * undefined when a pivot is at most `singularTolerance` in absolute value.
 */
export function solveLinear(matrix: ArrayLike<number>, b: ArrayLike<number>, n: number, singularTolerance = 0): Float64Array | undefined {
  const a = Float64Array.from(matrix as ArrayLike<number>);
  const x = Float64Array.from(b as ArrayLike<number>);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r * n + col]!) > Math.abs(a[pivot * n + col]!)) pivot = r;
    const p = a[pivot * n + col]!;
    if (!(Math.abs(p) > singularTolerance)) return undefined;
    if (pivot !== col) {
      for (let k = 0; k < n; k++) {
        const t = a[col * n + k]!;
        a[col * n + k] = a[pivot * n + k]!;
        a[pivot * n + k] = t;
      }
      const t = x[col]!;
      x[col] = x[pivot]!;
      x[pivot] = t;
    }
    for (let r = col + 1; r < n; r++) {
      const f = a[r * n + col]! / p;
      if (f === 0) continue;
      for (let k = col; k < n; k++) a[r * n + k]! -= f * a[col * n + k]!;
      x[r]! -= f * x[col]!;
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r]!;
    for (let k = r + 1; k < n; k++) s -= a[r * n + k]! * x[k]!;
    x[r] = s / a[r * n + r]!;
  }
  return x;
}

/**
 * Smallest singular value of a square matrix by one-sided Jacobi (Hestenes) orthogonalisation of
 * its columns: the singular values are the final column norms, accurate to a few ulps of the
 * largest one (going through the eigenvalues of MᵀM would lose half the digits of small ones).
 */
export function smallestSingularValue(matrix: ArrayLike<number>, n: number): number {
  const a = Float64Array.from(matrix as ArrayLike<number>);
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let k = 0; k < n; k++) {
          const x = a[k * n + p]!;
          const y = a[k * n + q]!;
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let k = 0; k < n; k++) {
          const x = a[k * n + p]!;
          const y = a[k * n + q]!;
          a[k * n + p] = c * x - s * y;
          a[k * n + q] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  let smallest = Infinity;
  for (let j = 0; j < n; j++) {
    let sq = 0;
    for (let k = 0; k < n; k++) sq += a[k * n + j]! * a[k * n + j]!;
    smallest = Math.min(smallest, Math.sqrt(sq));
  }
  return n === 0 ? 0 : smallest;
}

export interface NonNegativeQpResult {
  x: Float64Array;
  iterations: number;
}

/**
 * min ½xᵀHx + cᵀx subject to x ≥ 0, for symmetric positive-definite H (n×n, row-major), by the
 * primal active-set method of Lawson & Hanson (NNLS, 1974) carried over to a quadratic objective:
 * grow the free set by the most negative partial derivative, solve the equality-constrained
 * subproblem on the free set exactly, and step back to the boundary when that solution leaves the
 * orthant. Each subproblem is solved exactly by Gaussian elimination, so the result is the exact
 * optimum up to rounding; the method stops when every partial derivative of a bound variable is
 * ≥ −tolerance (KKT). Finite for positive-definite H; capped at 50·(n + 1) subproblem solves.
 */
export function nonNegativeQp(H: ArrayLike<number>, c: ArrayLike<number>, n: number, tolerance: number): NonNegativeQpResult {
  const x = new Float64Array(n);
  const free = new Array<boolean>(n).fill(false);
  const gradient = (): Float64Array => {
    const g = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = c[i]!;
      for (let j = 0; j < n; j++) s += H[i * n + j]! * x[j]!;
      g[i] = s;
    }
    return g;
  };
  const subproblem = (): Float64Array | undefined => {
    const idx: number[] = [];
    for (let i = 0; i < n; i++) if (free[i]) idx.push(i);
    const m = idx.length;
    const A = new Float64Array(m * m);
    const b = new Float64Array(m);
    idx.forEach((i, r) => {
      b[r] = -c[i]!;
      idx.forEach((j, k) => (A[r * m + k] = H[i * n + j]!));
    });
    const z = solveLinear(A, b, m);
    if (!z) return undefined;
    const full = new Float64Array(n);
    idx.forEach((i, r) => (full[i] = z[r]!));
    return full;
  };
  let iterations = 0;
  const cap = 50 * (n + 1);
  for (;;) {
    const g = gradient();
    let enter = -1;
    for (let i = 0; i < n; i++) if (!free[i] && g[i]! < -tolerance && (enter < 0 || g[i]! < g[enter]!)) enter = i;
    if (enter < 0 || iterations >= cap) break;
    free[enter] = true;
    for (;;) {
      iterations++;
      const z = subproblem();
      if (!z) return { x, iterations };
      let allPositive = true;
      for (let i = 0; i < n; i++) if (free[i] && !(z[i]! > 0)) allPositive = false;
      if (allPositive) {
        x.set(z);
        break;
      }
      // Step from x towards z as far as the orthant allows, then fix the variables that hit zero.
      let step = 1;
      let blocking = -1;
      for (let i = 0; i < n; i++) {
        if (free[i] && !(z[i]! > 0)) {
          const denom = x[i]! - z[i]!;
          const t = denom > 0 ? x[i]! / denom : 0;
          if (blocking < 0 || t < step) {
            step = t;
            blocking = i;
          }
        }
      }
      for (let i = 0; i < n; i++) {
        if (!free[i]) continue;
        x[i] = i === blocking ? 0 : x[i]! + step * (z[i]! - x[i]!);
        if (!(x[i]! > 0)) {
          x[i] = 0;
          free[i] = false;
        }
      }
      if (iterations >= cap) return { x, iterations };
    }
  }
  return { x, iterations };
}
