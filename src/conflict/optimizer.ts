/**
 * torch.optim.SGD and torch.optim.Adam over named float32 parameters, updated in place.
 *
 * Numerics follow PyTorch's single-tensor CPU path for float32 tensors: every tensor that torch
 * materialises (the weight-decayed gradient, momentum / moment buffers, sqrt(v), the denominator,
 * the parameter) is rounded to float32, and Python-float hyper-parameters passed as `alpha` /
 * `value` / `weight` are cast to float32 as ATen does for float32 tensors. Within one elementwise
 * kernel we compute in float64 and round once. Torch's vectorised kernels may or may not fuse a
 * multiply-add (FMA), so bit equality with torch is not guaranteed, but results agree to a few
 * float32 ulps per step.
 *
 * Per-parameter state (like torch's `state[p]`): a parameter that gets no gradient in a step is
 * skipped, so Adam keeps one step counter per parameter.
 */
import { ReconError } from '../util/errors.js';

export type OptimizerKind = 'sgd' | 'adam' | 'none';

export interface OptimizerConfig {
  kind: OptimizerKind;
  /** Base learning rate (recorded in the state; each step takes the scheduled lr explicitly). */
  lr: number;
  /** SGD only. Default 0 (no momentum buffer). */
  momentum?: number;
  /** L2 penalty added to the gradient: g += weightDecay·θ (torch's `weight_decay`). Default 0. */
  weightDecay?: number;
  /** Adam only. Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Adam only. Default 1e-8. */
  eps?: number;
}

/** The JSON-serialisable part of a saved optimizer. */
export interface OptimizerStateHeader {
  format: 'recon-onnx-optimizer';
  version: 1;
  kind: OptimizerKind;
  lr: number;
  momentum: number;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  /** Number of steps each parameter has taken (torch's per-parameter `step`). */
  steps: Record<string, number>;
}

/**
 * A saved optimizer. Buffer keys are `<buffer>:<parameter name>`, with buffer one of
 * `momentum_buffer` (SGD), `exp_avg`, `exp_avg_sq` (Adam), torch's state names. The buffer name
 * comes first because parameter names may themselves contain ':'.
 */
export interface OptimizerState {
  header: OptimizerStateHeader;
  buffers: Record<string, Float32Array>;
}

/**
 * A parameter's gradient as a weighted sum of parts (e.g. per-task gradients and a combination
 * method's weights): Σ_i weights[i]·parts[i], accumulated in part order into float32 exactly as
 * adding each weighted part into a zeroed Float32Array would. No parts: a zero gradient.
 */
export interface CombinedGradient {
  parts: readonly Float32Array[];
  weights: readonly number[];
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  /** One update of every parameter that has a gradient, in place. */
  step(params: Map<string, Float32Array>, grads: Map<string, Float32Array>, lr: number): void;
  /**
   * The same update with each gradient given as a weighted sum of parts, combined on the fly in
   * cache-sized chunks: no gradient-sized buffer is allocated, and the combination and the
   * update share one sweep over memory. Equal, bit for bit, to `step` on the materialised sums.
   */
  stepCombined(params: Map<string, Float32Array>, grads: Map<string, CombinedGradient>, lr: number): void;
  /** A deep copy of the state: later steps do not change it. */
  state(): OptimizerState;
  /** Replace the state with a deep copy of `state`; its kind and hyper-parameters must match. */
  load(state: OptimizerState): void;
}

type BufferName = 'momentum_buffer' | 'exp_avg' | 'exp_avg_sq';
const BUFFER_NAMES: readonly BufferName[] = ['momentum_buffer', 'exp_avg', 'exp_avg_sq'];

const f32 = Math.fround;

export function createOptimizer(config: OptimizerConfig): Optimizer {
  const hp = {
    kind: config.kind,
    lr: config.lr,
    momentum: config.momentum ?? 0,
    weightDecay: config.weightDecay ?? 0,
    betas: [config.betas?.[0] ?? 0.9, config.betas?.[1] ?? 0.999] as [number, number],
    eps: config.eps ?? 1e-8,
  };
  checkNonNegative('lr', hp.lr);
  checkNonNegative('momentum', hp.momentum);
  checkNonNegative('weightDecay', hp.weightDecay);
  checkNonNegative('eps', hp.eps);
  for (const b of hp.betas) if (!(b >= 0 && b < 1)) throw new ReconError(`Adam betas must lie in [0, 1), got ${hp.betas.join(', ')}`);
  if (hp.kind !== 'sgd' && hp.kind !== 'adam' && hp.kind !== 'none') throw new ReconError(`unknown optimizer kind ${String(hp.kind)}`);

  let steps = new Map<string, number>();
  let buffers = new Map<string, Float32Array>();

  const buffer = (name: BufferName, param: string, n: number): Float32Array => {
    const key = `${name}:${param}`;
    const existing = buffers.get(key);
    if (existing) {
      if (existing.length !== n) throw new ReconError(`optimizer buffer ${key} has ${existing.length} elements, parameter has ${n}`);
      return existing;
    }
    const data = new Float32Array(n);
    buffers.set(key, data);
    return data;
  };

  // The kernels update p[start, end) from g[k − start]: the whole gradient (start = 0) or one
  // chunk of a combined gradient.
  const sgdRange = (name: string, p: Float32Array, g: Float32Array, start: number, end: number, lr: number, fresh: boolean): void => {
    const wd = f32(hp.weightDecay);
    const mom = f32(hp.momentum);
    const alpha = f32(-lr);
    // torch: d_p = grad.add(param, alpha=wd); buf = clone(d_p) on the first step, else
    // buf.mul_(momentum).add_(d_p) (dampening 0); param.add_(buf, alpha=-lr).
    const buf = hp.momentum !== 0 ? buffer('momentum_buffer', name, p.length) : null;
    const shift = -start;
    for (let k = start; k < end; k++) {
      let d = hp.weightDecay !== 0 ? f32(g[k + shift]! + wd * p[k]!) : g[k + shift]!;
      if (buf) {
        d = fresh ? d : f32(f32(mom * buf[k]!) + d);
        buf[k] = d;
      }
      p[k] = p[k]! + alpha * d;
    }
  };

  const adamRange = (name: string, p: Float32Array, g: Float32Array, start: number, end: number, lr: number): void => {
    const step = steps.get(name)!;
    const [beta1, beta2] = hp.betas;
    const m = buffer('exp_avg', name, p.length);
    const v = buffer('exp_avg_sq', name, p.length);
    const wd = f32(hp.weightDecay);
    // exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    const w1 = f32(1 - beta1);
    const b2 = f32(beta2);
    const w2 = f32(1 - beta2);
    // Bias corrections and step size are Python floats (double) in torch; then cast for the kernels.
    const bc1 = 1 - beta1 ** step;
    const bc2Sqrt = f32(Math.sqrt(1 - beta2 ** step));
    const value = f32(-lr / bc1);
    const eps = f32(hp.eps);
    const shift = -start;
    for (let k = start; k < end; k++) {
      const gk = hp.weightDecay !== 0 ? f32(g[k + shift]! + wd * p[k]!) : g[k + shift]!;
      // torch's lerp uses the `start + w·(end − start)` form for w < 0.5 and the mirrored one above.
      m[k] = w1 < 0.5 ? m[k]! + w1 * (gk - m[k]!) : gk - (gk - m[k]!) * (1 - w1);
      v[k] = f32(b2 * v[k]!) + w2 * gk * gk;
      // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
      const denom = f32(f32(f32(Math.sqrt(v[k]!)) / bc2Sqrt) + eps);
      // param.addcdiv_(exp_avg, denom, value=-step_size)
      p[k] = p[k]! + (value * m[k]!) / denom;
    }
  };

  const kernel = (name: string, p: Float32Array, g: Float32Array, start: number, end: number, lr: number, fresh: boolean): void =>
    hp.kind === 'sgd' ? sgdRange(name, p, g, start, end, lr, fresh) : adamRange(name, p, g, start, end, lr);
  /** Counts the step of a parameter; whether its momentum buffer is new (torch clones d_p into it). */
  const begin = (name: string): boolean => {
    steps.set(name, (steps.get(name) ?? 0) + 1);
    return hp.kind === 'sgd' && hp.momentum !== 0 && !buffers.has(`momentum_buffer:${name}`);
  };
  const scratch = new Float32Array(CHUNK);

  return {
    kind: hp.kind,
    step(params, grads, lr) {
      checkNonNegative('lr', lr);
      if (hp.kind === 'none') return;
      for (const [name, g] of grads) {
        const p = paramFor(params, name, g.length);
        const fresh = begin(name);
        kernel(name, p, g, 0, p.length, lr, fresh);
      }
    },
    stepCombined(params, grads, lr) {
      checkNonNegative('lr', lr);
      if (hp.kind === 'none') return;
      for (const [name, { parts, weights }] of grads) {
        if (parts.length !== weights.length) throw new ReconError(`gradient for ${name}: ${parts.length} parts but ${weights.length} weights`);
        const p = params.get(name);
        if (!p) throw new ReconError(`gradient for unknown parameter ${name}`);
        for (const part of parts)
          if (part.length !== p.length) throw new ReconError(`gradient for ${name} has ${part.length} elements, parameter has ${p.length}`);
        const fresh = begin(name);
        if (hp.kind === 'sgd' && hp.momentum === 0 && hp.weightDecay === 0 && parts.length <= 2) {
          plainSgdCombined(p, parts, weights, f32(-lr));
          continue;
        }
        for (let start = 0; start < p.length; start += CHUNK) {
          const end = Math.min(p.length, start + CHUNK);
          combineInto(scratch, parts, weights, start, end);
          kernel(name, p, scratch, start, end, lr, fresh);
        }
      }
    },
    state() {
      return {
        header: {
          format: 'recon-onnx-optimizer',
          version: 1,
          kind: hp.kind,
          lr: hp.lr,
          momentum: hp.momentum,
          weightDecay: hp.weightDecay,
          betas: [hp.betas[0], hp.betas[1]],
          eps: hp.eps,
          steps: Object.fromEntries(steps),
        },
        buffers: Object.fromEntries([...buffers].map(([k, b]) => [k, Float32Array.from(b)])),
      };
    },
    load(state) {
      const h = state.header;
      if (h.format !== 'recon-onnx-optimizer' || h.version !== 1)
        throw new ReconError(`not a recon-onnx optimizer state (format ${String(h.format)}, version ${String(h.version)})`);
      const mismatch: string[] = [];
      if (h.kind !== hp.kind) mismatch.push(`kind ${h.kind} ≠ ${hp.kind}`);
      if (h.momentum !== hp.momentum) mismatch.push(`momentum ${h.momentum} ≠ ${hp.momentum}`);
      if (h.weightDecay !== hp.weightDecay) mismatch.push(`weightDecay ${h.weightDecay} ≠ ${hp.weightDecay}`);
      if (h.betas[0] !== hp.betas[0] || h.betas[1] !== hp.betas[1]) mismatch.push(`betas ${h.betas.join(',')} ≠ ${hp.betas.join(',')}`);
      if (h.eps !== hp.eps) mismatch.push(`eps ${h.eps} ≠ ${hp.eps}`);
      if (mismatch.length) throw new ReconError(`optimizer state does not match this optimizer: ${mismatch.join('; ')}`);
      for (const key of Object.keys(state.buffers)) {
        const sep = key.indexOf(':');
        if (sep < 0 || !BUFFER_NAMES.includes(key.slice(0, sep) as BufferName)) throw new ReconError(`unknown optimizer buffer ${key}`);
      }
      steps = new Map(Object.entries(h.steps));
      buffers = new Map(Object.entries(state.buffers).map(([k, b]) => [k, Float32Array.from(b)]));
    },
  };
}

/**
 * Plain SGD (no momentum, no weight decay) on a gradient of at most two parts, in one loop: the
 * common training step (equal weights over two tasks), with the same float32 roundings as
 * combining into a buffer and then `param += −lr·grad`.
 */
function plainSgdCombined(p: Float32Array, parts: readonly Float32Array[], weights: readonly number[], alpha: number): void {
  const n = p.length;
  if (parts.length === 0) return; // a zero gradient: p + (−lr)·0 is p.
  const g0 = parts[0]!;
  const w0 = weights[0]!;
  if (parts.length === 1) {
    for (let k = 0; k < n; k++) p[k] = p[k]! + alpha * f32(w0 * g0[k]!);
    return;
  }
  const g1 = parts[1]!;
  const w1 = weights[1]!;
  for (let k = 0; k < n; k++) p[k] = p[k]! + alpha * f32(f32(w0 * g0[k]!) + w1 * g1[k]!);
}

/** Elements per combination chunk: the chunk and its slices of the parts stay in cache. */
const CHUNK = 4096;

/**
 * out[0, end − start) = Σ_i weights[i]·parts[i][start, end), each addition rounded to float32 in
 * part order: what `g[k] += w·part[k]` into a zeroed Float32Array computes.
 */
function combineInto(out: Float32Array, parts: readonly Float32Array[], weights: readonly number[], start: number, end: number): void {
  const n = end - start;
  if (parts.length === 0) {
    out.fill(0, 0, n);
    return;
  }
  const first = parts[0]!;
  const w0 = weights[0]!;
  for (let k = 0; k < n; k++) out[k] = w0 * first[start + k]!;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    const w = weights[i]!;
    for (let k = 0; k < n; k++) out[k] = out[k]! + w * part[start + k]!;
  }
}

function paramFor(params: Map<string, Float32Array>, name: string, length: number): Float32Array {
  const p = params.get(name);
  if (!p) throw new ReconError(`gradient for unknown parameter ${name}`);
  if (p.length !== length) throw new ReconError(`gradient for ${name} has ${length} elements, parameter has ${p.length}`);
  return p;
}

function checkNonNegative(name: string, v: number): void {
  if (!(v >= 0) || !Number.isFinite(v)) throw new ReconError(`optimizer ${name} must be a finite non-negative number, got ${v}`);
}
