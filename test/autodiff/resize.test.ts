import { describe, expect, it } from 'vitest';
import { gradcheck } from './gradcheck.js';
import { Random } from '../../src/util/random.js';
import { GraphBuilder, float, type AttrInput } from '../../src/onnx/builder.js';
import { serializeModel } from '../../src/onnx/save.js';
import { RuntimeSession } from '../../src/runtime/session.js';
import type { HostTensor } from '../../src/runtime/ort-tensor.js';
import { resizeMatrices, type ResizeAxisMatrix } from '../../src/autodiff/rules/resize.js';

const pick = <T>(rng: Random, items: readonly T[]): T => items[rng.int(items.length)]!;

/** One Resize/Upsample configuration: the op, its attributes and its constant inputs. */
interface ResizeCase {
  op: 'Resize' | 'Upsample';
  opset: number;
  x: number[];
  attrs: Record<string, AttrInput>;
  roi?: number[];
  scales?: number[];
  sizes?: number[];
  /** Whether an absent roi is written as an empty tensor (opset 11, where roi is required). */
  emptyRoi?: boolean;
}

/** Adds the resize node; returns its output. */
function addResize(b: GraphBuilder, x: string, c: ResizeCase): string {
  if (c.op === 'Upsample') {
    if (c.opset < 9) return b.op1('Upsample', [x], { ...c.attrs, scales: { kind: 'floats', value: c.scales! } });
    return b.op1('Upsample', [x, b.constant('scales', 'float32', [c.scales!.length], Float32Array.from(c.scales!))], c.attrs);
  }
  if (c.opset <= 10) return b.op1('Resize', [x, b.constant('scales', 'float32', [c.scales!.length], Float32Array.from(c.scales!))], c.attrs);
  const empty = (): string => b.constant('empty', 'float32', [0], new Float32Array(0));
  const roi = c.roi ? b.constant('roi', 'float32', [c.roi.length], Float32Array.from(c.roi)) : c.emptyRoi ? empty() : '';
  const inputs = [x, roi];
  if (c.sizes) inputs.push(c.opset <= 12 ? empty() : '', b.int64s('sizes', c.sizes));
  else inputs.push(b.constant('scales', 'float32', [c.scales!.length], Float32Array.from(c.scales!)));
  return b.op1('Resize', inputs, c.attrs);
}

/** Y computed in float64 from the rule's interpolation matrices, one axis at a time. */
function applyMatrices(x: Float32Array, shape: readonly number[], matrices: readonly ResizeAxisMatrix[]): { data: Float64Array; shape: number[] } {
  let data = Float64Array.from(x);
  const cur = shape.slice();
  for (const { axis, inSize, outSize, matrix } of matrices) {
    const pre = cur.slice(0, axis).reduce((a, b) => a * b, 1);
    const post = cur.slice(axis + 1).reduce((a, b) => a * b, 1);
    const next = new Float64Array(pre * outSize * post);
    for (let p = 0; p < pre; p++) {
      for (let o = 0; o < outSize; o++) {
        for (let i = 0; i < inSize; i++) {
          const w = matrix[o * inSize + i]!;
          if (w === 0) continue;
          for (let q = 0; q < post; q++) next[(p * outSize + o) * post + q]! += w * data[(p * inSize + i) * post + q]!;
        }
      }
    }
    data = next;
    cur[axis] = outSize;
  }
  return { data, shape: cur };
}

/** The matrices reproduce onnxruntime's own Resize output (forward semantics). */
async function forwardCheck(c: ResizeCase, rng: Random): Promise<number> {
  const b = new GraphBuilder();
  b.input('x', 'float32', c.x);
  const y = addResize(b, 'x', c);
  b.graph.outputs.push({ name: y });
  const session = await RuntimeSession.create(serializeModel(b.model(c.opset)), { graphOptimizationLevel: 'disabled' });
  const xData = rng.fillNormal(new Float32Array(c.x.reduce((p, d) => p * d, 1)));
  let result: HostTensor;
  try {
    result = (await session.run({ x: { dtype: 'float32', dims: c.x, data: xData } }))[y]!;
  } finally {
    await session.release();
  }
  const node = b.graph.nodes.find((n) => n.outputs[0] === y)!;
  const constant = (name: string): number[] | undefined => b.graph.initializers.get(name)?.toNumbers();
  const extrapolation = c.attrs['extrapolation_value'] !== undefined ? (c.attrs['extrapolation_value'] as { value: number }).value : 0;
  const matrices = resizeMatrices(node, c.opset, c.x, result.dims, constant);
  const expected = applyMatrices(xData, c.x, matrices);
  expect(expected.shape).toEqual(result.dims);
  // Extrapolated outputs (zero rows) hold extrapolation_value in onnxruntime's output.
  const zeroRow = extrapolationMask(matrices, c.x, expected.shape);
  let worst = 0;
  const got = result.data as Float32Array;
  for (let i = 0; i < got.length; i++) {
    const want = zeroRow[i] ? extrapolation : expected.data[i]!;
    worst = Math.max(worst, Math.abs(got[i]! - want));
  }
  return worst;
}

/** Outputs that some axis maps from no input at all (a zero matrix row). */
function extrapolationMask(matrices: readonly ResizeAxisMatrix[], inShape: readonly number[], outShape: readonly number[]): boolean[] {
  const n = outShape.reduce((a, b) => a * b, 1);
  const mask = new Array<boolean>(n).fill(false);
  for (const { axis, inSize, outSize, matrix } of matrices) {
    const empty = Array.from({ length: outSize }, (_, o) => matrix.subarray(o * inSize, (o + 1) * inSize).every((w) => w === 0));
    const post = outShape.slice(axis + 1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) if (empty[Math.floor(i / post) % outSize]) mask[i] = true;
  }
  void inShape;
  return mask;
}

async function check(c: ResizeCase, seed: number): Promise<void> {
  const rng = new Random(seed);
  const label = JSON.stringify(c);
  const forward = await forwardCheck(c, rng).catch((err: unknown) => {
    throw new Error(`${label}: ${String(err)}`);
  });
  expect(forward, `forward ${label}`).toBeLessThan(1e-5);
  const r = await gradcheck([{ name: 'x', dims: c.x }], (b, [x]) => [addResize(b, x!, c)], { opset: c.opset, seed, directions: 2 }).catch((err: unknown) => {
    throw new Error(`${label}: ${String(err)}`);
  });
  expect(r.worst, label).toBeLessThan(2e-3);
}

const SCALES = [0.5, 0.6, 0.75, 1, 1.3, 1.5, 2, 2.5, 3];
const COORDS = ['half_pixel', 'asymmetric', 'align_corners', 'pytorch_half_pixel', 'tf_crop_and_resize'];

/** A random 4-D NCHW resize of H and W, in the scales or sizes form, at opset 11, 13, 18 or 19. */
function randomResize(rng: Random, mode: 'nearest' | 'linear' | 'cubic'): ResizeCase {
  const opset = pick(rng, [11, 13, 18, 19]);
  const coords = [...COORDS, ...(mode === 'nearest' ? ['tf_half_pixel_for_nn'] : []), ...(opset >= 19 ? ['half_pixel_symmetric'] : [])];
  const coord = pick(rng, coords);
  const h = 2 + rng.int(4);
  const w = 2 + rng.int(4);
  const x = [1 + rng.int(2), 1 + rng.int(2), h, w];
  const attrs: Record<string, AttrInput> = { mode, coordinate_transformation_mode: coord };
  if (mode === 'nearest') attrs['nearest_mode'] = pick(rng, ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil']);
  if (mode === 'cubic') {
    if (rng.uniform() < 0.5) attrs['cubic_coeff_a'] = float(pick(rng, [-0.5, -0.75]));
    if (rng.uniform() < 0.5) attrs['exclude_outside'] = 1;
  }
  const c: ResizeCase = { op: 'Resize', opset, x, attrs, emptyRoi: opset <= 12 };
  if (coord === 'tf_crop_and_resize') {
    const r = [rng.uniform() * 0.4, rng.uniform() * 0.4];
    c.roi = [0, 0, r[0]!, r[1]! - 0.1, 1, 1, 0.6 + rng.uniform() * 0.5, 0.7 + rng.uniform() * 0.4];
    if (rng.uniform() < 0.5) attrs['extrapolation_value'] = float(0.25);
  }
  const useAxes = opset >= 18 && rng.uniform() < 0.5;
  // onnxruntime's cubic resize refuses downsampling except on the two outer axes' layout it knows.
  const scaleChoices = mode === 'cubic' ? SCALES.filter((s) => s >= 1) : SCALES;
  if (rng.uniform() < 0.5) {
    const sh = pick(rng, scaleChoices);
    const sw = pick(rng, scaleChoices);
    if (Math.floor(h * sh) < 1 || Math.floor(w * sw) < 1 || (sh === 1 && sw === 1)) c.scales = [1, 1, 2, 1.5];
    else c.scales = [1, 1, sh, sw];
  } else {
    const lo = mode === 'cubic' ? 0 : -2;
    c.sizes = [x[0]!, x[1]!, Math.max(1, h + lo + rng.int(6)), Math.max(1, w + lo + rng.int(6))];
    if (opset >= 18 && rng.uniform() < 0.4) {
      const policy = pick(rng, ['not_larger', 'not_smaller']);
      const ratios = [c.sizes[2]! / h, c.sizes[3]! / w];
      const s = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
      // ONNX shape inference and onnxruntime round exact halves of scale·size differently.
      if ([h, w].every((d) => Math.abs(((s * d) % 1) - 0.5) > 1e-3)) attrs['keep_aspect_ratio_policy'] = policy;
    }
  }
  if (useAxes) {
    attrs['axes'] = rng.uniform() < 0.5 ? [2, 3] : [-2, -1];
    if (c.scales) c.scales = c.scales.slice(2);
    if (c.sizes) c.sizes = c.sizes.slice(2);
    if (c.roi) c.roi = [c.roi[2]!, c.roi[3]!, c.roi[6]!, c.roi[7]!];
  }
  return c;
}

describe('Resize gradients (interpolation matrices)', () => {
  for (const mode of ['nearest', 'linear', 'cubic'] as const) {
    it(`${mode}: random coordinate modes, scales and sizes forms, opsets 11–19`, async () => {
      const rng = new Random(mode === 'nearest' ? 61 : mode === 'linear' ? 62 : 63);
      for (let trial = 0; trial < 14; trial++) await check(randomResize(rng, mode), 6000 + trial);
    });
  }

  it('other layouts: rank 2 and 3, NHWC linear, nearest on every axis, 5-D', async () => {
    const cases: ResizeCase[] = [
      { op: 'Resize', opset: 13, x: [3, 4], attrs: { mode: 'linear' }, scales: [1.5, 0.75] },
      { op: 'Resize', opset: 13, x: [2, 3, 4], attrs: { mode: 'nearest', coordinate_transformation_mode: 'asymmetric' }, scales: [2, 1, 0.5] },
      { op: 'Resize', opset: 13, x: [1, 3, 4, 2], attrs: { mode: 'linear', coordinate_transformation_mode: 'align_corners' }, sizes: [1, 5, 7, 2] },
      { op: 'Resize', opset: 17, x: [2, 3, 2, 3], attrs: { mode: 'nearest', nearest_mode: 'ceil' }, scales: [1.5, 2, 1, 0.7] },
      {
        op: 'Resize',
        opset: 13,
        x: [1, 1, 2, 3, 2],
        attrs: { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' },
        scales: [1, 1, 2, 1.5, 2],
      },
      { op: 'Resize', opset: 13, x: [1, 2, 3, 3], attrs: { mode: 'linear' }, sizes: [1, 2, 1, 4] },
      {
        op: 'Resize',
        opset: 11,
        x: [1, 2, 3, 3],
        attrs: { mode: 'cubic', coordinate_transformation_mode: 'pytorch_half_pixel' },
        sizes: [1, 2, 1, 5],
        emptyRoi: true,
      },
      // Scale 1 on a resized tensor's other axis with an unusual size: that axis stays identity.
      {
        op: 'Resize',
        opset: 13,
        x: [1, 1, 3, 3],
        attrs: { mode: 'nearest', coordinate_transformation_mode: 'tf_crop_and_resize' },
        roi: [0, 0, 0.2, 0, 1, 1, 0.9, 1],
        scales: [1, 1, 2, 1],
      },
    ];
    for (const [i, c] of cases.entries()) await check(c, 6100 + i);
  });

  it('legacy forms: Upsample-7 and Upsample-9, Resize at opset 10 (down- and upsampling)', async () => {
    const cases: ResizeCase[] = [
      { op: 'Upsample', opset: 9, x: [1, 2, 3, 2], attrs: { mode: 'nearest' }, scales: [1, 1, 2, 3] },
      { op: 'Upsample', opset: 9, x: [1, 2, 3, 3], attrs: { mode: 'linear' }, scales: [1, 1, 1.5, 2.5] },
      // Upsample-7 (scales attribute) at opset 8: the harness's own loss needs Expand (opset 8).
      { op: 'Upsample', opset: 8, x: [1, 1, 2, 3], attrs: { mode: 'linear' }, scales: [1, 1, 2, 2] },
      { op: 'Upsample', opset: 8, x: [2, 2, 3], attrs: { mode: 'nearest' }, scales: [1, 1.5, 2] },
      { op: 'Resize', opset: 10, x: [1, 2, 5, 4], attrs: { mode: 'nearest' }, scales: [1, 1, 0.6, 1.75] },
      { op: 'Resize', opset: 10, x: [1, 2, 5, 4], attrs: { mode: 'linear' }, scales: [1, 1, 0.5, 1.5] },
    ];
    for (const [i, c] of cases.entries()) await check(c, 6200 + i);
  });

  it('antialias and non-constant scales are refused', async () => {
    await expect(
      gradcheck(
        [{ name: 'x', dims: [1, 1, 4, 4] }],
        (b, [x]) => [b.op1('Resize', [x!, '', b.constant('s', 'float32', [4], Float32Array.of(1, 1, 0.5, 0.5))], { mode: 'linear', antialias: 1 })],
        { opset: 18, seed: 1 },
      ),
    ).rejects.toThrow(/antialias/);
    await expect(
      gradcheck(
        [
          { name: 'x', dims: [1, 1, 2, 2] },
          { name: 's', dims: [4], differentiate: false, data: Float32Array.of(1, 1, 2, 2) },
        ],
        (b, [x, s]) => [b.op1('Resize', [x!, '', s!], { mode: 'nearest' })],
        { opset: 13, seed: 1 },
      ),
    ).rejects.toThrow(/not a build-time constant/);
  });

  it('nearest modes differ at exact halves (so the forward check can tell them apart)', async () => {
    // round_prefer_floor vs round_prefer_ceil differ only at exact halves: asymmetric ×2 has them.
    const c: ResizeCase = {
      op: 'Resize',
      opset: 13,
      x: [1, 1, 2, 3],
      attrs: { mode: 'nearest', coordinate_transformation_mode: 'half_pixel', nearest_mode: 'round_prefer_ceil' },
      scales: [1, 1, 1, 0.5],
    };
    const b = new GraphBuilder();
    b.input('x', 'float32', c.x);
    addResize(b, 'x', c);
    const node = b.graph.nodes.at(-1)!;
    node.setAttr('nearest_mode', { kind: 'string', value: 'round_prefer_floor' });
    const constant = (name: string): number[] | undefined => b.graph.initializers.get(name)?.toNumbers();
    const floor = resizeMatrices(node, 13, c.x, [1, 1, 2, 1], constant);
    node.setAttr('nearest_mode', { kind: 'string', value: 'round_prefer_ceil' });
    const ceil = resizeMatrices(node, 13, c.x, [1, 1, 2, 1], constant);
    expect(Array.from(floor[0]!.matrix)).not.toEqual(Array.from(ceil[0]!.matrix));
  });
});
