import type { Node } from '../../onnx/node.js';
import type { GradientContext, GradientRule } from '../types.js';

/** Axes a Reduce* node reduces over (normalised, sorted); all axes when none are given. */
export function reductionAxes(ctx: GradientContext, node: Node): number[] {
  const rank = ctx.shape(node.inputs[0]!).length;
  const axesInput = node.inputs[1];
  let axes = axesInput ? ctx.constant(axesInput) : node.attrs.ints('axes');
  if (axesInput && !axes) throw new Error(`${node.label}: reduction axes are not a build-time constant`);
  if (!axes || axes.length === 0) {
    if (axesInput !== undefined && axesInput !== '' && node.attrs.int('noop_with_empty_axes', 0) === 1) return [];
    if (node.attrs.int('noop_with_empty_axes', 0) === 1 && !axesInput && ctx.opset >= 13 && node.opType === 'ReduceSum') return [];
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
    const mask = e.op1('Cast', [e.op1('Equal', [x, y])], { to: 1 });
    const axes = reductionAxes(ctx, ctx.node);
    const ties = e.op1('Expand', [e.reduceSum(mask, axes, true), e.int64s(ctx.shape(x))]);
    return { 0: e.div(e.mul(dY, mask), ties) };
  },
};

export const reduceRules: readonly GradientRule[] = [reduceSumRule, reduceMeanRule, reduceMaxRule];
