import { isFloatDType, dtypeCode } from '../../onnx/dtype.js';
import type { GradientRule } from '../types.js';

/** Float-to-float casts pass the gradient through (cast back); casts from or to integers stop it. */
export const castRule: GradientRule = {
  opTypes: ['Cast'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const x = ctx.node.inputs[0]!;
    const from = ctx.dtype(x);
    const to = ctx.dtype(ctx.node.outputs[0]!);
    if (!isFloatDType(from) || !isFloatDType(to)) return {};
    const dY = ctx.outputGrad(0)!;
    return { 0: from === to ? dY : ctx.emit.op1('Cast', [dY], { to: dtypeCode(from) }) };
  },
};
