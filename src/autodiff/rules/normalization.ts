import { float, GraphBuilder } from '../../onnx/builder.js';
import type { DType } from '../../onnx/dtype.js';
import { dtypeCode } from '../../onnx/dtype.js';
import { ReconError, InternalError } from '../../util/errors.js';
import type { Graph } from '../../onnx/graph.js';
import type { Node } from '../../onnx/node.js';
import { tensorTypeOf } from '../../onnx/value-info.js';
import type { Emitter } from '../emitter.js';
import type { GradientContext, GradientRule, InputGradients } from '../types.js';
import { gradDType, normalizeAxis, numel, scalarOf } from './emit-util.js';
import { sharedValue } from './shared-values.js';

/** Recomputed normalisation statistics over `axes` (keepdims): centred x, 1/√(var+ε) and x̂. */
interface Stats {
  centred: string;
  invStd: string;
  xHat: string;
}

function batchStats(e: Emitter, x: string, axes: readonly number[], epsilon: number, dtype: DType): Stats {
  const mean = e.reduceMean(x, axes, true);
  const centred = e.sub(x, mean);
  const variance = e.reduceMean(e.mul(centred, centred), axes, true);
  const invStd = e.op1('Reciprocal', [e.op1('Sqrt', [e.add(variance, scalarOf(e, epsilon, dtype))])]);
  return { centred, invStd, xHat: e.mul(centred, invStd) };
}

/**
 * Gradient of x̂ = (x − mean(x))·invStd through the statistics, given g = ∂L/∂x̂:
 * dX = invStd·(g − mean(g) − x̂·mean(g·x̂)), means over the normalised axes.
 */
function throughStats(e: Emitter, g: string, s: Stats, axes: readonly number[]): string {
  const meanG = e.reduceMean(g, axes, true);
  const meanGX = e.reduceMean(e.mul(g, s.xHat), axes, true);
  return e.mul(s.invStd, e.sub(e.sub(g, meanG), e.mul(s.xHat, meanGX)));
}

/** [C] → [1, C, 1, …] so per-channel parameters broadcast against [N, C, …]. */
function channelShape(rank: number, channels: number): number[] {
  return [1, channels, ...Array.from({ length: rank - 2 }, () => 1)];
}

function allButChannel(rank: number): number[] {
  return Array.from({ length: rank }, (_, i) => i).filter((i) => i !== 1);
}

/**
 * BatchNormalization. With running statistics (eval; inputs 3 and 4 are stop-gradient):
 * dX = dY·scale/√(var+ε), dScale = Σ dY·x̂, dB = Σ dY. A node with training_mode=1 (opset ≥ 14)
 * normalises with batch statistics in the forward pass, so its gradient also flows through them;
 * that is the closed form dX = scale·invStd·(dY − mean(dY) − x̂·mean(dY·x̂)), emitted as few
 * full-size passes (two reductions and four elementwise ops per task; the centred input is shared
 * by all tasks). The gradient session's 'train' mode writes every BN as such a node
 * (`decomposeTrainingBatchNorm`).
 */
export const batchNormRule: GradientRule = {
  opTypes: ['BatchNormalization'],
  differentiableInputs: () => [0, 1, 2],
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const [x, scale, , mean, variance] = node.inputs as [string, string, string, string, string];
    const dY = ctx.outputGrad(0);
    if (!dY) return {};
    if (ctx.opset < 9 && node.attrs.int('spatial', 1) !== 1) throw new ReconError(`${node.label}: BatchNormalization with spatial=0 is not supported`);
    const dtype = gradDType(ctx);
    const shape = ctx.shape(x);
    const rank = shape.length;
    const C = shape[1]!;
    const axes = allButChannel(rank);
    const epsilon = node.attrs.float('epsilon', 1e-5);
    const perChannel = (v: string): string => e.reshape(v, channelShape(rank, C));
    const training = ctx.opset >= 14 && node.attrs.int('training_mode', 0) === 1;
    const grads: InputGradients = {};
    const sumDY = (): string => sharedValue(e, `bn-sum-dy:${dY}`, () => e.reduceSum(dY, axes, true));
    if (ctx.needsGrad(2)) grads[2] = e.reshape(sumDY(), [C]);
    if (!ctx.needsGrad(0) && !ctx.needsGrad(1)) return grads;
    if (training) {
      const { centred, invStd } = trainingStatistics(ctx, axes, epsilon, dtype);
      // Σ dY·(x − mean) = Σ dY·x̂ / invStd; centring first keeps the sum free of cancellation.
      const sumDYC = e.reduceSum(e.mul(dY, centred), axes, true);
      const dScale = e.mul(sumDYC, invStd);
      if (ctx.needsGrad(1)) grads[1] = e.reshape(dScale, [C]);
      if (ctx.needsGrad(0)) {
        // dX = k·(dY − ΣdY/n − (x − mean)·invStd²·Σ dY·(x − mean)/n), k = scale·invStd: the
        // per-channel factors are [1, C, 1…] tensors, so only four passes touch full size.
        const n = scalarOf(e, numel(shape) / C, dtype);
        const k = e.mul(perChannel(scale), invStd);
        const meanDY = e.div(sumDY(), n);
        const slope = e.div(e.mul(dScale, invStd), n);
        grads[0] = e.mul(e.sub(e.sub(dY, meanDY), e.mul(centred, slope)), k);
      }
      return grads;
    }
    const invStd = perChannel(e.op1('Reciprocal', [e.op1('Sqrt', [e.add(variance, scalarOf(e, epsilon, dtype))])]));
    if (ctx.needsGrad(1)) grads[1] = e.reshape(e.reduceSum(e.mul(dY, e.mul(e.sub(x, perChannel(mean)), invStd)), axes, true), [C]);
    if (ctx.needsGrad(0)) grads[0] = e.mul(dY, e.mul(perChannel(scale), invStd));
    return grads;
  },
};

/**
 * Batch statistics of a training-mode BN node as [1, C, 1…] tensors, shared by every task: the
 * node's own running-statistics outputs where momentum is 0 (then they are exactly the batch mean
 * and biased variance, by the ONNX definition), recomputed otherwise.
 */
function trainingStatistics(ctx: GradientContext, axes: readonly number[], epsilon: number, dtype: DType): { centred: string; invStd: string } {
  const e = ctx.emit;
  const node = ctx.node;
  const x = node.inputs[0]!;
  const shape = ctx.shape(x);
  const channel = channelShape(shape.length, shape[1]!);
  const [, batchMean, batchVar] = node.outputs;
  const fromOutputs = node.attrs.float('momentum', 0.9) === 0 && !!batchMean && !!batchVar;
  const centred = sharedValue(e, `bn-centred:${node.outputs[0]}`, () =>
    fromOutputs ? e.sub(x, e.reshape(batchMean!, channel)) : e.sub(x, e.reduceMean(x, axes, true)),
  );
  const invStd = sharedValue(e, `bn-inv-std:${node.outputs[0]}`, () => {
    const variance = fromOutputs ? e.reshape(batchVar!, channel) : e.reduceMean(e.mul(centred, centred), axes, true);
    return e.op1('Reciprocal', [e.op1('Sqrt', [e.add(variance, scalarOf(e, epsilon, dtype))])]);
  });
  return { centred, invStd };
}

/**
 * LayerNormalization (opset 17): normalises over axes [axis, rank). The statistics are recomputed
 * with ReduceMean; the optional Mean and InvStdDev outputs carry gradients too.
 */
export const layerNormRule: GradientRule = {
  opTypes: ['LayerNormalization'],
  differentiableInputs: (node) => (node.inputs[2] ? [0, 1, 2] : [0, 1]),
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const [x, scale, bias] = node.inputs as [string, string, string | undefined];
    const dtype = gradDType(ctx);
    const shape = ctx.shape(x);
    const rank = shape.length;
    const axis = normalizeAxis(node.attrs.int('axis', -1), rank);
    const axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
    const epsilon = node.attrs.float('epsilon', 1e-5);
    const dY = ctx.outputGrad(0);
    const dMean = ctx.outputGrad(1);
    const dInvStd = ctx.outputGrad(2);
    const grads: InputGradients = {};
    if (dY && bias && ctx.needsGrad(2)) grads[2] = e.reduceToShape(dY, shape, ctx.shape(bias));
    if (!ctx.needsGrad(0) && !(dY && ctx.needsGrad(1))) return grads;
    const stats = batchStats(e, x, axes, epsilon, dtype);
    if (dY && ctx.needsGrad(1)) grads[1] = e.reduceToShape(e.mul(dY, stats.xHat), shape, ctx.shape(scale));
    if (ctx.needsGrad(0)) {
      const count = scalarOf(e, numel(axes.map((a) => shape[a]!)), dtype);
      const terms: string[] = [];
      if (dY) terms.push(throughStats(e, e.mul(dY, scale), stats, axes));
      // ∂mean/∂x = 1/n.
      if (dMean) terms.push(e.div(dMean, count));
      // ∂invStd/∂x = −invStd³·(x − mean)/n.
      if (dInvStd) {
        const inv3 = e.mul(stats.invStd, e.mul(stats.invStd, stats.invStd));
        terms.push(e.neg(e.div(e.mul(e.mul(dInvStd, inv3), stats.centred), count)));
      }
      if (terms.length > 0) {
        let dX = terms.reduce((acc, t) => e.add(acc, t));
        // Only the Mean/InvStdDev gradients (keepdims shape) arrived: broadcast them out.
        if (!dY && !dInvStd) dX = e.op1('Expand', [dX, e.int64s(shape)]);
        grads[0] = dX;
      }
    }
    return grads;
  },
};

/** InstanceNormalization: per-sample, per-channel normalisation over the spatial axes. */
export const instanceNormRule: GradientRule = {
  opTypes: ['InstanceNormalization'],
  differentiableInputs: () => [0, 1, 2],
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const [x, scale] = node.inputs as [string, string, string];
    const dY = ctx.outputGrad(0)!;
    const dtype = gradDType(ctx);
    const shape = ctx.shape(x);
    const rank = shape.length;
    const spatial = Array.from({ length: rank - 2 }, (_, i) => i + 2);
    const paramAxes = allButChannel(rank);
    const grads: InputGradients = {};
    if (ctx.needsGrad(2)) grads[2] = e.reduceSum(dY, paramAxes, false);
    if (!ctx.needsGrad(0) && !ctx.needsGrad(1)) return grads;
    const stats = batchStats(e, x, spatial, node.attrs.float('epsilon', 1e-5), dtype);
    if (ctx.needsGrad(1)) grads[1] = e.reduceSum(e.mul(dY, stats.xHat), paramAxes, false);
    if (ctx.needsGrad(0)) grads[0] = throughStats(e, e.mul(dY, e.reshape(scale, channelShape(rank, shape[1]!))), stats, spatial);
    return grads;
  },
};

export const normalizationRules: readonly GradientRule[] = [batchNormRule, layerNormRule, instanceNormRule];

/** Names `decomposeTrainingBatchNorm` exposes, for the trainer's running-statistics update. */
export interface TrainingBatchNormValues {
  /** The normalised output (the BN node's first output, same name). */
  output: string;
  /** Batch mean per channel, shape [C]. */
  mean: string;
  /** Biased batch variance per channel, shape [C] (the one used to normalise, as PyTorch). */
  variance: string;
  /** Unbiased (n−1) batch variance per channel, shape [C]: PyTorch's running_var update uses it. */
  unbiasedVar: string;
}

function valueDType(graph: Graph, name: string): DType | undefined {
  const init = graph.initializers.get(name);
  if (init) return init.dtype;
  for (const vi of [...graph.inputs, ...graph.valueInfo, ...graph.outputs]) {
    if (vi.name === name) return tensorTypeOf(vi)?.dtype;
  }
  return undefined;
}

/**
 * Replaces a BatchNormalization node (in place, at its position) by the training-mode computation
 * (batch mean and biased variance over every axis but 1, as PyTorch normalises),
 * y = (x − mean)/√(var + ε)·scale + B, exposing the batch statistics. The running-statistics
 * inputs are neither read nor written.
 *
 * From opset 14 this is one BatchNormalization node with training_mode=1 and momentum 0, whose
 * running-statistics outputs are then exactly the batch mean and biased variance: onnxruntime
 * computes all three in one kernel (a decomposition into ReduceMean/Sub/Mul/… costs about a dozen
 * passes over x), and `batchNormRule` differentiates it in closed form. Before opset 14 (no
 * training_mode), and for onnxruntime's CUDA provider (`primitive`), it is written with standard ops,
 * viewing x as [N, C, S] with Reshape(0, 0, −1).
 * Either form is rank- and batch-agnostic: the same graph serves any batch size.
 *
 * If the original node (training_mode=1, opset ≥ 14) has running_mean/running_var outputs, they
 * are produced as the ONNX spec defines them (input·momentum + batch statistic·(1 − momentum),
 * with the biased variance), so consumers keep working. Opset < 14 training outputs are refused.
 */
export function decomposeTrainingBatchNorm(
  graph: Graph,
  node: Node,
  opset: number,
  options: {
    dtype?: DType;
    /**
     * Write the primitive form at every opset: onnxruntime's CUDA BatchNorm kernel refuses
     * training_mode=1 from opset 14 ("Training mode does not support BN opset 14 (or higher)
     * yet", found on an H200), so graphs built for CUDA cannot use the fused node.
     */
    primitive?: boolean;
  } = {},
): TrainingBatchNormValues {
  const index = graph.nodes.indexOf(node);
  if (index < 0) throw new InternalError(`decomposeTrainingBatchNorm: ${node.label} is not in the graph`);
  if (node.opType !== 'BatchNormalization') throw new InternalError(`decomposeTrainingBatchNorm: ${node.label} is a ${node.opType}`);
  const extra = node.outputs.slice(1).filter((o) => o);
  if (extra.length > 0 && opset < 14) {
    throw new ReconError(`${node.label}: BatchNormalization training outputs before opset 14 are not supported`);
  }
  const [x, scale, bias, runningMean, runningVar] = node.inputs as [string, string, string, string, string];
  const dtype = options.dtype ?? valueDType(graph, x) ?? valueDType(graph, scale) ?? 'float32';
  const epsilon = node.attrs.float('epsilon', 1e-5);
  const momentum = node.attrs.float('momentum', 0.9);

  const b = new GraphBuilder(graph);
  const before = graph.nodes.length;
  const prefix = `${node.name || 'BatchNormalization'}/train`;
  const op1 = (opType: string, inputs: string[], attrs: Parameters<GraphBuilder['op1']>[2] = {}, outputs?: string[]): string =>
    b.op1(opType, inputs, attrs, outputs ? { name: `${prefix}/${opType}`, outputs } : { name: `${prefix}/${opType}` });
  const ints = (values: number[]): string => b.int64s(`${prefix}/const`, values);
  const scalar = (value: number): string =>
    dtype === 'float64'
      ? b.constant(`${prefix}/const`, 'float64', [], Float64Array.of(value))
      : dtype === 'float32'
        ? b.scalar(`${prefix}/const`, value)
        : op1('Cast', [b.scalar(`${prefix}/const`, value)], { to: dtypeCode(dtype) });
  const reduceMean = (v: string): string =>
    opset >= 18 ? op1('ReduceMean', [v, ints([0, 2])], { keepdims: 1 }) : op1('ReduceMean', [v], { axes: [0, 2], keepdims: 1 });

  const x3 = op1('Reshape', [x, ints([0, 0, -1])]);
  let mean: string;
  let variance: string;
  if (opset >= 14 && !options.primitive) {
    mean = b.name(`${prefix}/batch_mean`);
    variance = b.name(`${prefix}/batch_var`);
    // onnxruntime writes the running-statistics outputs into the buffers of inputs 3 and 4
    // (Alias(3, 1), Alias(4, 2)): fed the model's initializers, a run would overwrite them, and
    // every initializer onnxruntime deduplicated with them (a BN scale of ones shares the buffer
    // of a running_var of ones). With momentum 0 these inputs do not enter the outputs, so they
    // are two fresh per-run tensors of their own, computed from one element per channel of x.
    const probe = op1('Reshape', [op1('Slice', [x3, ints([0, 0]), ints([1, 1]), ints([0, 2])]), ints([-1])]);
    const meanIn = op1('Mul', [probe, scalar(0)]);
    const varIn = op1('Add', [meanIn, scalar(1)]);
    b.op(
      'BatchNormalization',
      [x, scale, bias, meanIn, varIn],
      { epsilon: float(epsilon), momentum: float(0), training_mode: 1 },
      { name: `${prefix}/BatchNormalization`, outputs: [node.outputs[0]!, mean, variance] },
    );
  } else {
    const shapeX = op1('Shape', [x]);
    const mean3 = reduceMean(x3);
    const centred = op1('Sub', [x3, mean3]);
    const var3 = reduceMean(op1('Mul', [centred, centred]));
    const std = op1('Sqrt', [op1('Add', [var3, scalar(epsilon)])]);
    const scale3 = op1('Reshape', [scale, ints([1, -1, 1])]);
    const bias3 = op1('Reshape', [bias, ints([1, -1, 1])]);
    const y3 = op1('Add', [op1('Mul', [op1('Div', [centred, std]), scale3]), bias3]);
    op1('Reshape', [y3, shapeX], {}, [node.outputs[0]!]);
    mean = op1('Reshape', [mean3, ints([-1])]);
    variance = op1('Reshape', [var3, ints([-1])]);
  }
  // n = N·S elements per channel; unbiased = biased·n/(n − 1).
  const n = op1('Cast', [op1('ReduceProd', [op1('Gather', [op1('Shape', [x3]), ints([0, 2])])], { keepdims: 0 })], { to: dtypeCode(dtype) });
  const unbiasedVar = op1('Mul', [variance, op1('Div', [n, op1('Sub', [n, scalar(1)])])]);
  if (node.outputs[1]) {
    op1('Add', [op1('Mul', [runningMean, scalar(momentum)]), op1('Mul', [mean, scalar(1 - momentum)])], {}, [node.outputs[1]]);
  }
  if (node.outputs[2]) {
    op1('Add', [op1('Mul', [runningVar, scalar(momentum)]), op1('Mul', [variance, scalar(1 - momentum)])], {}, [node.outputs[2]]);
  }
  const added = graph.nodes.splice(before);
  graph.nodes.splice(index, 1, ...added);
  return { output: node.outputs[0]!, mean, variance, unbiasedVar };
}
