/**
 * The training step's combination and optimizer update as graph nodes, so that one session run
 * takes the parameters and optimizer state in and gives the updated ones out, and the T per-task
 * gradients never leave the graph (on a GPU without IO binding each of them was a PCIe copy per
 * step; on the CPU a 45 MB copy into JavaScript per task plus a host update sweep).
 *
 * Numerics mirror the host optimizer (src/conflict/optimizer.ts, itself torch.optim's float32
 * path) operation by operation: each graph op rounds to float32 where the host rounds once per
 * kernel expression, so the two agree to a few float32 ulps per step (as the host path and torch
 * do); the combination weights are fed as float32.
 */
import type { GraphBuilder } from '../onnx/builder.js';
import { makeValueInfo } from '../onnx/value-info.js';
import type { Graph } from '../onnx/graph.js';

export interface InGraphOptimizer {
  kind: 'sgd' | 'adam';
  momentum: number;
  weightDecay: number;
  betas: readonly [number, number];
  eps: number;
}

export interface InGraphUpdate {
  optimizer: InGraphOptimizer;
  /**
   * Row of the weights input whose entries multiply each task's gradient of the parameter (every
   * trainable parameter needs one). The weights input is float32 [rows·T], row-major.
   */
  rowOf: ReadonlyMap<string, number>;
  rows: number;
  /**
   * Every weight is 1 (equal weighting): no weights input, the combined gradient is the plain sum
   * of the task gradients in task order.
   */
  unitWeights?: boolean;
}

/** Names of the inputs and outputs the update adds to the graph. */
export interface UpdateGraphIO {
  /** float32 [rows·T] (absent with unit weights). */
  weights: string | undefined;
  /** float32 [2]: SGD [−lr, unused]; Adam [−lr / (1 − β1^t), √(1 − β2^t)], as the host computes them. */
  scalars: string;
  /** parameter → output with its updated value. */
  params: Map<string, string>;
  /** Optimizer buffer key (`momentum_buffer:<p>`, `exp_avg:<p>`, `exp_avg_sq:<p>`) → its input and updated output. */
  state: Map<string, { input: string; output: string }>;
}

export const UPDATE_WEIGHTS_INPUT = 'recon/update/weights';
export const UPDATE_SCALARS_INPUT = 'recon/update/scalars';

const f32 = Math.fround;

/**
 * Appends, for every parameter of `rowOf`, Σ_t w[row, t]·g_t (in task order) and the optimizer
 * update; the parameters must already be graph inputs. `grads` maps task → parameter → gradient
 * value (a task missing a parameter contributes nothing, as on the host).
 */
export function appendUpdate(
  b: GraphBuilder,
  g: Graph,
  tasks: readonly string[],
  grads: ReadonlyMap<string, ReadonlyMap<string, string>>,
  dimsOf: (value: string) => readonly number[],
  update: InGraphUpdate,
): UpdateGraphIO {
  const T = tasks.length;
  const opt = update.optimizer;
  const weights = update.unitWeights ? undefined : b.input(UPDATE_WEIGHTS_INPUT, 'float32', [update.rows * T]);
  const scalars = b.input(UPDATE_SCALARS_INPUT, 'float32', [2]);
  const negLrOrStep = gatherScalar(b, scalars, 0);
  const bc2Sqrt = opt.kind === 'adam' ? gatherScalar(b, scalars, 1) : undefined;
  const weightCache = new Map<number, string>();
  const weightAt = (row: number, t: number): string => {
    const k = row * T + t;
    let w = weightCache.get(k);
    if (!w) weightCache.set(k, (w = gatherScalar(b, weights!, k)));
    return w;
  };
  const constant = (base: string, v: number): string => b.scalar(`recon/update/${base}`, f32(v));

  const io: UpdateGraphIO = { weights, scalars, params: new Map(), state: new Map() };
  const stateOutputs: ReturnType<typeof makeValueInfo>[] = [];
  const stateInput = (key: string, dims: readonly number[]): { input: string; output: string } => {
    const input = b.input(b.name(`recon/update/state/${key}`), 'float32', dims);
    const output = b.name(`recon/update/new_state/${key}`);
    io.state.set(key, { input, output });
    stateOutputs.push(makeValueInfo(output, 'float32', dims));
    return { input, output };
  };

  for (const [p, row] of update.rowOf) {
    const dims = dimsOf(p);
    // Σ_t w_t·g_t in task order, as the host's combineInto (no parts: a zero gradient).
    let combined: string | undefined;
    tasks.forEach((task, t) => {
      const gt = grads.get(task)?.get(p);
      if (!gt) return;
      const term = update.unitWeights ? gt : b.op1('Mul', [gt, weightAt(row, t)]);
      combined = combined === undefined ? term : b.op1('Add', [combined, term]);
    });
    if (combined === undefined) combined = b.op1('ConstantOfShape', [b.int64s('recon/update/shape', dims)]);
    const decayed = opt.weightDecay !== 0 ? b.op1('Add', [combined, b.op1('Mul', [p, constant('weight_decay', opt.weightDecay)])]) : combined;
    const out = b.name(`recon/update/param/${p}`);
    if (opt.kind === 'sgd') {
      let direction = decayed;
      if (opt.momentum !== 0) {
        // torch: buf = momentum·buf + d_p (dampening 0); the first step feeds a zero buffer, whose
        // result is d_p exactly (torch clones d_p into the buffer).
        const buf = stateInput(`momentum_buffer:${p}`, dims);
        direction = b.op1('Add', [b.op1('Mul', [buf.input, constant('momentum', opt.momentum)]), decayed], {}, { outputs: [buf.output] });
      }
      b.op1('Add', [p, b.op1('Mul', [direction, negLrOrStep])], {}, { outputs: [out] });
    } else {
      const [beta1, beta2] = opt.betas;
      const m = stateInput(`exp_avg:${p}`, dims);
      const v = stateInput(`exp_avg_sq:${p}`, dims);
      const w1 = f32(1 - beta1);
      // exp_avg.lerp_(grad, 1 − β1): torch's lerp form switches at weight 0.5.
      const diff = b.op1('Sub', [decayed, m.input]);
      if (w1 < 0.5) b.op1('Add', [m.input, b.op1('Mul', [diff, constant('w1', w1)])], {}, { outputs: [m.output] });
      else b.op1('Sub', [decayed, b.op1('Mul', [diff, constant('one_minus_w1', 1 - w1)])], {}, { outputs: [m.output] });
      // exp_avg_sq·β2 + (1 − β2)·g·g
      const sq = b.op1('Mul', [b.op1('Mul', [decayed, constant('w2', 1 - beta2)]), decayed]);
      b.op1('Add', [b.op1('Mul', [v.input, constant('beta2', beta2)]), sq], {}, { outputs: [v.output] });
      const denom = b.op1('Add', [b.op1('Div', [b.op1('Sqrt', [v.output]), bc2Sqrt!]), constant('eps', opt.eps)]);
      b.op1('Add', [p, b.op1('Div', [b.op1('Mul', [m.output, negLrOrStep]), denom])], {}, { outputs: [out] });
    }
    io.params.set(p, out);
    g.outputs.push(makeValueInfo(out, 'float32', dims));
  }
  g.outputs.push(...stateOutputs);
  return io;
}

function gatherScalar(b: GraphBuilder, vector: string, index: number): string {
  return b.op1('Gather', [vector, b.scalar('recon/update/index', index, 'int64')], { axis: 0 });
}

/**
 * The scalars input of one step, computed as the host optimizer computes them (Python floats in
 * torch, then cast to float32 for the kernels). `step` counts from 1.
 */
export function updateScalars(opt: InGraphOptimizer, lr: number, step: number): Float32Array {
  if (opt.kind === 'sgd') return Float32Array.of(f32(-lr), 0);
  const [beta1, beta2] = opt.betas;
  return Float32Array.of(f32(-lr / (1 - beta1 ** step)), f32(Math.sqrt(1 - beta2 ** step)));
}
