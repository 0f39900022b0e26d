import { describe, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import { gemmRule, matmulRule } from '../../src/autodiff/rules/matmul.js';
import { expectGrad, float, pick, withBrokenRule, type AttrInput } from './rule-test-util.js';

describe('matmul gradients', () => {
  for (const opset of [9, 13]) {
    it(`Gemm: transA/transB, alpha, beta, C shapes (opset ${opset}${opset < 11 ? ', MatMul fallback' : ''})`, async () => {
      const rng = new Random(opset);
      let trial = 0;
      for (const transA of [0, 1]) {
        for (const transB of [0, 1]) {
          for (let rep = 0; rep < 2; rep++, trial++) {
            const M = 1 + rng.int(4);
            const K = 1 + rng.int(4);
            const N = 1 + rng.int(4);
            // C is required before opset 11.
            const cShape = pick(rng, opset < 11 ? [[M, N], [N], [1], [], [M, 1]] : [[M, N], [N], [1], [], [M, 1], undefined]);
            const attrs: Record<string, AttrInput> = { transA, transB };
            if (rng.uniform() < 0.7) attrs.alpha = float(0.5 + rng.uniform());
            if (rng.uniform() < 0.7) attrs.beta = float(-1 + 2 * rng.uniform());
            const inputs = [
              { name: 'a', dims: transA ? [K, M] : [M, K] },
              { name: 'b', dims: transB ? [N, K] : [K, N] },
            ];
            if (cShape) inputs.push({ name: 'c', dims: cShape });
            await expectGrad(inputs, (b, names) => [b.op1('Gemm', names, attrs)], { opset, seed: 500 + trial });
          }
        }
      }
    });
  }

  it('Gemm with a constant C only differentiates A and B', async () => {
    await expectGrad(
      [
        { name: 'a', dims: [3, 2] },
        { name: 'b', dims: [4, 2] },
      ],
      (b, [a, w]) => [b.op1('Gemm', [a!, w!, b.constant('c', 'float32', [4], Float32Array.of(1, 2, 3, 4))], { transB: 1 })],
      { opset: 13, seed: 7 },
    );
  });

  const CASES: [number[], number[]][] = [
    [[4], [4, 3]],
    [[2, 4], [4]],
    [[5], [5]],
    [
      [2, 3, 4],
      [4, 5],
    ],
    [[4], [2, 4, 3]],
    [
      [3, 4],
      [2, 4, 5],
    ],
    [
      [2, 1, 3, 4],
      [5, 4, 2],
    ],
    [
      [1, 3, 4],
      [2, 4, 3],
    ],
    [[2, 3, 2, 4], [4]],
    [
      [2, 2, 3, 4],
      [2, 1, 4, 2],
    ],
  ];
  it('MatMul: 1-D operands, batched with broadcast batch dims, shared 2-D weights', async () => {
    for (const [i, [sa, sb]] of CASES.entries()) {
      await expectGrad(
        [
          { name: 'a', dims: sa },
          { name: 'b', dims: sb },
        ],
        (b, [a, w]) => [b.op1('MatMul', [a!, w!])],
        {
          opset: i % 2 === 0 ? 13 : 9,
          seed: 600 + i,
        },
      );
    }
  });

  it('MatMul: random batched shapes', async () => {
    const rng = new Random(77);
    for (let trial = 0; trial < 6; trial++) {
      const M = 1 + rng.int(3);
      const K = 1 + rng.int(3);
      const N = 1 + rng.int(3);
      const batch = Array.from({ length: rng.int(3) }, () => 1 + rng.int(3));
      const ba = batch.map((d) => (rng.uniform() < 0.3 ? 1 : d)).slice(rng.int(batch.length + 1));
      const bb = batch.map((d) => (rng.uniform() < 0.3 ? 1 : d)).slice(rng.int(batch.length + 1));
      await expectGrad(
        [
          { name: 'a', dims: [...ba, M, K] },
          { name: 'b', dims: [...bb, K, N] },
        ],
        (b, [a, w]) => [b.op1('MatMul', [a!, w!])],
        {
          opset: 17,
          seed: 700 + trial,
        },
      );
    }
  });

  it('a wrong Gemm or MatMul rule is caught', async () => {
    // Gradients of the wrong operand's orientation: dA taken as dY·B (not Bᵀ) on a square case.
    await withBrokenRule(
      gemmRule,
      (ctx, right) => ({ ...right, 0: ctx.emit.op1('Gemm', [ctx.outputGrad(0)!, ctx.node.inputs[1]!]) }),
      () =>
        expectGrad(
          [
            { name: 'a', dims: [3, 3] },
            { name: 'b', dims: [3, 3] },
          ],
          (b, n) => [b.op1('Gemm', n)],
          { opset: 13, seed: 3 },
        ),
    );
    await withBrokenRule(
      matmulRule,
      (ctx, right) => ({ ...right, 1: ctx.emit.mul(right[1]!, ctx.emit.scalar(2)) }),
      () =>
        expectGrad(
          [
            { name: 'a', dims: [2, 3, 4] },
            { name: 'b', dims: [4, 2] },
          ],
          (b, n) => [b.op1('MatMul', n)],
          { opset: 13, seed: 3 },
        ),
    );
  });
});
