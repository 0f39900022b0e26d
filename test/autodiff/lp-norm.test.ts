import { describe, expect, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import { lpNormalizationRule } from '../../src/autodiff/rules/lp-norm.js';
import { gradientOf } from './grad-values.js';
import { expectGrad, randomShape, withBrokenRule, type AttrInput } from './rule-test-util.js';

describe('LpNormalization gradients', () => {
  it('p = 1, 2 and default, any axis (negative, default -1), opsets 11-21', async () => {
    const rng = new Random(77);
    const opsets = [11, 13, 18, 21];
    for (let trial = 0; trial < 12; trial++) {
      const dims = randomShape(rng, 1, 4, 4, 2);
      const attrs: Record<string, AttrInput | undefined> = {};
      const p = trial % 3 === 2 ? undefined : 1 + (trial % 3);
      if (p !== undefined) attrs['p'] = p;
      if (rng.uniform() < 0.75) {
        const axis = rng.int(dims.length);
        attrs['axis'] = rng.uniform() < 0.5 ? axis - dims.length : axis;
      }
      const double = trial % 4 === 3;
      await expectGrad([{ name: 'x', dims }], (b, [x]) => [b.op1('LpNormalization', [double ? b.op1('Cast', [x!], { to: 11 }) : x!], attrs)], {
        opset: opsets[trial % opsets.length]!,
        seed: 7700 + trial,
      });
    }
  });

  it('a zero slice (y = 0 in onnxruntime) gets a zero gradient, not NaN', async () => {
    // Rows normalised over axis 1; row 1 is all zeros.
    const data = Float32Array.of(3, -4, 0, 0, 0, 0, 1, 2, -2);
    for (const p of [1, 2]) {
      const g = await gradientOf([3, 3], data, (b, x) => b.op1('LpNormalization', [x], { p, axis: 1 }), 13);
      expect(g.every((v) => Number.isFinite(v))).toBe(true);
      for (const i of [3, 4, 5]) expect(g[i]).toBe(0);
    }
  });

  it('a wrong LpNormalization rule (no projection term) is caught', async () => {
    await withBrokenRule(
      lpNormalizationRule,
      (ctx) => {
        const e = ctx.emit;
        const x = ctx.node.inputs[0]!;
        return { 0: e.div(ctx.outputGrad(0)!, e.op1('Sqrt', [e.reduceSum(e.mul(x, x), [1], true)])) };
      },
      () => expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [b.op1('LpNormalization', [x!], { axis: 1, p: 2 })], { opset: 13, seed: 1 }),
    );
  });
});
