import { broadcastShapes } from '../emitter.js';
import type { GradientContext, GradientRule, InputGradients } from '../types.js';

/** Gradient of a broadcasting binary op's input `i`, given the local gradient before reduction. */
function toInput(ctx: GradientContext, i: number, local: string): string {
  const node = ctx.node;
  const out = broadcastShapes(ctx.shape(node.inputs[0]!), ctx.shape(node.inputs[1]!));
  return ctx.emit.reduceToShape(local, out, ctx.shape(node.inputs[i]!));
}

export const addSubRule: GradientRule = {
  opTypes: ['Add', 'Sub'],
  differentiableInputs: () => [0, 1],
  backward(ctx) {
    const dY = ctx.outputGrad(0)!;
    const grads: InputGradients = {};
    if (ctx.needsGrad(0)) grads[0] = toInput(ctx, 0, dY);
    if (ctx.needsGrad(1)) grads[1] = toInput(ctx, 1, ctx.node.opType === 'Sub' ? ctx.emit.neg(dY) : dY);
    return grads;
  },
};

export const mulRule: GradientRule = {
  opTypes: ['Mul'],
  differentiableInputs: () => [0, 1],
  backward(ctx) {
    const [a, b] = ctx.node.inputs as [string, string];
    const dY = ctx.outputGrad(0)!;
    const grads: InputGradients = {};
    if (ctx.needsGrad(0)) grads[0] = toInput(ctx, 0, ctx.emit.mul(dY, b));
    if (ctx.needsGrad(1)) grads[1] = toInput(ctx, 1, ctx.emit.mul(dY, a));
    return grads;
  },
};

export const divRule: GradientRule = {
  opTypes: ['Div'],
  differentiableInputs: () => [0, 1],
  backward(ctx) {
    const [, b] = ctx.node.inputs as [string, string];
    const y = ctx.node.outputs[0]!;
    const dY = ctx.outputGrad(0)!;
    const e = ctx.emit;
    const grads: InputGradients = {};
    const dA = e.div(dY, b);
    if (ctx.needsGrad(0)) grads[0] = toInput(ctx, 0, dA);
    // d(a/b)/db = -y/b, so dB = -dA * y.
    if (ctx.needsGrad(1)) grads[1] = toInput(ctx, 1, e.neg(e.mul(dA, y)));
    return grads;
  },
};

export const powRule: GradientRule = {
  opTypes: ['Pow'],
  differentiableInputs: () => [0, 1],
  backward(ctx) {
    const [a, p] = ctx.node.inputs as [string, string];
    const y = ctx.node.outputs[0]!;
    const dY = ctx.outputGrad(0)!;
    const e = ctx.emit;
    const grads: InputGradients = {};
    if (ctx.needsGrad(0)) {
      const exponent = ctx.constant(p);
      let local: string;
      if (exponent && exponent.length === 1 && exponent[0] === 2) {
        local = e.mul(dY, e.mul(a, e.scalar(2)));
      } else {
        // p * a^(p-1), computed as Pow(a, p-1) so a = 0 stays finite for p >= 1.
        const pf = ctx.dtype(p) === 'float32' ? p : e.op1('Cast', [p], { to: 1 });
        local = e.mul(dY, e.mul(pf, e.op1('Pow', [a, e.sub(pf, e.scalar(1))])));
      }
      grads[0] = toInput(ctx, 0, local);
    }
    if (ctx.needsGrad(1)) grads[1] = toInput(ctx, 1, e.mul(dY, e.mul(y, e.op1('Log', [a]))));
    return grads;
  },
};

/** Unary elementwise ops whose derivative is a simple expression of x, y and dY. */
function unary(opType: string, local: (ctx: GradientContext, x: string, y: string, dY: string) => string): GradientRule {
  return {
    opTypes: [opType],
    differentiableInputs: () => [0],
    backward(ctx) {
      return { 0: local(ctx, ctx.node.inputs[0]!, ctx.node.outputs[0]!, ctx.outputGrad(0)!) };
    },
  };
}

export const negRule = unary('Neg', (c, _x, _y, dY) => c.emit.neg(dY));
export const sqrtRule = unary('Sqrt', (c, _x, y, dY) => c.emit.div(c.emit.mul(dY, c.emit.scalar(0.5)), y));
export const expRule = unary('Exp', (c, _x, y, dY) => c.emit.mul(dY, y));
export const logRule = unary('Log', (c, x, _y, dY) => c.emit.div(dY, x));
export const absRule = unary('Abs', (c, x, _y, dY) => c.emit.mul(dY, c.emit.op1('Sign', [x])));
export const reciprocalRule = unary('Reciprocal', (c, _x, y, dY) => c.emit.neg(c.emit.mul(dY, c.emit.mul(y, y))));

/** Sum of N inputs: every input receives the output gradient, reduced to its own shape. */
export const sumRule: GradientRule = {
  opTypes: ['Sum'],
  differentiableInputs: (node) => node.inputs.map((_, i) => i),
  backward(ctx) {
    const dY = ctx.outputGrad(0)!;
    const out = ctx.shape(ctx.node.outputs[0]!);
    const grads: InputGradients = {};
    ctx.node.inputs.forEach((x, i) => {
      if (ctx.needsGrad(i)) grads[i] = ctx.emit.reduceToShape(dY, out, ctx.shape(x));
    });
    return grads;
  },
};

export const arithmeticRules: readonly GradientRule[] = [
  addSubRule,
  mulRule,
  divRule,
  powRule,
  negRule,
  sqrtRule,
  expRule,
  logRule,
  absRule,
  reciprocalRule,
  sumRule,
];
