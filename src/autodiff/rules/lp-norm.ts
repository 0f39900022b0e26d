import { ReconError } from '../../util/errors.js';
import type { GradientRule } from '../types.js';
import { gradDType, normalizeAxis, scalarOf } from './emit-util.js';

/**
 * LpNormalization, y = x/‖x‖ₚ along `axis` (p = 1 or 2, the values the op defines). With
 * n = ‖x‖ₚ and s = Σ dY·y over the axis:
 *   p = 2: dX = (dY − y·s)/n
 *   p = 1: dX = (dY − sign(x)·s)/n
 * onnxruntime writes y = 0 for a zero slice; there the gradient is 0 too (the division is by a 1,
 * then masked), rather than PyTorch's F.normalize, which clamps n to an ε and so differs anyway.
 */
export const lpNormalizationRule: GradientRule = {
  opTypes: ['LpNormalization'],
  // Float Equal (the zero-norm mask) exists from opset 11.
  minOpset: 11,
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const x = node.inputs[0]!;
    const y = node.outputs[0]!;
    const dY = ctx.outputGrad(0)!;
    const dtype = gradDType(ctx);
    const p = node.attrs.int('p', 2);
    if (p !== 1 && p !== 2) throw new ReconError(`${node.label}: LpNormalization with p=${p} has no gradient rule (the op defines p = 1 or 2)`);
    const axes = [normalizeAxis(node.attrs.int('axis', -1), ctx.shape(x).length)];
    const norm = p === 2 ? e.op1('Sqrt', [e.reduceSum(e.mul(x, x), axes, true)]) : e.reduceSum(e.op1('Abs', [x]), axes, true);
    const zero = scalarOf(e, 0, dtype);
    const isZero = e.op1('Equal', [norm, zero]);
    const safe = e.op1('Where', [isZero, scalarOf(e, 1, dtype), norm]);
    const s = e.reduceSum(e.mul(dY, y), axes, true);
    const direction = p === 2 ? y : e.op1('Sign', [x]);
    const dX = e.div(e.sub(dY, e.mul(direction, s)), safe);
    return { 0: e.op1('Where', [isZero, zero, dX]) };
  },
};

export const lpNormRules: readonly GradientRule[] = [lpNormalizationRule];
