import type { GradientContext, GradientRule } from '../types.js';
import { normalizeAxis } from './emit-util.js';

/**
 * Axes Softmax/LogSoftmax normalise over. From opset 13 that is the single `axis` (default −1).
 * Before 13 the input is coerced to 2-D around `axis` (default 1): everything from `axis` on is
 * one flattened row, which is the same as normalising jointly over all trailing axes.
 */
function softmaxAxes(ctx: GradientContext): number[] {
  const rank = ctx.shape(ctx.node.inputs[0]!).length;
  if (ctx.opset >= 13) return [normalizeAxis(ctx.node.attrs.int('axis', -1), rank)];
  const axis = normalizeAxis(ctx.node.attrs.int('axis', 1), rank);
  return Array.from({ length: rank - axis }, (_, i) => axis + i);
}

/** Softmax: dX = Y ⊙ (dY − Σ_axis(dY ⊙ Y)). */
export const softmaxRule: GradientRule = {
  opTypes: ['Softmax'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const y = ctx.node.outputs[0]!;
    const dY = ctx.outputGrad(0)!;
    const dot = e.reduceSum(e.mul(dY, y), softmaxAxes(ctx), true);
    return { 0: e.mul(y, e.sub(dY, dot)) };
  },
};

/** LogSoftmax: dX = dY − exp(Y) ⊙ Σ_axis dY. */
export const logSoftmaxRule: GradientRule = {
  opTypes: ['LogSoftmax'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const y = ctx.node.outputs[0]!;
    const dY = ctx.outputGrad(0)!;
    const total = e.reduceSum(dY, softmaxAxes(ctx), true);
    return { 0: e.sub(dY, e.mul(e.op1('Exp', [y]), total)) };
  },
};

/** Hardmax is piecewise constant: no gradient flows through it (zero almost everywhere). */
export const hardmaxRule: GradientRule = {
  opTypes: ['Hardmax'],
  differentiableInputs: () => [],
  backward: () => ({}),
};

export const softmaxRules: readonly GradientRule[] = [softmaxRule, logSoftmaxRule, hardmaxRule];
