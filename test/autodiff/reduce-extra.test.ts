import { describe, expect, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import type { GraphBuilder } from '../../src/onnx/builder.js';
import { reduceL1Rule, reduceL2Rule, reduceLogSumExpRule, reduceProdRule, reduceSumSquareRule } from '../../src/autodiff/rules/reduce.js';
import { gradientOf } from './grad-values.js';
import { expectGrad, randomShape, withBrokenRule, type AttrInput } from './rule-test-util.js';

/**
 * A Reduce* node in the form of `opset`: axes an attribute before 18 and an input from 18
 * (`undefined` = no axes at all; [] at 18 = an empty axes input).
 */
function reduce(b: GraphBuilder, op: string, x: string, opset: number, axes: number[] | undefined, keepdims: number, noop = false): string {
  const attrs: Record<string, AttrInput | undefined> = { keepdims };
  if (noop) attrs['noop_with_empty_axes'] = 1;
  if (opset >= 18) return b.op1(op, axes === undefined ? [x] : [x, b.int64s('axes', axes)], attrs);
  if (axes !== undefined && axes.length > 0) attrs['axes'] = axes;
  return b.op1(op, [x], attrs);
}

/** A random non-empty axis subset, each axis negative half the time; undefined (all axes) 1 in 5. */
function randomAxes(rng: Random, rank: number): number[] | undefined {
  if (rng.uniform() < 0.2) return undefined;
  const axes = Array.from({ length: rank }, (_, i) => i).filter(() => rng.uniform() < 0.5);
  if (axes.length === 0) axes.push(rng.int(rank));
  return axes.map((a) => (rng.uniform() < 0.5 ? a - rank : a));
}

const OPS = ['ReduceL1', 'ReduceL2', 'ReduceSumSquare', 'ReduceLogSumExp', 'ReduceProd'];

// Before (11, 13, 17) and after (18, 21) axes moved from an attribute to an input.
const OPSETS = [11, 13, 17, 18, 21];

describe('extra reduction gradients', () => {
  for (const op of OPS) {
    it(`${op}: random shapes, axes (negative, all, attribute/input), keepdims 0/1, opsets 11-21`, async () => {
      const rng = new Random(op.length * 131 + op.charCodeAt(6));
      for (let trial = 0; trial < OPSETS.length * 2; trial++) {
        const opset = OPSETS[trial % OPSETS.length]!;
        const dims = randomShape(rng, 1, 4, 4);
        const axes = randomAxes(rng, dims.length);
        const keepdims = rng.int(2);
        // Every third trial runs in float64 (dtype-matched constants in the backward).
        const double = trial % 3 === 2;
        await expectGrad(
          [{ name: 'x', dims }],
          (b, [x]) => [reduce(b, op, double ? b.op1('Cast', [x!], { to: 11 }) : x!, opset, axes, keepdims)],
          // LogSumExp's gradient is a softmax, small per entry: a wider step keeps float32
          // rounding of the O(1) outputs out of the finite differences (the function is smooth).
          { opset, seed: 500 + trial, epsilon: op === 'ReduceLogSumExp' ? 1e-2 : 1e-3 },
        );
      }
    });

    it(`${op}: noop_with_empty_axes (opset 18: no axes input, empty axes input) and empty axes reducing everything`, async () => {
      const rng = new Random(op.length * 17);
      for (const [k, form] of (['none', 'empty', 'empty-reduce-all'] as const).entries()) {
        await expectGrad(
          [{ name: 'x', dims: randomShape(rng, 1, 3, 4) }],
          (b, [x]) => [reduce(b, op, x!, 18, form === 'none' ? undefined : [], 1 - (k % 2), form !== 'empty-reduce-all')],
          { opset: 18, seed: 600 + k },
        );
      }
    });
  }

  it('ReduceSum, ReduceMean, ReduceMax honour noop_with_empty_axes without an axes input (opset 18)', async () => {
    // The shared reductionAxes once treated this as "reduce everything" for all but ReduceSum.
    const rng = new Random(18);
    for (const [k, op] of ['ReduceSum', 'ReduceMean', 'ReduceMax'].entries()) {
      for (const noop of [true, false]) {
        await expectGrad([{ name: 'x', dims: randomShape(rng, 1, 3, 4) }], (b, [x]) => [reduce(b, op, x!, 18, undefined, 1, noop)], {
          opset: 18,
          seed: 650 + k,
        });
      }
    }
  });

  it('ReduceProd with zeros: one zero in a slice (gradient = product of the others), two zeros (0)', async () => {
    // Rows: no zero, one zero, two zeros; reduced over axis 1.
    const data = Float32Array.of(0.5, -1.5, 2, 1.2, 0.7, 0, -1.1, 1.3, 0, 0.9, 0, -2);
    for (const opset of [13, 18]) {
      await expectGrad([{ name: 'x', dims: [3, 4], data }], (b, [x]) => [reduce(b, 'ReduceProd', x!, opset, [-1], 0)], { opset, seed: 700 + opset });
      const g = await gradientOf([3, 4], data, (b, x) => reduce(b, 'ReduceProd', x, opset, [1], 0), opset);
      const expected = [-1.5 * 2 * 1.2, 0.5 * 2 * 1.2, 0.5 * -1.5 * 1.2, 0.5 * -1.5 * 2, 0, 0.7 * -1.1 * 1.3, 0, 0, 0, 0, 0, 0];
      g.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    }
  });

  it('ReduceL2 of an all-zero slice has gradient 0, not NaN (as torch.norm)', async () => {
    const data = Float32Array.of(3, 0, -4, 0, 0, 0, 0, 0, 1, 2, -2, 0);
    for (const opset of [13, 18]) {
      for (const keepdims of [0, 1]) {
        const g = await gradientOf([3, 4], data, (b, x) => reduce(b, 'ReduceL2', x, opset, [1], keepdims), opset);
        const expected = [0.6, 0, -0.8, 0, 0, 0, 0, 0, 1 / 3, 2 / 3, -2 / 3, 0];
        g.forEach((v, i) => {
          expect(Number.isFinite(v)).toBe(true);
          expect(v).toBeCloseTo(expected[i]!, 6);
        });
      }
    }
    // The same holds for a zero element under noop_with_empty_axes (ReduceL2 is |x| there).
    const g = await gradientOf([4], Float32Array.of(-2, 0, 3, 0), (b, x) => reduce(b, 'ReduceL2', x, 18, undefined, 1, true), 18);
    [-1, 0, 1, 0].forEach((v, i) => expect(g[i]).toBeCloseTo(v, 6));
  });

  it('a wrong rule for each reduction is caught', async () => {
    const check = (op: string): Promise<number> =>
      expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [reduce(b, op, x!, 18, [1], 1)], { opset: 18, seed: 9 });
    // ReduceL1 without the sign; ReduceL2 without dividing by the norm; ReduceSumSquare without
    // the 2; ReduceLogSumExp as eˣ instead of e^(x−y); ReduceProd off by 1%.
    await withBrokenRule(
      reduceL1Rule,
      (ctx) => ({ 0: ctx.emit.op1('Expand', [ctx.outputGrad(0)!, ctx.emit.int64s([3, 4])]) }),
      () => check('ReduceL1'),
    );
    await withBrokenRule(
      reduceL2Rule,
      (ctx) => ({ 0: ctx.emit.mul(ctx.node.inputs[0]!, ctx.outputGrad(0)!) }),
      () => check('ReduceL2'),
    );
    await withBrokenRule(
      reduceSumSquareRule,
      (ctx) => ({ 0: ctx.emit.mul(ctx.node.inputs[0]!, ctx.outputGrad(0)!) }),
      () => check('ReduceSumSquare'),
    );
    await withBrokenRule(
      reduceLogSumExpRule,
      (ctx) => ({ 0: ctx.emit.mul(ctx.emit.op1('Exp', [ctx.node.inputs[0]!]), ctx.outputGrad(0)!) }),
      () => check('ReduceLogSumExp'),
    );
    await withBrokenRule(
      reduceProdRule,
      (ctx, right) => ({ 0: ctx.emit.mul(right[0]!, ctx.emit.scalar(1.01)) }),
      () => check('ReduceProd'),
    );
  });
});
