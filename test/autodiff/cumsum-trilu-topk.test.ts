import { describe, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import type { GraphBuilder } from '../../src/onnx/builder.js';
import { cumSumRule, topKRule, triluRule } from '../../src/autodiff/rules/cumsum-trilu-topk.js';
import { expectGrad, randomShape, withBrokenRule, type AttrInput } from './rule-test-util.js';

/** A rank-0 (or [1]) integer constant, int64 or int32. */
function intConst(b: GraphBuilder, value: number, int32: boolean, vector = false): string {
  const dims = vector ? [1] : [];
  return int32 ? b.constant('c', 'int32', dims, Int32Array.of(value)) : b.constant('c', 'int64', dims, BigInt64Array.of(BigInt(value)));
}

describe('CumSum, Trilu and TopK gradients', () => {
  it('CumSum: any axis (negative, int32/int64), exclusive and reverse, opsets 11-21', async () => {
    const rng = new Random(111);
    const opsets = [11, 14, 18, 21];
    for (let trial = 0; trial < 12; trial++) {
      const dims = randomShape(rng, 1, 4, 4);
      const axis = rng.int(dims.length) - (rng.uniform() < 0.5 ? dims.length : 0);
      const attrs: Record<string, AttrInput | undefined> = {};
      if (trial % 4 !== 0) attrs['exclusive'] = rng.int(2);
      if (trial % 4 !== 1) attrs['reverse'] = rng.int(2);
      const int32 = trial % 3 === 1;
      await expectGrad([{ name: 'x', dims }], (b, [x]) => [b.op1('CumSum', [x!, intConst(b, axis, int32, trial % 5 === 4)], attrs)], {
        opset: opsets[trial % opsets.length]!,
        seed: 1100 + trial,
      });
    }
  });

  it('Trilu: upper/lower/default, k absent or in [-3, 3], batched, opsets 14-21', async () => {
    const rng = new Random(141);
    const opsets = [14, 18, 21];
    for (let trial = 0; trial < 9; trial++) {
      const dims = randomShape(rng, 2, 4, 4);
      const attrs: Record<string, AttrInput | undefined> = {};
      if (trial % 3 !== 0) attrs['upper'] = rng.int(2);
      const k = trial % 4 === 0 ? undefined : rng.int(7) - 3;
      await expectGrad([{ name: 'x', dims }], (b, [x]) => [b.op1('Trilu', k === undefined ? [x!] : [x!, b.scalar('k', k, 'int64')], attrs)], {
        opset: opsets[trial % opsets.length]!,
        seed: 1400 + trial,
      });
    }
  });

  it('TopK: values output, any axis and k, largest/smallest, sorted/unsorted, opsets 10-21', async () => {
    const rng = new Random(101);
    const opsets = [10, 11, 13, 18, 21];
    for (let trial = 0; trial < 10; trial++) {
      const opset = opsets[trial % opsets.length]!;
      const dims = randomShape(rng, 1, 3, 5, 1);
      let axis = rng.int(dims.length);
      const k = 1 + rng.int(dims[axis]!);
      const attrs: Record<string, AttrInput | undefined> = {};
      // Negative axes, largest and sorted exist from opset 11.
      if (opset >= 11) {
        if (rng.uniform() < 0.5) axis -= dims.length;
        attrs['largest'] = rng.int(2);
        attrs['sorted'] = rng.int(2);
      }
      if (axis !== dims.length - 1 || rng.uniform() < 0.5) attrs['axis'] = axis;
      await expectGrad(
        [{ name: 'x', dims }],
        (b, [x]) => {
          // Scaled so neighbouring values lie far apart relative to the finite-difference step.
          const xs = b.op1('Mul', [x!, b.scalar('s', 10)]);
          const [values] = b.op('TopK', [xs, b.int64s('k', [k])], attrs, { outputCount: 2 });
          return [values!];
        },
        { opset, seed: 1000 + trial },
      );
    }
  });

  it('TopK values feeding a further op alongside x itself (gradients meet at x)', async () => {
    await expectGrad(
      [{ name: 'x', dims: [3, 6] }],
      (b, [x]) => {
        const [values] = b.op('TopK', [x!, b.int64s('k', [2])], { axis: 1 }, { outputCount: 2 });
        return [b.op1('Mul', [values!, values!]), b.op1('Tanh', [x!])];
      },
      { opset: 18, seed: 1099 },
    );
  });

  it('wrong CumSum, Trilu and TopK rules are caught', async () => {
    // CumSum in the forward's own direction.
    await withBrokenRule(
      cumSumRule,
      (ctx) => ({ 0: ctx.emit.op1('CumSum', [ctx.outputGrad(0)!, ctx.node.inputs[1]!]) }),
      () => expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [b.op1('CumSum', [x!, b.scalar('a', 1, 'int64')])], { opset: 14, seed: 1 }),
    );
    // Trilu keeping the other triangle.
    await withBrokenRule(
      triluRule,
      (ctx) => ({ 0: ctx.emit.op1('Trilu', [ctx.outputGrad(0)!], { upper: 0 }) }),
      () => expectGrad([{ name: 'x', dims: [4, 4] }], (b, [x]) => [b.op1('Trilu', [x!], { upper: 1 })], { opset: 14, seed: 1 }),
    );
    // TopK gradient placed at the first k positions instead of the selected ones.
    await withBrokenRule(
      topKRule,
      (ctx) => ({ 0: ctx.emit.op1('Pad', [ctx.outputGrad(0)!, ctx.emit.int64s([0, 0, 0, 3])]) }),
      () =>
        expectGrad(
          [{ name: 'x', dims: [3, 5] }],
          (b, [x]) => [b.op('TopK', [b.op1('Mul', [x!, b.scalar('s', 10)]), b.int64s('k', [2])], { axis: 1 }, { outputCount: 2 })[0]!],
          { opset: 13, seed: 1 },
        ),
    );
  });
});
