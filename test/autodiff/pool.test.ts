import { describe, expect, it } from 'vitest';
import { gradcheck } from './gradcheck.js';
import { Random } from '../../src/util/random.js';
import type { AttrInput } from '../../src/onnx/builder.js';

const pick = <T>(rng: Random, items: readonly T[]): T => items[rng.int(items.length)]!;

interface PoolCase {
  x: number[];
  attrs: Record<string, AttrInput>;
}

/**
 * A random pooling window over 1 or 2 spatial axes: overlapping or not, pads below the kernel (an
 * onnxruntime requirement), ceil_mode, explicit pads or auto_pad, dilations where allowed.
 */
function randomWindow(rng: Random, spatial: number, options: { dilations: boolean }): PoolCase {
  const kernel = Array.from({ length: spatial }, () => 1 + rng.int(3));
  const strides = Array.from({ length: spatial }, () => 1 + rng.int(3));
  const dilations = Array.from({ length: spatial }, () => (options.dilations ? 1 + rng.int(2) : 1));
  const attrs: Record<string, AttrInput> = { kernel_shape: kernel };
  if (strides.some((s) => s !== 1) || rng.uniform() < 0.3) attrs['strides'] = strides;
  if (dilations.some((d) => d !== 1)) attrs['dilations'] = dilations;
  const autoPad = rng.uniform() < 0.25 && dilations.every((d) => d === 1) ? pick(rng, ['SAME_UPPER', 'SAME_LOWER', 'VALID']) : 'NOTSET';
  if (autoPad === 'NOTSET') {
    const pads = [...kernel, ...kernel].map((k) => rng.int(k));
    if (pads.some((p) => p > 0)) attrs['pads'] = pads;
    if (rng.uniform() < 0.5) attrs['ceil_mode'] = 1;
  }
  const inSpatial = kernel.map((k, i) => (k - 1) * dilations[i]! + 1 + rng.int(4));
  if (attrs['ceil_mode'] === 1) {
    // ONNX shape inference keeps a last ceil_mode window that starts past the input and its begin
    // pad; onnxruntime drops it, and the model would not load. Keep clear of that case.
    const pads = (attrs['pads'] as number[] | undefined) ?? kernel.map(() => 0).concat(kernel.map(() => 0));
    const overhang = inSpatial.some((h, i) => {
      const span = (kernel[i]! - 1) * dilations[i]! + 1;
      const out = Math.ceil((h + pads[i]! + pads[spatial + i]! - span) / strides[i]!) + 1;
      return (out - 1) * strides[i]! >= h + pads[i]!;
    });
    if (overhang) delete attrs['ceil_mode'];
  }
  if (autoPad !== 'NOTSET') attrs['auto_pad'] = autoPad;
  return { x: [1 + rng.int(2), 1 + rng.int(3), ...inSpatial], attrs };
}

function label(c: PoolCase, opset: number): string {
  return `${JSON.stringify({ x: c.x, ...c.attrs })} at opset ${opset}`;
}

async function check(op: string, c: PoolCase, opset: number, seed: number, outputCount = 1): Promise<number> {
  const r = await gradcheck([{ name: 'x', dims: c.x }], (b, [x]) => [b.op(op, [x!], c.attrs, { outputCount })[0]!], { opset, seed, directions: 2 }).catch(
    (err: unknown) => {
      throw new Error(`${op} ${label(c, opset)}: ${String(err)}`);
    },
  );
  return r.worst;
}

describe('MaxPool gradient (Indices + ScatterElements add)', () => {
  it('random 1-D and 2-D windows: overlapping, pads, ceil_mode, dilations, auto_pad', async () => {
    const rng = new Random(41);
    for (let trial = 0; trial < 16; trial++) {
      const c = randomWindow(rng, 1 + (trial % 2), { dilations: true });
      const opset = trial % 3 === 0 ? 16 : trial % 3 === 1 ? 17 : 18;
      expect(await check('MaxPool', c, opset, 5000 + trial)).toBeLessThan(2e-3);
    }
  });

  it('overlapping 3×3 stride-1 windows accumulate (an element is the max of several windows)', async () => {
    // A smooth bump: the centre is the max of all nine windows around it.
    const data = new Float32Array(36);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) data[i * 6 + j] = -((i - 2.2) ** 2) - (j - 3.1) ** 2 + 0.01 * i * j;
    const r = await gradcheck([{ name: 'x', dims: [1, 1, 6, 6], data }], (b, [x]) => [b.op1('MaxPool', [x!], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })], {
      opset: 16,
      seed: 5100,
    });
    expect(r.worst).toBeLessThan(2e-3);
  });

  it('forward nodes with an Indices output, storage_order=1, and 3-D windows', async () => {
    const cases: [PoolCase, number][] = [
      [{ x: [2, 3, 5, 6], attrs: { kernel_shape: [2, 3], strides: [1, 2], pads: [1, 0, 0, 1] } }, 2],
      [{ x: [1, 2, 5, 4], attrs: { kernel_shape: [3, 2], strides: [2, 1], storage_order: 1 } }, 2],
      [{ x: [1, 2, 5, 4], attrs: { kernel_shape: [2, 2], storage_order: 1 } }, 1],
      [{ x: [1, 2, 4, 3, 5], attrs: { kernel_shape: [2, 2, 2], strides: [2, 1, 2], pads: [1, 0, 0, 0, 1, 0], ceil_mode: 1 } }, 1],
    ];
    for (const [i, [c, outputs]] of cases.entries()) expect(await check('MaxPool', c, 17, 5200 + i, outputs)).toBeLessThan(2e-3);
  });

  it('refuses to emit below opset 16', async () => {
    await expect(check('MaxPool', { x: [1, 1, 4, 4], attrs: { kernel_shape: [2, 2] } }, 13, 5300)).rejects.toThrow(/opset >= 16|needs opset 16/);
  });
});

describe('AveragePool gradient (ConvTranspose over window counts)', () => {
  for (const includePad of [0, 1]) {
    it(`random windows, count_include_pad=${includePad}`, async () => {
      const rng = new Random(50 + includePad);
      for (let trial = 0; trial < 14; trial++) {
        const c = randomWindow(rng, 1 + (trial % 2), { dilations: false });
        c.attrs['count_include_pad'] = includePad;
        const opset = trial % 2 === 0 ? 13 : 17;
        expect(await check('AveragePool', c, opset, 5400 + 20 * includePad + trial)).toBeLessThan(2e-3);
      }
    });
  }

  it('dilations (opset 19) and fixed ceil_mode overhang cases', async () => {
    const rng = new Random(52);
    for (let trial = 0; trial < 6; trial++) {
      const c = randomWindow(rng, 2, { dilations: true });
      c.attrs['count_include_pad'] = trial % 2;
      expect(await check('AveragePool', c, 19, 5500 + trial)).toBeLessThan(2e-3);
    }
    // ceil_mode windows that run past the end pad; 3-D.
    const cases: PoolCase[] = [
      { x: [1, 2, 6, 5], attrs: { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 0, 1, 0], ceil_mode: 1, count_include_pad: 1 } },
      { x: [1, 2, 6, 5], attrs: { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 0, 1, 0], ceil_mode: 1 } },
      { x: [1, 1, 4, 5, 3], attrs: { kernel_shape: [2, 3, 2], strides: [2, 2, 1], pads: [0, 1, 1, 1, 0, 0], count_include_pad: 1 } },
    ];
    for (const [i, c] of cases.entries()) expect(await check('AveragePool', c, 13, 5600 + i)).toBeLessThan(2e-3);
  });
});

describe('global pooling and MaxUnpool', () => {
  it('GlobalAveragePool and GlobalMaxPool, 1-D to 3-D', async () => {
    for (const [i, dims] of [
      [2, 3, 5],
      [1, 2, 3, 4],
      [2, 1, 2, 3, 2],
    ].entries()) {
      for (const op of ['GlobalAveragePool', 'GlobalMaxPool']) {
        expect(await check(op, { x: dims, attrs: {} }, 13, 5700 + i)).toBeLessThan(2e-3);
      }
    }
  });

  it('GlobalMaxPool splits the gradient among tied maxima', async () => {
    // Ties are not differentiable, so compare with the convention instead: dX = dY / #ties at the
    // maxima. The loss is Σ w·y, and equal shifts of both tied entries move y by the shift.
    const data = Float32Array.of(1, 3, 3, 0, 2, 5);
    const r = await gradcheck(
      [
        { name: 'x', dims: [1, 2, 3], data, differentiate: false },
        { name: 's', dims: [1] },
      ],
      (b, [x, s]) => {
        // y = GlobalMaxPool(x + s·t) with t = 1 on the two tied entries: dy/ds = 1 either way.
        const t = b.constant('t', 'float32', [1, 2, 3], Float32Array.of(0, 1, 1, 0, 0, 1));
        return [b.op1('GlobalMaxPool', [b.op1('Add', [x!, b.op1('Mul', [s!, t])])])];
      },
      { opset: 13, seed: 5800 },
    );
    expect(r.worst).toBeLessThan(2e-3);
  });

  it('MaxUnpool of MaxPool indices', async () => {
    const cases: [number[], Record<string, AttrInput>, number[] | undefined][] = [
      [[2, 3, 4, 6], { kernel_shape: [2, 2], strides: [2, 2] }, undefined],
      // output_shape restores the rows and columns the pooling dropped.
      [[1, 2, 5, 5], { kernel_shape: [2, 3], strides: [2, 3] }, [1, 2, 5, 5]],
      [[1, 2, 6], { kernel_shape: [3], strides: [3] }, undefined],
    ];
    for (const [i, [dims, attrs, outputShape]] of cases.entries()) {
      const r = await gradcheck(
        [
          { name: 'x', dims },
          { name: 'v', dims: [] },
        ],
        (b, [x, v]) => {
          // Non-overlapping windows: indices are unique, so the unpooled values are X at the maxima.
          const [pooled, indices] = b.op('MaxPool', [x!], attrs, { outputCount: 2 });
          const scaled = b.op1('Mul', [pooled!, b.op1('Exp', [v!])]);
          const inputs = [scaled, indices!];
          if (outputShape) inputs.push(b.int64s('shape', outputShape));
          return [b.op1('MaxUnpool', inputs, { kernel_shape: attrs['kernel_shape']!, strides: attrs['strides']! })];
        },
        { opset: 16, seed: 5900 + i },
      );
      expect(r.worst).toBeLessThan(2e-3);
    }
  });
});
