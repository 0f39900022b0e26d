import { ReconError } from '../../util/errors.js';
import type { GradientRule } from '../types.js';
import { gradDType, normalizeAxis, numel, zerosOf } from './emit-util.js';

/**
 * CumSum (opset 11): each output sums a prefix (or, with reverse=1, a suffix) of the input, so each
 * input receives the sum of the gradients of the outputs whose range covers it: a CumSum of dY in
 * the opposite direction with the same `exclusive` (an exclusive prefix y_j = Σ_{i<j} x_i gives
 * dx_i = Σ_{j>i} dy_j). The axis input is reused as is (it is stop-gradient).
 */
export const cumSumRule: GradientRule = {
  opTypes: ['CumSum'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const node = ctx.node;
    const exclusive = node.attrs.int('exclusive', 0);
    const reverse = node.attrs.int('reverse', 0) === 0 ? 1 : 0;
    return { 0: ctx.emit.op1('CumSum', [ctx.outputGrad(0)!, node.inputs[1]!], { exclusive, reverse }) };
  },
};

/**
 * Trilu (opset 14) zeroes one side of the last two axes: a fixed mask, so the gradient is the
 * same Trilu of dY (same k input, same `upper`).
 */
export const triluRule: GradientRule = {
  opTypes: ['Trilu'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const node = ctx.node;
    const k = node.inputs[1];
    const inputs = k ? [ctx.outputGrad(0)!, k] : [ctx.outputGrad(0)!];
    return { 0: ctx.emit.op1('Trilu', inputs, { upper: node.attrs.int('upper', 1) }) };
  },
};

/**
 * TopK: the values output gathers x at the Indices output along `axis`, so dX scatters dValues
 * back there into zeros. A slice's top-k positions are distinct, so a plain ScatterElements
 * (Scatter before opset 11) is exact: no duplicate index needs reduction="add". The indices
 * output carries no gradient.
 */
export const topKRule: GradientRule = {
  opTypes: ['TopK'],
  // Scatter exists from opset 9 (ScatterElements from 11).
  minOpset: 9,
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const dValues = ctx.outputGrad(0);
    if (!dValues) return {};
    const x = node.inputs[0]!;
    const shape = ctx.shape(x);
    const dtype = gradDType(ctx);
    const axis = normalizeAxis(node.attrs.int('axis', -1), shape.length);
    if (numel(ctx.shape(node.outputs[0]!)) === 0) return { 0: zerosOf(e, shape, dtype) };
    const indices = node.outputs[1];
    // Both outputs are required by the spec (onnxruntime refuses a graph that leaves one unnamed).
    if (!indices) throw new ReconError(`${node.label}: TopK has no Indices output to scatter its gradient with`);
    const scatter = ctx.opset >= 11 ? 'ScatterElements' : 'Scatter';
    return { 0: e.op1(scatter, [zerosOf(e, shape, dtype), indices, dValues], { axis }) };
  },
};

export const cumSumTriluTopKRules: readonly GradientRule[] = [cumSumRule, triluRule, topKRule];
