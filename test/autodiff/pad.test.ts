import { describe, expect, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import type { GraphBuilder } from '../../src/onnx/builder.js';
import { padRule } from '../../src/autodiff/rules/shape.js';
import { gradcheck } from './gradcheck.js';
import { expectGrad, randomShape, withBrokenRule } from './rule-test-util.js';

type Mode = 'reflect' | 'edge' | 'wrap';

function i64(b: GraphBuilder, base: string, values: readonly number[]): string {
  return b.constant(
    base,
    'int64',
    [values.length],
    BigInt64Array.from(values, (v) => BigInt(v)),
  );
}

/**
 * Random begin/end pads for one axis of length `n` that onnxruntime accepts for `mode`: a side
 * either crops (negative) or pads; the pads are bounded by the cropped length `len` (reflect:
 * below it; wrap: a begin pad up to it, an end pad over several periods; edge: anything).
 */
function axisPads(rng: Random, mode: Mode, n: number): [number, number] {
  const minLen = mode === 'reflect' ? 2 : 1;
  const cropBegin = rng.uniform() < 0.3 ? rng.int(Math.max(n - minLen, 0) + 1) : 0;
  const cropEnd = rng.uniform() < 0.3 ? rng.int(Math.max(n - minLen - cropBegin, 0) + 1) : 0;
  const len = n - cropBegin - cropEnd;
  const pad = (side: 'begin' | 'end'): number => {
    if (mode === 'reflect') return rng.int(len);
    if (mode === 'edge') return rng.int(5);
    return side === 'begin' ? rng.int(len + 1) : rng.int(2 * len + 2);
  };
  return [cropBegin > 0 ? -cropBegin : pad('begin'), cropEnd > 0 ? -cropEnd : pad('end')];
}

interface PadCase {
  dims: number[];
  axes: number[];
  pads: number[];
}

function randomCase(rng: Random, mode: Mode, withAxes: boolean): PadCase {
  const dims = randomShape(rng, 1, 4, 5, mode === 'reflect' ? 2 : 1);
  const rank = dims.length;
  const axes = withAxes ? Array.from(rng.permutation(rank)).slice(0, 1 + rng.int(rank)) : dims.map((_, i) => i);
  const perAxis = axes.map((a) => axisPads(rng, mode, dims[a]!));
  return { dims, axes, pads: [...perAxis.map((p) => p[0]), ...perAxis.map((p) => p[1])] };
}

/** Pad in the form of `opset`: pads attribute (< 11), pads input (11+), axes input (18+, optional). */
function pad(b: GraphBuilder, x: string, mode: Mode, c: PadCase, opset: number, rng: Random): string {
  const rank = c.dims.length;
  const all = c.axes.length === rank && c.axes.every((a, i) => a === i);
  if (opset < 11) return b.op1('Pad', [x], { mode, pads: c.pads });
  const inputs = [x, i64(b, 'pads', c.pads)];
  if (opset >= 18 && (!all || rng.uniform() < 0.5))
    inputs.push(
      '',
      i64(
        b,
        'axes',
        c.axes.map((a) => (rng.uniform() < 0.5 ? a - rank : a)),
      ),
    );
  return b.op1('Pad', inputs, { mode });
}

async function check(mode: Mode, c: PadCase, opset: number, seed: number): Promise<void> {
  const rng = new Random(seed);
  // Squaring after the Pad makes dY depend on x, so a misplaced gradient cannot hide in symmetry.
  await expectGrad(
    [{ name: 'x', dims: c.dims }],
    (b, [x]) => {
      const y = pad(b, x!, mode, c, opset, rng);
      return [b.op1('Mul', [y, y])];
    },
    { opset, seed, directions: 2 },
  ).catch((err: unknown) => {
    throw new Error(`Pad ${mode} ${JSON.stringify(c)} at opset ${opset}: ${String(err)}`);
  });
}

describe('Pad reflect / edge / wrap gradients', () => {
  for (const mode of ['reflect', 'edge'] as const) {
    it(`${mode}: random shapes and pads incl. cropping, pads attribute (10), input (11, 13), axes input (18, 21)`, async () => {
      const rng = new Random(mode === 'reflect' ? 301 : 302);
      const opsets = [10, 11, 13, 18, 21];
      for (let trial = 0; trial < 15; trial++) {
        const opset = opsets[trial % opsets.length]!;
        const c = randomCase(rng, mode, opset >= 18 && trial % 2 === 0);
        await check(mode, c, opset, 30100 + trial + (mode === 'edge' ? 100 : 0));
      }
    });
  }

  it('wrap (opset 19, 21): random shapes, end pads over several periods, cropping', async () => {
    const rng = new Random(303);
    for (let trial = 0; trial < 10; trial++) {
      const opset = trial % 2 === 0 ? 19 : 21;
      await check('wrap', randomCase(rng, 'wrap', trial % 3 === 0), opset, 30300 + trial);
    }
  });

  it('reflect and edge on the spatial axes of an image, as ReflectionPad2d / ReplicationPad2d export', async () => {
    for (const [i, mode] of (['reflect', 'edge'] as const).entries()) {
      await expectGrad(
        [
          { name: 'x', dims: [2, 3, 4, 5] },
          { name: 'w', dims: [2, 3, 3, 3] },
        ],
        (b, [x, w]) => [b.op1('Conv', [b.op1('Pad', [x!, i64(b, 'pads', [0, 0, 1, 2, 0, 0, 2, 1])], { mode }), w!])],
        { opset: 13, seed: 30400 + i },
      );
    }
  });

  it('a wrap begin pad longer than the cropped axis is refused (onnxruntime zero-fills it)', async () => {
    await expect(
      gradcheck([{ name: 'x', dims: [3] }], (b, [x]) => [b.op1('Pad', [x!, i64(b, 'pads', [4, 0])], { mode: 'wrap' })], { opset: 19, seed: 1 }),
    ).rejects.toThrow(/Pad mode "wrap" on axis 0 .*longer than the cropped axis/);
  });

  it('a wrong reflect rule (borders dropped, as for constant padding) is caught', async () => {
    await withBrokenRule(
      padRule,
      (ctx) => ({ 0: ctx.emit.op1('Slice', [ctx.outputGrad(0)!, ctx.emit.int64s([2]), ctx.emit.int64s([7]), ctx.emit.int64s([0])]) }),
      () => expectGrad([{ name: 'x', dims: [5] }], (b, [x]) => [b.op1('Pad', [x!, i64(b, 'pads', [2, 1])], { mode: 'reflect' })], { opset: 13, seed: 1 }),
    );
  });
});
