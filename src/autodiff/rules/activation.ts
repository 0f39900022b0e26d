import type { GradientContext, GradientRule, InputGradients } from '../types.js';
import { greaterOrEqual, gradDType, lessOrEqual, maskGrad, scalarOf } from './emit-util.js';
import { ReconError } from '../../util/errors.js';

/**
 * Elementwise activations. Masks follow PyTorch's conventions at the kinks (e.g. Relu passes no
 * gradient at 0, clamp passes it at the bounds), and use Where(mask, dY, 0) rather than a
 * multiplied mask so an infinite or NaN dY outside the mask cannot leak in as NaN·0.
 */

/** A rule for a one-input op whose gradient is a local expression in x, y and dY. */
function elementwise(opType: string, local: (ctx: GradientContext, x: string, y: string, dY: string) => string, minOpset?: number): GradientRule {
  const rule: GradientRule = {
    opTypes: [opType],
    differentiableInputs: () => [0],
    backward(ctx) {
      return { 0: local(ctx, ctx.node.inputs[0]!, ctx.node.outputs[0]!, ctx.outputGrad(0)!) };
    },
  };
  return minOpset === undefined ? rule : { ...rule, minOpset };
}

/** A dtype-matched scalar for the node's output type. */
function k(ctx: GradientContext, value: number): string {
  return scalarOf(ctx.emit, value, gradDType(ctx));
}

// Where appears in opset 9; the gradient session upgrades older models.
const WHERE_OPSET = 9;

export const reluRule = elementwise('Relu', (c, _x, y, dY) => maskGrad(c.emit, c.emit.op1('Greater', [y, k(c, 0)]), dY, gradDType(c)), WHERE_OPSET);

export const leakyReluRule = elementwise(
  'LeakyRelu',
  (c, x, _y, dY) => {
    const e = c.emit;
    const alpha = c.node.attrs.float('alpha', 0.01);
    return e.op1('Where', [e.op1('Greater', [x, k(c, 0)]), dY, e.mul(dY, k(c, alpha))]);
  },
  WHERE_OPSET,
);

export const sigmoidRule = elementwise('Sigmoid', (c, _x, y, dY) => {
  const e = c.emit;
  return e.mul(dY, e.mul(y, e.sub(k(c, 1), y)));
});

export const tanhRule = elementwise('Tanh', (c, _x, y, dY) => {
  const e = c.emit;
  return e.mul(dY, e.sub(k(c, 1), e.mul(y, y)));
});

export const erfRule = elementwise('Erf', (c, x, _y, dY) => {
  const e = c.emit;
  // d erf(x)/dx = 2/√π · exp(−x²)
  return e.mul(dY, e.mul(k(c, 2 / Math.sqrt(Math.PI)), e.op1('Exp', [e.neg(e.mul(x, x))])));
});

export const geluRule = elementwise('Gelu', (c, x, _y, dY) => {
  const e = c.emit;
  const approximate = c.node.attrs.string('approximate', 'none');
  if (approximate === 'tanh') {
    // y = ½x(1+t), t = tanh(u), u = √(2/π)(x + 0.044715x³)
    // dy/dx = ½(1+t) + ½x(1−t²)·√(2/π)(1 + 3·0.044715x²)
    const s = Math.sqrt(2 / Math.PI);
    const x2 = e.mul(x, x);
    const u = e.mul(k(c, s), e.add(x, e.mul(k(c, 0.044715), e.mul(x2, x))));
    const t = e.op1('Tanh', [u]);
    const du = e.mul(k(c, s), e.add(k(c, 1), e.mul(k(c, 3 * 0.044715), x2)));
    const left = e.mul(k(c, 0.5), e.add(k(c, 1), t));
    const right = e.mul(e.mul(k(c, 0.5), x), e.mul(e.sub(k(c, 1), e.mul(t, t)), du));
    return e.mul(dY, e.add(left, right));
  }
  if (approximate !== 'none') throw new ReconError(`${c.node.label}: Gelu approximate="${approximate}" is not supported`);
  // y = xΦ(x): dy/dx = Φ(x) + xφ(x), Φ(x) = ½(1+erf(x/√2)), φ(x) = exp(−x²/2)/√(2π)
  const cdf = e.mul(k(c, 0.5), e.add(k(c, 1), e.op1('Erf', [e.mul(x, k(c, Math.SQRT1_2))])));
  const pdf = e.mul(k(c, 1 / Math.sqrt(2 * Math.PI)), e.op1('Exp', [e.mul(e.mul(x, x), k(c, -0.5))]));
  return e.mul(dY, e.add(cdf, e.mul(x, pdf)));
});

export const softplusRule = elementwise('Softplus', (c, x, _y, dY) => c.emit.mul(dY, c.emit.op1('Sigmoid', [x])));

export const softsignRule = elementwise('Softsign', (c, x, _y, dY) => {
  const e = c.emit;
  const d = e.add(k(c, 1), e.op1('Abs', [x]));
  return e.div(dY, e.mul(d, d));
});

export const hardSigmoidRule = elementwise(
  'HardSigmoid',
  (c, _x, y, dY) => {
    const e = c.emit;
    const alpha = c.node.attrs.float('alpha', 0.2);
    // Gradient α inside the open interval 0 < αx+β < 1 (as torch.hardsigmoid); y is that clamp.
    const inside = e.op1('And', [e.op1('Greater', [y, k(c, 0)]), e.op1('Less', [y, k(c, 1)])]);
    return maskGrad(e, inside, e.mul(dY, k(c, alpha)), gradDType(c));
  },
  WHERE_OPSET,
);

export const hardSwishRule = elementwise(
  'HardSwish',
  (c, x, _y, dY) => {
    const e = c.emit;
    // y = x·clamp(x/6 + ½, 0, 1). torch: 0 for x < −3, dY·(x/3 + ½) for −3 ≤ x ≤ 3, dY above.
    const inner = e.mul(dY, e.add(e.mul(x, k(c, 1 / 3)), k(c, 0.5)));
    const low = maskGrad(e, e.op1('Less', [x, k(c, -3)]), inner, gradDType(c), false);
    return e.op1('Where', [e.op1('Greater', [x, k(c, 3)]), dY, low]);
  },
  WHERE_OPSET,
);

export const eluRule = elementwise(
  'Elu',
  (c, x, y, dY) => {
    const e = c.emit;
    const alpha = c.node.attrs.float('alpha', 1);
    // For x ≤ 0, y = α(eˣ−1), so dy/dx = αeˣ = y + α.
    return e.op1('Where', [e.op1('Greater', [x, k(c, 0)]), dY, e.mul(dY, e.add(y, k(c, alpha)))]);
  },
  WHERE_OPSET,
);

export const seluRule = elementwise(
  'Selu',
  (c, x, y, dY) => {
    const e = c.emit;
    const alpha = c.node.attrs.float('alpha', Math.fround(1.6732632423543772));
    const gamma = c.node.attrs.float('gamma', Math.fround(1.0507009873554805));
    // For x ≤ 0, y = γα(eˣ−1), so dy/dx = γαeˣ = y + γα.
    return e.op1('Where', [e.op1('Greater', [x, k(c, 0)]), e.mul(dY, k(c, gamma)), e.mul(dY, e.add(y, k(c, gamma * alpha)))]);
  },
  WHERE_OPSET,
);

export const celuRule = elementwise(
  'Celu',
  (c, x, y, dY) => {
    const e = c.emit;
    const alpha = c.node.attrs.float('alpha', 1);
    // For x ≤ 0, y = α(e^{x/α}−1), so dy/dx = e^{x/α} = y/α + 1.
    return e.op1('Where', [e.op1('Greater', [x, k(c, 0)]), dY, e.mul(dY, e.add(e.div(y, k(c, alpha)), k(c, 1)))]);
  },
  WHERE_OPSET,
);

export const thresholdedReluRule = elementwise(
  'ThresholdedRelu',
  (c, x, _y, dY) => maskGrad(c.emit, c.emit.op1('Greater', [x, k(c, c.node.attrs.float('alpha', 1))]), dY, gradDType(c)),
  WHERE_OPSET,
);

export const mishRule = elementwise('Mish', (c, x, _y, dY) => {
  const e = c.emit;
  // y = x·tanh(softplus(x)): dy/dx = t + x(1−t²)σ(x), t = tanh(softplus(x)).
  const t = e.op1('Tanh', [e.op1('Softplus', [x])]);
  const right = e.mul(e.mul(x, e.sub(k(c, 1), e.mul(t, t))), e.op1('Sigmoid', [x]));
  return e.mul(dY, e.add(t, right));
});

/**
 * Clip: min/max are attributes before opset 11 and optional inputs from 11 (where they may also
 * carry gradients). y = min(max(x, lo), hi); as torch.clamp, x gets the gradient where
 * lo ≤ x ≤ hi, lo where x < lo, hi where max(x, lo) > hi (so hi wins when lo > hi, as the forward).
 */
export const clipRule: GradientRule = {
  opTypes: ['Clip'],
  minOpset: WHERE_OPSET,
  differentiableInputs: (node, opset) => (opset >= 11 ? [0, 1, 2].filter((i) => !!node.inputs[i]) : [0]),
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const x = node.inputs[0]!;
    const dY = ctx.outputGrad(0)!;
    const dtype = gradDType(ctx);
    let lo: string | undefined;
    let hi: string | undefined;
    // Whether lo ≤ hi is known at build time (attribute bounds), making max(x, lo) ≤ hi ⇔ x ≤ hi.
    let ordered = false;
    if (ctx.opset >= 11) {
      lo = node.inputs[1] || undefined;
      hi = node.inputs[2] || undefined;
    } else {
      const min = node.attrs.float('min');
      const max = node.attrs.float('max');
      if (min !== undefined) lo = scalarOf(e, min, dtype);
      if (max !== undefined) hi = scalarOf(e, max, dtype);
      ordered = min === undefined || max === undefined || min <= max;
    }
    // Past the lower bound, the upper test applies to max(x, lo), the value the forward clamps.
    const clampedLow = lo && hi && !ordered ? e.op1('Max', [x, lo]) : x;
    const geLo = lo ? greaterOrEqual(e, x, lo) : undefined;
    const leHi = hi ? lessOrEqual(e, clampedLow, hi) : undefined;
    const grads: InputGradients = {};
    if (ctx.needsGrad(0)) {
      const pass = geLo && leHi ? e.op1('And', [geLo, leHi]) : (geLo ?? leHi);
      grads[0] = pass ? maskGrad(e, pass, dY, dtype) : dY;
    }
    const toBound = (g: string, bound: string): string => {
      const shape = ctx.shape(bound);
      const s = e.reduceSum(
        g,
        ctx.shape(x).map((_, i) => i),
        false,
      );
      return shape.length === 0 ? s : e.reshape(s, shape);
    };
    if (ctx.needsGrad(1) && lo) {
      // Below lo the output is lo unless hi overrides it.
      const below = maskGrad(e, e.op1('Not', [geLo!]), dY, dtype);
      grads[1] = toBound(leHi ? maskGrad(e, leHi, below, dtype) : below, lo);
    }
    if (ctx.needsGrad(2) && hi) grads[2] = toBound(maskGrad(e, leHi!, dY, dtype, false), hi);
    return grads;
  },
};

/** PRelu: the slope is a parameter, broadcast unidirectionally to x; its gradient is reduced back. */
export const preluRule: GradientRule = {
  opTypes: ['PRelu'],
  minOpset: WHERE_OPSET,
  differentiableInputs: () => [0, 1],
  backward(ctx) {
    const e = ctx.emit;
    const [x, slope] = ctx.node.inputs as [string, string];
    const dY = ctx.outputGrad(0)!;
    const dtype = gradDType(ctx);
    const positive = e.op1('Greater', [x, k(ctx, 0)]);
    const grads: InputGradients = {};
    if (ctx.needsGrad(0)) grads[0] = e.op1('Where', [positive, dY, e.mul(dY, slope)]);
    if (ctx.needsGrad(1)) {
      const local = maskGrad(e, positive, e.mul(dY, x), dtype, false);
      grads[1] = e.reduceToShape(local, ctx.shape(x), ctx.shape(slope));
    }
    return grads;
  },
};

export const activationRules: readonly GradientRule[] = [
  reluRule,
  leakyReluRule,
  sigmoidRule,
  tanhRule,
  erfRule,
  geluRule,
  softplusRule,
  softsignRule,
  hardSigmoidRule,
  hardSwishRule,
  eluRule,
  seluRule,
  celuRule,
  thresholdedReluRule,
  mishRule,
  clipRule,
  preluRule,
];
