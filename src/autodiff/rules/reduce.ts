import { dtypeCode } from '../../onnx/dtype.js';
import { ReconError } from '../../util/errors.js';
import type { Node } from '../../onnx/node.js';
import type { Emitter } from '../emitter.js';
import type { GradientContext, GradientRule } from '../types.js';
import { gradDType, scalarOf } from './emit-util.js';

/**
 * Axes a Reduce* node reduces over (normalised, sorted); all axes when none are given, none when
 * noop_with_empty_axes=1 (an attribute from opset 13 for ReduceSum, 18 for the other reductions,
 * when axes also became an input). onnxruntime then applies the reduction to each element on its
 * own (ReduceL2 gives |x|, ReduceSumSquare x²), so the rules below need no special case: their
 * formulas over an empty axis set are exactly the elementwise derivatives.
 */
export function reductionAxes(ctx: GradientContext, node: Node): number[] {
  const rank = ctx.shape(node.inputs[0]!).length;
  const axesInput = node.inputs[1];
  let axes = axesInput ? ctx.constant(axesInput) : node.attrs.ints('axes');
  if (axesInput && !axes) throw new ReconError(`${node.label}: reduction axes are not a build-time constant`);
  if (!axes || axes.length === 0) {
    const noopSince = node.opType === 'ReduceSum' ? 13 : 18;
    if (ctx.opset >= noopSince && node.attrs.int('noop_with_empty_axes', 0) === 1) return [];
    axes = Array.from({ length: rank }, (_, i) => i);
  }
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** dY broadcast back to the input's shape (re-inserting reduced axes when keepdims=0). */
function expandBack(ctx: GradientContext, dY: string): string {
  const node = ctx.node;
  const inShape = ctx.shape(node.inputs[0]!);
  const axes = reductionAxes(ctx, node);
  const kept = inShape.map((d, i) => (axes.includes(i) ? 1 : d));
  const e = ctx.emit;
  const reshaped = e.reshape(dY, kept);
  return e.op1('Expand', [reshaped, e.int64s(inShape)]);
}

export const reduceSumRule: GradientRule = {
  opTypes: ['ReduceSum'],
  differentiableInputs: () => [0],
  backward(ctx) {
    return { 0: expandBack(ctx, ctx.outputGrad(0)!) };
  },
};

export const reduceMeanRule: GradientRule = {
  opTypes: ['ReduceMean'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const inShape = ctx.shape(ctx.node.inputs[0]!);
    const count = reductionAxes(ctx, ctx.node).reduce((n, a) => n * inShape[a]!, 1);
    const e = ctx.emit;
    const dY = ctx.outputGrad(0)!;
    const scaled = e.div(dY, ctx.dtype(dY) === 'float64' ? e.op1('Cast', [e.scalar(count)], { to: 11 }) : e.scalar(count));
    return { 0: expandBack(ctx, scaled) };
  },
};

/** Max: the gradient is shared equally by the elements that attain the maximum (as torch.amax). */
export const reduceMaxRule: GradientRule = {
  opTypes: ['ReduceMax', 'ReduceMin'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const x = ctx.node.inputs[0]!;
    const y = expandBack(ctx, ctx.node.outputs[0]!);
    const dY = expandBack(ctx, ctx.outputGrad(0)!);
    const mask = e.op1('Cast', [e.op1('Equal', [x, y])], { to: dtypeCode(ctx.dtype(x)) });
    const axes = reductionAxes(ctx, ctx.node);
    const ties = e.op1('Expand', [e.reduceSum(mask, axes, true), e.int64s(ctx.shape(x))]);
    return { 0: e.div(e.mul(dY, mask), ties) };
  },
};

/**
 * A reduced value (the output or its gradient) viewed with the reduced axes kept as 1s, so it
 * broadcasts against the input: every rule below multiplies it by an input-shaped factor, which
 * spares the Expand of `expandBack`.
 */
function keptView(ctx: GradientContext, v: string): string {
  const inShape = ctx.shape(ctx.node.inputs[0]!);
  const axes = reductionAxes(ctx, ctx.node);
  const kept = inShape.map((d, i) => (axes.includes(i) ? 1 : d));
  const shape = ctx.shape(ctx.node.outputs[0]!);
  if (shape.length === kept.length && shape.every((d, i) => d === kept[i])) return v;
  return ctx.emit.reshape(v, kept);
}

/** ReduceProd with keepdims=1, opset-aware (axes an attribute before 18, an input from 18). */
function reduceProdKept(e: Emitter, x: string, axes: readonly number[]): string {
  if (axes.length === 0) return x;
  if (e.opset >= 18) return e.op1('ReduceProd', [x, e.int64s(axes)], { keepdims: 1 });
  return e.op1('ReduceProd', [x], { axes: axes.slice(), keepdims: 1 });
}

// Float Equal (used by the masks below) exists from opset 11.
const FLOAT_EQUAL_OPSET = 11;

/** ReduceL1, y = Σ|x|: dX = sign(x)·dY (0 at 0, as torch's abs backward). */
export const reduceL1Rule: GradientRule = {
  opTypes: ['ReduceL1'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    return { 0: e.mul(e.op1('Sign', [ctx.node.inputs[0]!]), keptView(ctx, ctx.outputGrad(0)!)) };
  },
};

/**
 * ReduceL2, y = √Σx²: dX = x·dY/y. Where y = 0 (an all-zero slice) the gradient is 0, as
 * PyTorch's norm backward masks zero norms; the division is by a 1 there so no NaN is formed.
 */
export const reduceL2Rule: GradientRule = {
  opTypes: ['ReduceL2'],
  minOpset: FLOAT_EQUAL_OPSET,
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const dtype = gradDType(ctx);
    const y = keptView(ctx, ctx.node.outputs[0]!);
    const zero = e.op1('Equal', [y, scalarOf(e, 0, dtype)]);
    const safe = e.op1('Where', [zero, scalarOf(e, 1, dtype), y]);
    const ratio = e.op1('Where', [zero, scalarOf(e, 0, dtype), e.div(keptView(ctx, ctx.outputGrad(0)!), safe)]);
    return { 0: e.mul(ctx.node.inputs[0]!, ratio) };
  },
};

/** ReduceSumSquare, y = Σx²: dX = 2x·dY. */
export const reduceSumSquareRule: GradientRule = {
  opTypes: ['ReduceSumSquare'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const twice = e.mul(keptView(ctx, ctx.outputGrad(0)!), scalarOf(e, 2, gradDType(ctx)));
    return { 0: e.mul(ctx.node.inputs[0]!, twice) };
  },
};

/** ReduceLogSumExp, y = log Σeˣ: dX = e^(x−y)·dY, the softmax over the slice (stable: x ≤ y). */
export const reduceLogSumExpRule: GradientRule = {
  opTypes: ['ReduceLogSumExp'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const softmax = e.op1('Exp', [e.sub(ctx.node.inputs[0]!, keptView(ctx, ctx.node.outputs[0]!))]);
    return { 0: e.mul(softmax, keptView(ctx, ctx.outputGrad(0)!)) };
  },
};

/**
 * ReduceProd: dXᵢ = dY·Π_{j≠i} xⱼ, exact with zeros (as torch.prod's backward). With p the product
 * of the slice's non-zero entries and z its number of zeros: no zero → p/xᵢ; one zero → p at the
 * zero and 0 elsewhere; two or more → 0 everywhere. Never y/x, which is 0/0 at a zero.
 */
export const reduceProdRule: GradientRule = {
  opTypes: ['ReduceProd'],
  minOpset: FLOAT_EQUAL_OPSET,
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const x = ctx.node.inputs[0]!;
    const dtype = gradDType(ctx);
    const axes = reductionAxes(ctx, ctx.node);
    const zeroC = scalarOf(e, 0, dtype);
    const isZero = e.op1('Equal', [x, zeroC]);
    const nonZero = e.op1('Where', [isZero, scalarOf(e, 1, dtype), x]);
    const p = reduceProdKept(e, nonZero, axes);
    const zeros = e.reduceSum(e.op1('Where', [isZero, scalarOf(e, 1, dtype), zeroC]), axes, true);
    const atNonZero = e.op1('Where', [e.op1('Equal', [zeros, zeroC]), e.div(p, nonZero), zeroC]);
    const atZero = e.op1('Where', [e.op1('Equal', [zeros, scalarOf(e, 1, dtype)]), p, zeroC]);
    const local = e.op1('Where', [isZero, atZero, atNonZero]);
    return { 0: e.mul(local, keptView(ctx, ctx.outputGrad(0)!)) };
  },
};

export const reduceRules: readonly GradientRule[] = [
  reduceSumRule,
  reduceMeanRule,
  reduceMaxRule,
  reduceL1Rule,
  reduceL2Rule,
  reduceSumSquareRule,
  reduceLogSumExpRule,
  reduceProdRule,
];
