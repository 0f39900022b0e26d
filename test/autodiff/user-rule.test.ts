/**
 * README § "Adding a gradient rule", as a test: a rule written against the public API, registered
 * on a fresh registry, checked by finite differences — and a wrong version of it is caught.
 */
import { describe, expect, it } from 'vitest';
import { createDefaultRegistry, type GradientRule } from '../../src/index.js';
import { Random } from '../../src/util/random.js';
import { expectGrad, randomShape } from './rule-test-util.js';

const sinhRule: GradientRule = {
  opTypes: ['Sinh'],
  differentiableInputs: () => [0],
  backward(ctx) {
    // d sinh(x)/dx = cosh(x)
    return { 0: ctx.emit.mul(ctx.outputGrad(0)!, ctx.emit.op1('Cosh', [ctx.node.inputs[0]!])) };
  },
};

describe('a user-registered gradient rule', () => {
  it('differentiates an op the default registry lacks, checked by finite differences', async () => {
    expect(createDefaultRegistry().get('Sinh')).toBeUndefined();
    const registry = createDefaultRegistry();
    registry.register(sinhRule);
    const rng = new Random(5);
    for (let trial = 0; trial < 3; trial++) {
      await expectGrad([{ name: 'x', dims: randomShape(rng, 1, 4, 4) }], (b, [x]) => [b.op1('Sinh', [x!])], { opset: 17, seed: 500 + trial, registry });
    }
    // A wrong rule (sinh instead of cosh) is caught; registering an op twice is refused.
    const wrong = createDefaultRegistry();
    wrong.register({ ...sinhRule, backward: (ctx) => ({ 0: ctx.emit.mul(ctx.outputGrad(0)!, ctx.emit.op1('Sinh', [ctx.node.inputs[0]!])) }) });
    await expect(expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [b.op1('Sinh', [x!])], { opset: 17, seed: 1, registry: wrong })).rejects.toThrow(
      /gradcheck failed/,
    );
    expect(() => registry.register(sinhRule)).toThrow(/registered twice/);
  });
});
