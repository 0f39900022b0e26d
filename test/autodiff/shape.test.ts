import { describe, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import type { GraphBuilder } from '../../src/onnx/builder.js';
import { Tensor } from '../../src/onnx/tensor.js';
import { concatRule, sliceRule } from '../../src/autodiff/rules/shape.js';
import { expectGrad, float, pick, randomShape, withBrokenRule } from './rule-test-util.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

function i64(b: GraphBuilder, base: string, values: readonly (number | bigint)[]): string {
  return b.constant(
    base,
    'int64',
    [values.length],
    BigInt64Array.from(values, (v) => BigInt(v)),
  );
}

function ones1(): Tensor {
  return Tensor.fromArray('', 'float32', [1], Float32Array.of(1));
}

function shuffle(rng: Random, n: number): number[] {
  return Array.from(rng.permutation(n));
}

describe('shape op gradients', () => {
  it('Reshape with 0 and −1 in the shape, allowzero (opset 13, 14, 18)', async () => {
    const rng = new Random(51);
    for (let trial = 0; trial < 6; trial++) {
      const dims = randomShape(rng, 2, 4, 4);
      const total = dims.reduce((a, d) => a * d, 1);
      // Keep the first dim (0), fold the rest into −1, or a fully explicit flattening.
      const target = pick(rng, [[0, -1], [-1], [total], [0, ...dims.slice(1, -1), -1], [1, -1, 1]]);
      const allowzero = trial % 3 === 1 && !target.includes(0) ? 1 : undefined;
      await expectGrad([{ name: 'x', dims }], (b, [x]) => [b.op1('Reshape', [x!, i64(b, 'shape', target)], allowzero ? { allowzero } : {})], {
        opset: [13, 14, 18][trial % 3]!,
        seed: 5100 + trial,
      });
    }
  });

  it('Flatten with random axis (opset 9 and 13)', async () => {
    const rng = new Random(52);
    for (let trial = 0; trial < 5; trial++) {
      const dims = randomShape(rng, 1, 4, 4);
      const opset = trial % 2 === 0 ? 9 : 13;
      const axis = opset < 11 ? rng.int(dims.length + 1) : rng.int(2 * dims.length + 1) - dims.length;
      await expectGrad([{ name: 'x', dims }], (b, [x]) => [b.op1('Flatten', [x!], { axis })], { opset, seed: 5200 + trial });
    }
  });

  it('Squeeze/Unsqueeze: axes attribute (opset 11) and input (opset 13, 18), omitted axes', async () => {
    const rng = new Random(53);
    for (let trial = 0; trial < 6; trial++) {
      const opset = [11, 13, 18][trial % 3]!;
      const dims = randomShape(rng, 1, 3, 3);
      const rank = dims.length;
      // Unsqueeze at random output positions, then squeeze them back out (or all 1s at once).
      const out = rank + 1 + rng.int(2);
      const axes = shuffle(rng, out)
        .slice(0, out - rank)
        .map((a) => (rng.uniform() < 0.5 ? a - out : a));
      const squeezeAll = trial % 2 === 1;
      await expectGrad(
        [{ name: 'x', dims }],
        (b, [x]) => {
          const u = opset >= 13 ? b.op1('Unsqueeze', [x!, i64(b, 'axes', axes)]) : b.op1('Unsqueeze', [x!], { axes });
          const mid = b.op1('Mul', [u, u]);
          if (squeezeAll) return [b.op1('Squeeze', [mid]), u];
          return [opset >= 13 ? b.op1('Squeeze', [mid, i64(b, 'axes', axes)]) : b.op1('Squeeze', [mid], { axes }), u];
        },
        { opset, seed: 5300 + trial },
      );
    }
  });

  it('Transpose with random and default perms', async () => {
    const rng = new Random(54);
    for (let trial = 0; trial < 6; trial++) {
      const dims = randomShape(rng, 1, 5, 3, 1);
      const perm = trial === 0 ? undefined : shuffle(rng, dims.length);
      await expectGrad([{ name: 'x', dims }], (b, [x]) => [b.op1('Transpose', [x!], perm ? { perm } : {})], { opset: 13, seed: 5400 + trial });
    }
  });

  it('Identity and Dropout (ratio attribute at 10, ratio/training_mode inputs at 13) pass dY through', async () => {
    await expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [b.op1('Identity', [b.op1('Mul', [x!, x!])])], { opset: 13, seed: 55 });
    await expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [b.op('Dropout', [x!], { ratio: float(0.3) }, { outputCount: 2 })[0]!], {
      opset: 10,
      seed: 56,
    });
    await expectGrad(
      [{ name: 'x', dims: [2, 5] }],
      (b, [x]) => {
        const training = b.constant('training', 'bool', [], Uint8Array.of(0));
        const [y] = b.op('Dropout', [x!, b.scalar('ratio', 0.5), training], {}, { outputCount: 2 });
        return [b.op1('Tanh', [y!])];
      },
      { opset: 13, seed: 57 },
    );
  });

  it('Expand with broadcasting (incl. added leading dims and a shape with 1s)', async () => {
    const rng = new Random(58);
    for (let trial = 0; trial < 6; trial++) {
      const out = randomShape(rng, 1, 4, 3, 1);
      const x = out.map((d) => (rng.uniform() < 0.5 ? 1 : d)).slice(rng.int(out.length));
      const shapeInput = out.map((d, i) => (x[i - (out.length - x.length)] === d && rng.uniform() < 0.5 ? 1 : d));
      await expectGrad([{ name: 'x', dims: x }], (b, [v]) => [b.op1('Expand', [v!, i64(b, 'shape', shapeInput)])], {
        opset: trial % 2 ? 8 : 13,
        seed: 5800 + trial,
      });
    }
  });

  it('Tile with random repeats', async () => {
    const rng = new Random(59);
    for (let trial = 0; trial < 6; trial++) {
      const dims = randomShape(rng, 1, 4, 3, 1);
      const repeats = dims.map(() => 1 + rng.int(3));
      await expectGrad([{ name: 'x', dims }], (b, [x]) => [b.op1('Tile', [x!, i64(b, 'repeats', repeats)])], { opset: 13, seed: 5900 + trial });
    }
  });

  it('Concat: random inputs and axis (Split attribute at 11, input at 13), an empty input, a constant input', async () => {
    const rng = new Random(60);
    for (let trial = 0; trial < 6; trial++) {
      const opset = trial % 2 === 0 ? 11 : 13;
      const base = randomShape(rng, 1, 4, 3, 1);
      const rank = base.length;
      const axis = rng.int(rank);
      const count = 1 + rng.int(4);
      const inputs = Array.from({ length: count }, (_, i) => ({
        name: `x${i}`,
        dims: base.map((d, j) => (j === axis ? (trial === 3 && i === 1 ? 0 : 1 + rng.int(3)) : d)),
      }));
      const withConstant = trial === 4;
      await expectGrad(
        inputs,
        (b, names) => {
          const all = names.slice();
          if (withConstant) all.push(b.constant('k', 'float32', base, new Float32Array(base.reduce((a, d) => a * d, 1)).fill(1)));
          return [b.op1('Concat', all, { axis: rng.uniform() < 0.5 ? axis : axis - rank })];
        },
        { opset, seed: 6000 + trial },
      );
    }
  });

  it('Split: attribute sizes (11), input sizes (13), equal parts, num_outputs (18); unused outputs get zeros', async () => {
    const rng = new Random(61);
    for (let trial = 0; trial < 8; trial++) {
      const form = trial % 4;
      const opset = [11, 13, 13, 18][form]!;
      const dims = randomShape(rng, 1, 3, 3, 1);
      const axis = rng.int(dims.length);
      const parts = form === 3 ? 1 + rng.int(3) : 2 + rng.int(2);
      let sizes: number[] | undefined;
      if (form === 0 || form === 1) {
        sizes = Array.from({ length: parts }, () => 1 + rng.int(3));
      } else {
        // Equal split / num_outputs (the last part may be smaller at 18).
        sizes = undefined;
      }
      const total = sizes ? sizes.reduce((a, s) => a + s, 0) : form === 2 ? parts * (1 + rng.int(2)) : parts + rng.int(3);
      dims[axis] = total;
      const used = shuffle(rng, parts).slice(0, 1 + rng.int(parts));
      await expectGrad(
        [{ name: 'x', dims }],
        (b, [x]) => {
          let outs: string[];
          if (form === 0) outs = b.op('Split', [x!], { axis, split: sizes! }, { outputCount: parts });
          else if (form === 1) outs = b.op('Split', [x!, i64(b, 'split', sizes!)], { axis }, { outputCount: parts });
          else if (form === 2) outs = b.op('Split', [x!], { axis }, { outputCount: parts });
          else outs = b.op('Split', [x!], { axis, num_outputs: parts }, { outputCount: parts });
          return used.map((i) => b.op1('Mul', [outs[i]!, outs[i]!]));
        },
        { opset, seed: 6100 + trial },
      );
    }
  });

  it('Slice: attributes (opset 9) with negative and clamped indices', async () => {
    const rng = new Random(62);
    for (let trial = 0; trial < 5; trial++) {
      const dims = randomShape(rng, 1, 4, 5, 1);
      const axes = shuffle(rng, dims.length).slice(0, 1 + rng.int(dims.length));
      const starts = axes.map((a) => rng.int(dims[a]! + 2) - 1 - (rng.uniform() < 0.3 ? dims[a]! : 0));
      const ends = axes.map((a) => (rng.uniform() < 0.3 ? 1e9 : dims[a]! - rng.int(dims[a]!)));
      await expectGrad([{ name: 'x', dims }], (b, [x]) => [b.op1('Slice', [x!], { starts, ends, axes })], { opset: 9, seed: 6200 + trial });
    }
  });

  it('Slice: inputs (opset 13/18) with negative indices, INT64 bounds, steps > 1, negative steps, omitted axes/steps', async () => {
    const rng = new Random(63);
    for (let trial = 0; trial < 32; trial++) {
      const dims = randomShape(rng, 1, 3, 7, 1);
      const rank = dims.length;
      const omitAxes = trial % 5 === 0;
      const axes = omitAxes ? Array.from({ length: rank }, (_, i) => i) : shuffle(rng, rank).slice(0, 1 + rng.int(rank));
      const steps = axes.map(() => pick(rng, [1, 1, 2, 3, -1, -2, -3]));
      const starts: bigint[] = [];
      const ends: bigint[] = [];
      axes.forEach((a, i) => {
        // Pick the selected range first, then write its bounds in one of the equivalent ways
        // ONNX allows: plain, negative (from the end), or out of range (clamped, INT64 bounds).
        const d = dims[a]!;
        const form = rng.int(3);
        if (steps[i]! > 0) {
          const lo = rng.int(d);
          const hi = lo + 1 + rng.int(d - lo);
          starts.push(BigInt(form === 0 ? lo : form === 1 ? lo - d : lo === 0 ? -d - 3 : lo));
          ends.push(form === 0 ? BigInt(hi) : form === 1 ? BigInt(hi - d === 0 ? hi : hi - d) : hi === d ? INT64_MAX : BigInt(hi));
        } else {
          const hi = rng.int(d);
          const lo = rng.int(hi + 1) - 1; // exclusive end, −1 means "through index 0"
          starts.push(form === 0 ? BigInt(hi) : form === 1 ? BigInt(hi - d) : hi === d - 1 ? INT64_MAX : BigInt(hi));
          ends.push(lo === -1 ? (form === 2 ? INT64_MIN : BigInt(-d - 1 - rng.int(3))) : BigInt(form === 1 ? lo - d : lo));
        }
      });
      // One in four trials also tries an empty selection (start = end).
      if (trial % 4 === 3) {
        starts[0] = 0n;
        ends[0] = 0n;
      }
      const omitSteps = steps.every((s) => s === 1) && trial % 2 === 0;
      await expectGrad(
        [{ name: 'x', dims }],
        (b, [x]) => {
          const inputs = [x!, i64(b, 'starts', starts), i64(b, 'ends', ends)];
          if (!omitAxes || !omitSteps)
            inputs.push(
              omitAxes
                ? ''
                : i64(
                    b,
                    'axes',
                    axes.map((a) => (rng.uniform() < 0.5 ? a - rank : a)),
                  ),
            );
          if (!omitSteps) inputs.push(i64(b, 'steps', steps));
          return [b.op1('Slice', inputs)];
        },
        { opset: trial % 2 === 0 ? 13 : 18, seed: 6300 + trial },
      );
    }
  });

  it('Pad (constant): attribute pads (10), input pads with a differentiable value (13), axes input (18), negative pads', async () => {
    const rng = new Random(64);
    for (let trial = 0; trial < 15; trial++) {
      const form = trial % 3;
      const opset = [10, 13, 18][form]!;
      const dims = randomShape(rng, 1, 4, 4, 2);
      const rank = dims.length;
      const axes = form === 2 ? shuffle(rng, rank).slice(0, 1 + rng.int(rank)) : Array.from({ length: rank }, (_, i) => i);
      // Negative pads crop, but never the whole axis.
      const padFor = (a: number): number => (rng.uniform() < 0.3 ? -rng.int(Math.floor((dims[a]! - 1) / 2) + 1) : rng.int(3));
      const pads = [...axes.map(padFor), ...axes.map(padFor)];
      const withValue = form !== 0 && trial % 2 === 1;
      const inputs = [{ name: 'x', dims }];
      if (withValue) inputs.push({ name: 'v', dims: [] });
      await expectGrad(
        inputs,
        (b, [x, v]) => {
          if (form === 0) return [b.op1('Pad', [x!], { pads, value: float(0.5) })];
          const ins = [x!, i64(b, 'pads', pads), withValue ? v! : form === 2 ? '' : b.scalar('zero', 0)];
          if (form === 2)
            ins.push(
              i64(
                b,
                'axes',
                axes.map((a) => (rng.uniform() < 0.5 ? a - rank : a)),
              ),
            );
          return [b.op1('Pad', ins, { mode: 'constant' })];
        },
        { opset, seed: 6400 + trial },
      );
    }
  });

  it('Where: broadcast condition and branches, condition is stop-gradient', async () => {
    const rng = new Random(65);
    for (let trial = 0; trial < 5; trial++) {
      const out = randomShape(rng, 1, 4, 3, 1);
      const sub = (): number[] => out.map((d) => (rng.uniform() < 0.4 ? 1 : d)).slice(rng.int(out.length));
      const cs = sub();
      const xs = trial === 0 ? out : sub();
      const ys = sub();
      await expectGrad(
        [
          { name: 'c', dims: cs },
          { name: 'x', dims: xs },
          { name: 'y', dims: ys },
        ],
        // The condition reads a parameter (Greater(c, 0)): no gradient may flow into c through it.
        (b, [c, x, y]) => [b.op1('Where', [b.op1('Greater', [c!, b.scalar('z', 0)]), x!, y!]), c!],
        { opset: 13, seed: 6500 + trial },
      );
    }
  });

  it('shape ops reading parameters pass through (Shape, Size, ConstantOfShape, Range, NonZero, ArgMax, comparisons, logic, Constant)', async () => {
    await expectGrad(
      [{ name: 'x', dims: [2, 3] }],
      (b, [x]) => {
        const ones = b.op1('ConstantOfShape', [b.op1('Shape', [x!])], { value: ones1() });
        const size = b.op1('Cast', [b.op1('Size', [x!])], { to: 1 });
        const positive = b.op1('And', [b.op1('Greater', [x!, b.scalar('z', 0)]), b.op1('Not', [b.op1('Less', [x!, b.scalar('m', -5)])])]);
        const eq = b.op1('Equal', [b.op1('ArgMax', [x!], { axis: 1, keepdims: 1 }), b.op1('ArgMax', [x!], { axis: 1, keepdims: 1 })]);
        const masked = b.op1('Where', [b.op1('And', [positive, eq]), x!, b.op1('Mul', [x!, ones])]);
        const count = b.op1('Cast', [b.op1('Shape', [b.op1('NonZero', [positive])])], { to: 1 });
        const range = b.op1('Cast', [b.op1('Range', [b.scalar('s', 0, 'int64'), b.op1('Size', [x!]), b.scalar('d', 1, 'int64')])], { to: 1 });
        const k = b.op1('Constant', [], { value: ones1() });
        return [
          b.op1('Mul', [masked, size]),
          b.op1('Mul', [b.op1('ReduceSum', [count], { keepdims: 0 }), b.op1('ReduceSum', [range], { keepdims: 0 })]),
          b.op1('Mul', [x!, k]),
        ];
      },
      { opset: 13, seed: 66 },
    );
  });

  it('composite: a small attention block (MatMul, Reshape, Transpose, Softmax, LayerNorm, Gelu) at opset 18 and 20', async () => {
    const B = 2;
    const T = 3;
    const H = 2;
    const dh = 2;
    const D = H * dh;
    for (const opset of [18, 20]) {
      await expectGrad(
        [
          { name: 'x', dims: [B, T, D] },
          { name: 'wq', dims: [D, D] },
          { name: 'wk', dims: [D, D] },
          { name: 'wv', dims: [D, D] },
          { name: 'wo', dims: [D, D] },
          { name: 'bo', dims: [D] },
          { name: 'gamma', dims: [D] },
        ],
        (b, [x, wq, wk, wv, wo, bo, gamma]) => {
          const heads = (v: string): string =>
            b.op1('Transpose', [b.op1('Reshape', [b.op1('MatMul', [x!, v]), i64(b, 'hs', [0, 0, H, dh])])], { perm: [0, 2, 1, 3] });
          const q = heads(wq!);
          const k = heads(wk!);
          const v = heads(wv!);
          const scores = b.op1('Div', [b.op1('MatMul', [q, b.op1('Transpose', [k], { perm: [0, 1, 3, 2] })]), b.scalar('scale', Math.sqrt(dh))]);
          const attn = b.op1('Softmax', [scores], { axis: -1 });
          const ctxv = b.op1('Reshape', [b.op1('Transpose', [b.op1('MatMul', [attn, v])], { perm: [0, 2, 1, 3] }), i64(b, 'merge', [B, T, -1])]);
          const proj = b.op1('Add', [b.op1('MatMul', [ctxv, wo!]), bo!]);
          const res = b.op1('Add', [proj, x!]);
          const ln = b.op1('LayerNormalization', [res, gamma!], { axis: -1 });
          const act = opset >= 20 ? b.op1('Gelu', [ln]) : b.op1('Relu', [ln]);
          return [act];
        },
        { opset, seed: 67, epsilon: 1e-2, rtol: 3e-3 },
      );
    }
  });

  it('a wrong Slice or Concat rule is caught', async () => {
    // Slice gradient placed one position off.
    await withBrokenRule(
      sliceRule,
      (ctx) => ({ 0: ctx.emit.op1('Pad', [ctx.outputGrad(0)!, ctx.emit.int64s([0, 2])]) }),
      () => expectGrad([{ name: 'x', dims: [5] }], (b, [x]) => [b.op1('Slice', [x!, i64(b, 's', [1]), i64(b, 'e', [4])])], { opset: 13, seed: 1 }),
    );
    // Concat parts swapped.
    await withBrokenRule(
      concatRule,
      (_ctx, right) => ({ 0: right[1]!, 1: right[0]! }),
      () =>
        expectGrad(
          [
            { name: 'a', dims: [2, 3] },
            { name: 'b', dims: [2, 3] },
          ],
          (b, n) => [b.op1('Concat', n, { axis: 1 })],
          { opset: 13, seed: 1 },
        ),
    );
  });
});
