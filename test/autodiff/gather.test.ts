import { describe, expect, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import { gatherRule } from '../../src/autodiff/rules/gather.js';
import { gradcheck } from './gradcheck.js';
import { expectGrad, int64Data, randomShape, withBrokenRule } from './rule-test-util.js';

/** Random indices in [−dim, dim) (negative half the time), with duplicates by construction. */
function indices(rng: Random, n: number, dim: number, negative: boolean): number[] {
  return Array.from({ length: n }, () => {
    const i = rng.int(dim);
    return negative && rng.uniform() < 0.5 ? i - dim : i;
  });
}

describe('gather gradients', () => {
  it('Gather: any axis, scalar and N-D indices, duplicates, negative indices, int64 and int32 (opset 16/18)', async () => {
    const rng = new Random(71);
    for (let trial = 0; trial < 12; trial++) {
      const dims = randomShape(rng, 1, 3, 4, 1);
      const axis = rng.int(dims.length);
      const iDims = trial === 0 ? [] : randomShape(rng, 1, 2, 4, 1);
      const n = iDims.reduce((a, d) => a * d, 1);
      const idx = indices(rng, n, dims[axis]!, trial % 2 === 1);
      const int32 = trial % 3 === 2;
      await expectGrad(
        [
          { name: 'x', dims },
          { name: 'i', dims: iDims, dtype: 'int64', data: int64Data(idx) },
        ],
        (b, [x, i]) => [b.op1('Gather', [x!, int32 ? b.op1('Cast', [i!], { to: 6 }) : i!], { axis: rng.uniform() < 0.5 ? axis : axis - dims.length })],
        { opset: trial % 2 === 0 ? 16 : 18, seed: 7100 + trial },
      );
    }
  });

  it('Gather as an embedding lookup: repeated ids accumulate into the table rows', async () => {
    const ids = [3, 1, 3, 3, 0, 1];
    const r = await expectGrad(
      [
        { name: 'table', dims: [5, 4] },
        { name: 'ids', dims: [2, 3], dtype: 'int64', data: int64Data(ids) },
      ],
      (b, [t, i]) => [b.op1('Gather', [t!, i!])],
      { opset: 16, seed: 72 },
    );
    expect(r).toBeLessThan(2e-3);
  });

  it('Gather at an opset without ScatterND add explains what it needs', async () => {
    await expect(
      gradcheck(
        [
          { name: 'x', dims: [4, 2] },
          { name: 'i', dims: [3], dtype: 'int64', data: int64Data([0, 1, 1]) },
        ],
        (b, [x, i]) => [b.op1('Gather', [x!, i!])],
        {
          opset: 13,
          seed: 1,
        },
      ),
    ).rejects.toThrow(/opset 16/);
  });

  it('GatherElements: any axis, duplicates, negative indices (opset 16/18)', async () => {
    const rng = new Random(73);
    for (let trial = 0; trial < 6; trial++) {
      const dims = randomShape(rng, 1, 3, 4, 1);
      const axis = rng.int(dims.length);
      // Indices have the data's rank; their extent along `axis` is free, elsewhere at most the data's.
      const iDims = dims.map((d, k) => (k === axis ? 1 + rng.int(5) : 1 + rng.int(d)));
      const n = iDims.reduce((a, d) => a * d, 1);
      await expectGrad(
        [
          { name: 'x', dims },
          { name: 'i', dims: iDims, dtype: 'int64', data: int64Data(indices(rng, n, dims[axis]!, trial % 2 === 1)) },
        ],
        (b, [x, i]) => [b.op1('GatherElements', [x!, i!], { axis: trial % 3 === 0 ? axis - dims.length : axis })],
        { opset: trial % 2 === 0 ? 16 : 18, seed: 7300 + trial },
      );
    }
  });

  it('GatherND (batch_dims 0): index tuples of length 1..rank, duplicates, negative entries', async () => {
    const rng = new Random(74);
    for (let trial = 0; trial < 5; trial++) {
      const dims = randomShape(rng, 1, 3, 3, 1);
      const k = 1 + rng.int(dims.length);
      const lead = randomShape(rng, 1, 2, 3, 1);
      const count = lead.reduce((a, d) => a * d, 1);
      const idx: number[] = [];
      for (let c = 0; c < count; c++) for (let j = 0; j < k; j++) idx.push(indices(rng, 1, dims[j]!, trial % 2 === 1)[0]!);
      await expectGrad(
        [
          { name: 'x', dims },
          { name: 'i', dims: [...lead, k], dtype: 'int64', data: int64Data(idx) },
        ],
        (b, [x, i]) => [b.op1('GatherND', [x!, i!])],
        { opset: 16, seed: 7400 + trial },
      );
    }
  });

  it('a wrong Gather rule (overwrite instead of accumulate) is caught', async () => {
    await withBrokenRule(
      gatherRule,
      (ctx) => {
        const e = ctx.emit;
        // ScatterND without reduction: duplicate ids overwrite each other.
        const idx = e.reshape(ctx.node.inputs[1]!, [4, 1]);
        return { 0: e.op1('ScatterND', [e.zeros([3, 2]), idx, ctx.outputGrad(0)!]) };
      },
      () =>
        expectGrad(
          [
            { name: 'x', dims: [3, 2] },
            { name: 'i', dims: [4], dtype: 'int64', data: int64Data([2, 0, 2, 2]) },
          ],
          (b, [x, i]) => [b.op1('Gather', [x!, i!])],
          {
            opset: 16,
            seed: 1,
          },
        ),
    );
  });
});
