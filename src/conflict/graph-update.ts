/**
 * The training scan's update inside the graph (src/autodiff/update-graph.ts): which path a method
 * takes, the weights and scalar inputs of each step, and the optimizer state the graph carries
 * from step to step, kept in the host optimizer's checkpoint format so that scans resume across
 * paths.
 *
 * Paths, and what one step moves between host and device (P = bytes of the trainable parameters,
 * S = optimizer state: 0 for plain SGD, P with momentum, 2P for Adam; T tasks):
 * - `host`: parameters in (P), every task's gradient out (≈ T·P), combination and optimizer
 *   update in JavaScript. One forward, T backward passes.
 * - `graph`: parameters and state in, updated parameters and state out (P + S each way); nothing
 *   else but losses, Grams and BN statistics. One forward, T backward passes. For methods whose
 *   weights are known before the step (no reads of this step's losses or Grams).
 * - `two-phase`: a first run for the losses and Grams (P in), the method's weights on the host,
 *   then the `graph` run (P + S each way): twice the forward and backward FLOPs, for methods
 *   whose weights need this step's Grams or losses.
 */
import { ReconError, InternalError } from '../util/errors.js';
import type { HostTensor } from '../data/host-tensor.js';
import type { InGraphUpdate, UpdateGraphIO } from '../autodiff/update-graph.js';
import { updateScalars } from '../autodiff/update-graph.js';
import type { MethodInstance, MethodStepResult } from './method-registry.js';
import type { OptimizerState } from './optimizer.js';

export type UpdateMode = 'auto' | 'host' | 'graph';
export type UpdatePath = 'host' | 'graph' | 'two-phase';

/** Whether a method's weights for a step are known before the step's run. */
export function weightsBeforeRun(method: MethodInstance): boolean {
  return method.spec.needs.length === 0 && !method.spec.stateful && !method.learned && !method.afterUpdate;
}

/**
 * The path a training scan takes. `auto`: in the graph when the method allows a single run; for
 * the other methods two phases on CUDA (a second forward/backward on the device costs less than
 * copying T gradients over PCIe and updating on the host) and the host path on the CPU (where the
 * copies are memory copies and a second forward/backward would double the step).
 */
export function chooseUpdatePath(mode: UpdateMode, method: MethodInstance, device: 'cpu' | 'cuda'): UpdatePath {
  if (mode === 'host') return 'host';
  if (weightsBeforeRun(method)) return 'graph';
  if (mode === 'graph') return 'two-phase';
  return device === 'cuda' ? 'two-phase' : 'host';
}

/** Row layout of the weights input: shared, task-specific, then one row per layer group. */
export function weightRows(
  params: readonly string[],
  paramTasks: ReadonlyMap<string, readonly number[]>,
  groups: readonly { params: readonly string[] }[],
): { rowOf: Map<string, number>; rows: number } {
  const groupOf = new Map<string, number>();
  groups.forEach((g, k) => g.params.forEach((p) => groupOf.set(p, k)));
  const rowOf = new Map<string, number>();
  for (const p of params) {
    const reaching = paramTasks.get(p) ?? [];
    const group = groupOf.get(p);
    rowOf.set(p, reaching.length >= 2 ? (group !== undefined ? 2 + group : 0) : 1);
  }
  return { rowOf, rows: 2 + groups.length };
}

/** The weights input for one step: the method's coefficients laid out by `weightRows`. */
export function weightsInput(out: MethodStepResult, T: number, groups: number): Float32Array {
  const w = new Float32Array((2 + groups) * T);
  w.set(Float32Array.from(out.shared), 0);
  w.set(Float32Array.from(out.taskSpecific), T);
  for (let k = 0; k < groups; k++) w.set(Float32Array.from(out.perGroup?.[k] ?? out.shared), (2 + k) * T);
  return w;
}

/**
 * Parameters and optimizer state that the update graph takes in and gives back each step. The
 * state lives here (not in the host optimizer) while the scan runs in the graph.
 */
export class GraphUpdateState {
  private readonly state = new Map<string, Float32Array>();
  /** Steps taken by every trainable parameter (torch's per-parameter `step`; equal for all here). */
  private steps = 0;

  constructor(
    readonly spec: InGraphUpdate,
    private readonly dims: ReadonlyMap<string, readonly number[]>,
  ) {}

  /** The state keys of each trainable parameter, as the graph's inputs name them. */
  private keys(): string[] {
    const names = this.spec.optimizer.kind === 'adam' ? ['exp_avg', 'exp_avg_sq'] : this.spec.optimizer.momentum !== 0 ? ['momentum_buffer'] : [];
    return [...this.spec.rowOf.keys()].flatMap((p) => names.map((n) => `${n}:${p}`));
  }

  /** Takes the trainable parameters' buffers and step count from a (host-format) optimizer state. */
  load(state: OptimizerState): void {
    const counts = new Set([...this.spec.rowOf.keys()].map((p) => state.header.steps[p] ?? 0));
    if (counts.size > 1) throw new ReconError("cannot resume: the checkpoint's parameters have taken different numbers of optimizer steps");
    this.steps = [...counts][0] ?? 0;
    for (const key of this.keys()) {
      const b = state.buffers[key];
      if (b) this.state.set(key, Float32Array.from(b));
    }
  }

  /** Feeds of one step: state (zeros where torch has no buffer yet), weights and scalars. */
  feeds(io: UpdateGraphIO, lr: number, weights: Float32Array | undefined): Record<string, HostTensor> {
    const feeds: Record<string, HostTensor> = {};
    for (const [key, { input }] of io.state) {
      const param = key.slice(key.indexOf(':') + 1);
      const dims = this.dims.get(param)!;
      let s = this.state.get(key);
      if (!s) this.state.set(key, (s = new Float32Array(dims.reduce((a, d) => a * d, 1))));
      feeds[input] = { dtype: 'float32', dims: dims.slice(), data: s };
    }
    if (io.weights) {
      if (!weights) throw new InternalError('the update graph needs combination weights');
      feeds[io.weights] = { dtype: 'float32', dims: [weights.length], data: weights };
    }
    feeds[io.scalars] = { dtype: 'float32', dims: [2], data: updateScalars(this.spec.optimizer, lr, this.steps + 1) };
    return feeds;
  }

  /** Adopts a step's updated state (its parameters are the caller's). */
  commit(updated: ReadonlyMap<string, Float32Array>): void {
    for (const [k, v] of updated) this.state.set(k, v);
    this.steps++;
  }

  /** The state in the host optimizer's format, merged into `host` (the learned scalars' state). */
  merged(host: OptimizerState): OptimizerState {
    const steps = { ...host.header.steps };
    if (this.steps > 0) for (const p of this.spec.rowOf.keys()) steps[p] = this.steps;
    const buffers = { ...host.buffers };
    for (const [k, v] of this.state) if (this.steps > 0) buffers[k] = v;
    return { header: { ...host.header, steps }, buffers };
  }
}
