import { describe, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import type { GraphBuilder } from '../../src/onnx/builder.js';
import { depthToSpaceRule, tileRule } from '../../src/autodiff/rules/shape.js';
import { expectGrad, randomShape, withBrokenRule } from './rule-test-util.js';

function i64(b: GraphBuilder, base: string, values: readonly number[]): string {
  return b.constant(
    base,
    'int64',
    [values.length],
    BigInt64Array.from(values, (v) => BigInt(v)),
  );
}

/** The op's output squared, so dY depends on x and a misplaced gradient shows. */
function squared(b: GraphBuilder, y: string): string {
  return b.op1('Mul', [y, y]);
}

describe('DepthToSpace / SpaceToDepth gradients', () => {
  it('DepthToSpace DCR and CRD: random N, C, H, W and blocksize (opsets 11, 13, 18, 21; DCR also at 9)', async () => {
    const rng = new Random(311);
    const forms: [string, number][] = [
      ['DCR', 9],
      ['DCR', 11],
      ['CRD', 11],
      ['DCR', 13],
      ['CRD', 13],
      ['CRD', 18],
      ['DCR', 21],
      ['CRD', 21],
    ];
    for (let trial = 0; trial < 12; trial++) {
      const [mode, opset] = forms[trial % forms.length]!;
      const b = 1 + rng.int(3);
      const dims = [1 + rng.int(2), b * b * (1 + rng.int(3)), 1 + rng.int(3), 1 + rng.int(3)];
      // Before opset 11 DepthToSpace has no mode attribute (it is DCR).
      const attrs = opset >= 11 && (mode === 'CRD' || rng.uniform() < 0.5) ? { blocksize: b, mode } : { blocksize: b };
      await expectGrad([{ name: 'x', dims }], (g, [x]) => [squared(g, g.op1('DepthToSpace', [x!], attrs))], { opset, seed: 31100 + trial, directions: 2 });
    }
  });

  it('SpaceToDepth: random N, C, H, W and blocksize (opsets 9, 13, 21)', async () => {
    const rng = new Random(312);
    for (let trial = 0; trial < 6; trial++) {
      const b = 1 + rng.int(3);
      const dims = [1 + rng.int(2), 1 + rng.int(3), b * (1 + rng.int(3)), b * (1 + rng.int(3))];
      await expectGrad([{ name: 'x', dims }], (g, [x]) => [squared(g, g.op1('SpaceToDepth', [x!], { blocksize: b }))], {
        opset: [9, 13, 21][trial % 3]!,
        seed: 31200 + trial,
        directions: 2,
      });
    }
  });

  it('a wrong DepthToSpace rule (CRD undone as if it were DCR) is caught', async () => {
    await withBrokenRule(
      depthToSpaceRule,
      (ctx) => ({ 0: ctx.emit.op1('SpaceToDepth', [ctx.outputGrad(0)!], { blocksize: 2 }) }),
      () => expectGrad([{ name: 'x', dims: [1, 8, 2, 3] }], (g, [x]) => [g.op1('DepthToSpace', [x!], { blocksize: 2, mode: 'CRD' })], { opset: 13, seed: 1 }),
    );
  });
});

describe('Tile gradient', () => {
  it('random shapes and repeats incl. 1s and a zero repeat (opsets 8, 13, 21)', async () => {
    const rng = new Random(313);
    for (let trial = 0; trial < 9; trial++) {
      const dims = randomShape(rng, 1, 4, 3, 1);
      const repeats = dims.map(() => 1 + rng.int(3));
      if (trial === 4) repeats[rng.int(repeats.length)] = 0;
      await expectGrad([{ name: 'x', dims }], (g, [x]) => [squared(g, g.op1('Tile', [x!, i64(g, 'repeats', repeats)])), x!], {
        opset: [8, 13, 21][trial % 3]!,
        seed: 31300 + trial,
        directions: 2,
      });
    }
  });

  it('a wrong Tile rule (only the first copy gets the gradient) is caught', async () => {
    await withBrokenRule(
      tileRule,
      (ctx) => ({ 0: ctx.emit.op1('Slice', [ctx.outputGrad(0)!, ctx.emit.int64s([0]), ctx.emit.int64s([3]), ctx.emit.int64s([1])]) }),
      () => expectGrad([{ name: 'x', dims: [2, 3] }], (g, [x]) => [g.op1('Tile', [x!, i64(g, 'repeats', [1, 2])])], { opset: 13, seed: 1 }),
    );
  });
});
