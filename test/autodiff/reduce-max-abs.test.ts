import { describe, expect, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import type { GraphBuilder } from '../../src/onnx/builder.js';
import { reduceMaxRule } from '../../src/autodiff/rules/reduce.js';
import { gradientOf } from './grad-values.js';
import { expectGrad, randomShape, withBrokenRule, type AttrInput } from './rule-test-util.js';

function reduce(b: GraphBuilder, op: string, x: string, opset: number, axes: number[], keepdims: number): string {
  const attrs: Record<string, AttrInput | undefined> = { keepdims };
  if (opset >= 18) return b.op1(op, [x, b.int64s('axes', axes)], attrs);
  attrs['axes'] = axes;
  return b.op1(op, [x], attrs);
}

describe('ReduceMax / ReduceMin gradients', () => {
  for (const op of ['ReduceMax', 'ReduceMin']) {
    it(`${op}: random shapes, axes and keepdims match finite differences (opsets 13, 18)`, async () => {
      const rng = new Random(op.length * 97);
      for (let trial = 0; trial < 6; trial++) {
        const opset = trial % 2 === 0 ? 13 : 18;
        const dims = randomShape(rng, 1, 4, 4);
        const axes = [rng.int(dims.length) - (rng.uniform() < 0.5 ? dims.length : 0)];
        // Distinct values (no ties) so the function is differentiable where it is probed.
        await expectGrad([{ name: 'x', dims }], (b, [x]) => [reduce(b, op, x!, opset, axes, trial % 3 === 0 ? 0 : 1)], { opset, seed: 300 + trial });
      }
    });

    it(`${op}: ties share the gradient equally (as torch.amax/amin)`, async () => {
      // Rows: a tie of two at the extreme, a tie of three, no tie.
      const data = Float32Array.of(2, 5, 5, 1, 7, 7, 7, 0, 3, 1, 4, 2);
      const sign = op === 'ReduceMax' ? 1 : -1;
      const g = await gradientOf(
        [3, 4],
        data.map((v) => sign * v),
        (b, x) => reduce(b, op, x, 13, [1], 1),
        13,
      );
      expect(g).toEqual([0, 0.5, 0.5, 0, 1 / 3, 1 / 3, 1 / 3, 0, 0, 0, 1, 0].map((v) => Math.fround(v)));
    });
  }

  it('a wrong ReduceMax gradient is caught', async () => {
    await withBrokenRule(
      reduceMaxRule,
      (ctx, right) => ({ 0: ctx.emit.op1('Neg', [right[0]!]) }),
      () => expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [reduce(b, 'ReduceMax', x!, 13, [1], 1)], { opset: 13, seed: 5 }),
    );
  });
});

describe('Abs gradient on both signs', () => {
  it('matches finite differences on mixed-sign inputs and is sign(x)', async () => {
    await expectGrad([{ name: 'x', dims: [4, 5] }], (b, [x]) => [b.op1('Abs', [x!])], { opset: 13, seed: 41 });
    const data = Float32Array.of(-2, -0.5, 0.25, 3);
    expect(await gradientOf([4], data, (b, x) => b.op1('Abs', [x]), 13)).toEqual([-1, -1, 1, 1]);
  });
});
