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

export interface Optimizer {
  readonly kind: OptimizerKind;
  /** One update of every parameter that has a gradient, in place. */
  step(params: Map<string, Float32Array>, grads: Map<string, Float32Array>, lr: number): void;
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
  for (const b of hp.betas) if (!(b >= 0 && b < 1)) throw new Error(`Adam betas must lie in [0, 1), got ${hp.betas.join(', ')}`);
  if (hp.kind !== 'sgd' && hp.kind !== 'adam' && hp.kind !== 'none') throw new Error(`unknown optimizer kind ${String(hp.kind)}`);

  let steps = new Map<string, number>();
  let buffers = new Map<string, Float32Array>();

  const buffer = (name: BufferName, param: string, n: number): { data: Float32Array; fresh: boolean } => {
    const key = `${name}:${param}`;
    const existing = buffers.get(key);
    if (existing) {
      if (existing.length !== n) throw new Error(`optimizer buffer ${key} has ${existing.length} elements, parameter has ${n}`);
      return { data: existing, fresh: false };
    }
    const data = new Float32Array(n);
    buffers.set(key, data);
    return { data, fresh: true };
  };

  const sgdStep = (name: string, p: Float32Array, g: Float32Array, lr: number): void => {
    const wd = f32(hp.weightDecay);
    const mom = f32(hp.momentum);
    const alpha = f32(-lr);
    // torch: d_p = grad.add(param, alpha=wd); buf = clone(d_p) on the first step, else
    // buf.mul_(momentum).add_(d_p) (dampening 0); param.add_(buf, alpha=-lr).
    const buf = hp.momentum !== 0 ? buffer('momentum_buffer', name, p.length) : null;
    for (let k = 0; k < p.length; k++) {
      let d = hp.weightDecay !== 0 ? f32(g[k]! + wd * p[k]!) : g[k]!;
      if (buf) {
        d = buf.fresh ? d : f32(f32(mom * buf.data[k]!) + d);
        buf.data[k] = d;
      }
      p[k] = p[k]! + alpha * d;
    }
  };

  const adamStep = (name: string, p: Float32Array, g: Float32Array, lr: number, step: number): void => {
    const [beta1, beta2] = hp.betas;
    const m = buffer('exp_avg', name, p.length).data;
    const v = buffer('exp_avg_sq', name, p.length).data;
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
    for (let k = 0; k < p.length; k++) {
      const gk = hp.weightDecay !== 0 ? f32(g[k]! + wd * p[k]!) : g[k]!;
      // torch's lerp uses the `start + w·(end − start)` form for w < 0.5 and the mirrored one above.
      m[k] = w1 < 0.5 ? m[k]! + w1 * (gk - m[k]!) : gk - (gk - m[k]!) * (1 - w1);
      v[k] = f32(b2 * v[k]!) + w2 * gk * gk;
      // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
      const denom = f32(f32(f32(Math.sqrt(v[k]!)) / bc2Sqrt) + eps);
      // param.addcdiv_(exp_avg, denom, value=-step_size)
      p[k] = p[k]! + (value * m[k]!) / denom;
    }
  };

  return {
    kind: hp.kind,
    step(params, grads, lr) {
      checkNonNegative('lr', lr);
      if (hp.kind === 'none') return;
      for (const [name, g] of grads) {
        const p = params.get(name);
        if (!p) throw new Error(`gradient for unknown parameter ${name}`);
        if (p.length !== g.length) throw new Error(`gradient for ${name} has ${g.length} elements, parameter has ${p.length}`);
        const step = (steps.get(name) ?? 0) + 1;
        steps.set(name, step);
        if (hp.kind === 'sgd') sgdStep(name, p, g, lr);
        else adamStep(name, p, g, lr, step);
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
      if (h.format !== 'recon-onnx-optimizer' || h.version !== 1) throw new Error(`not a recon-onnx optimizer state (format ${String(h.format)}, version ${String(h.version)})`);
      const mismatch: string[] = [];
      if (h.kind !== hp.kind) mismatch.push(`kind ${h.kind} ≠ ${hp.kind}`);
      if (h.momentum !== hp.momentum) mismatch.push(`momentum ${h.momentum} ≠ ${hp.momentum}`);
      if (h.weightDecay !== hp.weightDecay) mismatch.push(`weightDecay ${h.weightDecay} ≠ ${hp.weightDecay}`);
      if (h.betas[0] !== hp.betas[0] || h.betas[1] !== hp.betas[1]) mismatch.push(`betas ${h.betas.join(',')} ≠ ${hp.betas.join(',')}`);
      if (h.eps !== hp.eps) mismatch.push(`eps ${h.eps} ≠ ${hp.eps}`);
      if (mismatch.length) throw new Error(`optimizer state does not match this optimizer: ${mismatch.join('; ')}`);
      for (const key of Object.keys(state.buffers)) {
        const sep = key.indexOf(':');
        if (sep < 0 || !BUFFER_NAMES.includes(key.slice(0, sep) as BufferName)) throw new Error(`unknown optimizer buffer ${key}`);
      }
      steps = new Map(Object.entries(h.steps));
      buffers = new Map(Object.entries(state.buffers).map(([k, b]) => [k, Float32Array.from(b)]));
    },
  };
}

function checkNonNegative(name: string, v: number): void {
  if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`optimizer ${name} must be a finite non-negative number, got ${v}`);
}
