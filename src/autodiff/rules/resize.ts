import { ReconError } from '../../util/errors.js';
import type { Node } from '../../onnx/node.js';
import { dtypeCode } from '../../onnx/dtype.js';
import type { GradientRule } from '../types.js';

/**
 * Resize / Upsample backward (B.7). For the nearest, linear and cubic modes (without antialias)
 * Resize is separable and linear in X: along each resized axis it multiplies by a constant
 * interpolation matrix A [out, in]. The matrices are computed here, at build time, mirroring
 * onnxruntime's CPU kernel (float32 coordinate arithmetic, clamping, extrapolation), so
 * dX = dY contracted with A along each axis: one MatMul per resized axis, no training ops.
 */

const f = Math.fround;

/** C++ std::round: halves away from zero (Math.round sends −0.5 up). */
function cppRound(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

export type ResizeMode = 'nearest' | 'linear' | 'cubic';

export interface ResizeSettings {
  mode: ResizeMode;
  coordinateTransformationMode: string;
  /** '' = the opset ≤ 10 rule (truncate when upsampling, ceil when downsampling). */
  nearestMode: string;
  cubicCoeffA: number;
  excludeOutside: boolean;
}

/** One axis of a resize: sizes, the float32 scale onnxruntime uses, and the roi (tf_crop_and_resize). */
export interface ResizeAxisGeometry {
  inSize: number;
  outSize: number;
  scale: number;
  roiStart: number;
  roiEnd: number;
}

/** Source coordinate of output index x, as onnxruntime computes it (float32 throughout). */
function originalCoordinate(mode: string, x: number, a: ResizeAxisGeometry): number {
  const { scale, inSize, outSize, roiStart, roiEnd } = a;
  switch (mode) {
    case 'asymmetric':
      return f(x / scale);
    case 'pytorch_half_pixel':
      return outSize > 1 ? f(f(f(x + 0.5) / scale) - 0.5) : 0;
    case 'tf_half_pixel_for_nn':
      return f(f(x + 0.5) / scale);
    case 'align_corners':
      return outSize === 1 ? 0 : f(f(x * f(inSize - 1)) / f(outSize - 1));
    case 'tf_crop_and_resize':
      return outSize > 1
        ? f(f(roiStart * f(inSize - 1)) + f(f(f(x * f(roiEnd - roiStart)) * f(inSize - 1)) / f(outSize - 1)))
        : f(0.5 * f(roiStart + roiEnd) * (inSize - 1));
    case 'half_pixel_symmetric': {
      const outputWidth = f(scale * inSize);
      const adjustment = f(outSize / outputWidth);
      const center = f(inSize / 2);
      const offset = f(center * f(1 - adjustment));
      return f(offset + (x + 0.5) / scale - 0.5);
    }
    case 'half_pixel':
      return f(f(f(x + 0.5) / scale) - 0.5);
    default:
      throw new ReconError(`Resize: coordinate_transformation_mode "${mode}" is not supported`);
  }
}

function nearestIndex(mode: string, x: number, downsample: boolean): number {
  switch (mode) {
    case '':
      return downsample ? Math.ceil(x) : Math.trunc(x);
    case 'round_prefer_ceil':
      return cppRound(x);
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    case 'round_prefer_floor':
      return x === f(Math.trunc(x) + 0.5) ? Math.floor(x) : cppRound(x);
    default:
      throw new ReconError(`Resize: nearest_mode "${mode}" is not supported`);
  }
}

/** Keys' cubic convolution weights for the taps at offsets −1, 0, 1, 2 from floor(x). */
function cubicCoeffs(s: number, a: number): number[] {
  const t = Math.abs(s);
  return [
    f(((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a),
    f(((a + 2) * t - (a + 3)) * t * t + 1),
    f(((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1),
    f(((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a),
  ];
}

/**
 * The interpolation matrix A [out, in] (row-major) of one axis: Y = A · X along that axis.
 * Rows of extrapolated outputs (tf_crop_and_resize outside the roi) are zero: their value is the
 * constant extrapolation_value, independent of X.
 */
export function resizeAxisMatrix(s: ResizeSettings, a: ResizeAxisGeometry): Float64Array {
  const { inSize, outSize } = a;
  const m = new Float64Array(outSize * inSize);
  const clampIndex = (i: number): number => Math.min(Math.max(i, 0), inSize - 1);
  const extrapolate = s.coordinateTransformationMode === 'tf_crop_and_resize';
  for (let o = 0; o < outSize; o++) {
    // onnxruntime skips the coordinate transform on axes whose scale is exactly 1.
    const x = a.scale === 1 ? o : originalCoordinate(s.coordinateTransformationMode, o, a);
    if (extrapolate && a.scale !== 1 && (x < 0 || x > inSize - 1)) continue;
    const row = o * inSize;
    if (s.mode === 'nearest') {
      m[row + clampIndex(nearestIndex(s.nearestMode, x, a.scale < 1))] = 1;
    } else if (s.mode === 'linear') {
      const v = f(Math.max(0, Math.min(x, inSize - 1)));
      const i1 = Math.min(Math.trunc(v), inSize - 1);
      const i2 = Math.min(i1 + 1, inSize - 1);
      if (i1 === i2) {
        m[row + i1] = 1;
      } else {
        // The weight of each neighbour is the distance to the other one.
        m[row + i1] = f(Math.abs(v - i2));
        m[row + i2]! += f(Math.abs(v - i1));
      }
    } else {
      const base = Math.floor(x);
      const coeffs = cubicCoeffs(f(x - base), s.cubicCoeffA);
      let sum = 1;
      if (s.excludeOutside) {
        sum = 0;
        coeffs.forEach((c, t) => {
          const p = base - 1 + t;
          if (p < 0 || p >= inSize) coeffs[t] = 0;
          else sum += c;
        });
      }
      coeffs.forEach((c, t) => {
        m[row + clampIndex(base - 1 + t)]! += c / sum;
      });
    }
  }
  return m;
}

function isIdentity(m: Float64Array, n: number, rows: number): boolean {
  if (rows !== n) return false;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (m[i * n + j] !== (i === j ? 1 : 0)) return false;
  return true;
}

/** A resized axis and its interpolation matrix [out, in]. */
export interface ResizeAxisMatrix {
  axis: number;
  inSize: number;
  outSize: number;
  matrix: Float64Array;
}

function nonEmpty(name: string | undefined): name is string {
  return name !== undefined && name !== '';
}

/**
 * The matrices of every axis a Resize (opset 10+) or Upsample (7–9) node changes, from its
 * attributes, its constant roi/scales/sizes inputs and the static shapes; identity axes omitted.
 * `constant` gives build-time values of inputs (undefined when not constant).
 */
export function resizeMatrices(
  node: Node,
  opset: number,
  xShape: readonly number[],
  yShape: readonly number[],
  constant: (value: string) => number[] | undefined,
): ResizeAxisMatrix[] {
  const rank = xShape.length;
  // onnxruntime copies X when no dimension changes, whatever the scales say.
  if (xShape.every((d, i) => d === yShape[i])) return [];
  const attrs = node.attrs;
  const isUpsample = node.opType === 'Upsample';
  const legacy = isUpsample || opset <= 10;
  let modeName = attrs.string('mode', 'nearest');
  if (modeName === 'bilinear') modeName = 'linear';
  if (modeName !== 'nearest' && modeName !== 'linear' && modeName !== 'cubic')
    throw new ReconError(`${node.label}: Resize mode "${modeName}" is not supported`);
  if (opset >= 18 && attrs.int('antialias', 0) !== 0) {
    throw new ReconError(`${node.label}: Resize with antialias=1 has no gradient rule (its filter widens with the scale)`);
  }
  const settings: ResizeSettings = {
    mode: modeName,
    coordinateTransformationMode: legacy ? 'asymmetric' : attrs.string('coordinate_transformation_mode', 'half_pixel'),
    nearestMode: legacy ? '' : attrs.string('nearest_mode', 'round_prefer_floor'),
    cubicCoeffA: attrs.float('cubic_coeff_a', -0.75),
    excludeOutside: attrs.int('exclude_outside', 0) !== 0,
  };
  const axesAttr = opset >= 18 ? attrs.ints('axes') : undefined;
  const axes = axesAttr && axesAttr.length > 0 ? axesAttr.map((a) => (a < 0 ? a + rank : a)) : Array.from({ length: rank }, (_, i) => i);
  /** Values given for `axes` spread over all axes, the others set to `fill`. */
  const spread = (values: readonly number[], fill: number): number[] => {
    if (values.length === rank && axes.length === rank) return values.slice();
    const out = Array.from({ length: rank }, () => fill);
    axes.forEach((a, i) => (out[a] = values[i]!));
    return out;
  };

  let scales: number[];
  const roiStart = Array.from({ length: rank }, () => 0);
  const roiEnd = Array.from({ length: rank }, () => 1);
  if (isUpsample && opset < 9) {
    scales = (attrs.floats('scales') ?? []).map(f);
  } else {
    const scalesInput = isUpsample || opset <= 10 ? node.inputs[1] : node.inputs[2];
    const sizesInput = legacy ? undefined : node.inputs[3];
    const sizes = nonEmpty(sizesInput) ? constant(sizesInput) : undefined;
    if (nonEmpty(sizesInput) && sizes === undefined) throw new ReconError(`${node.label}: Resize sizes are not a build-time constant`);
    if (sizes && sizes.length > 0) {
      // Scales derived from sizes (float32), then the aspect-ratio policy (opset 18).
      scales = spread(sizes, NaN).map((s, i) => (Number.isNaN(s) ? 1 : f(f(s) / f(xShape[i]!))));
      const policy = opset >= 18 ? attrs.string('keep_aspect_ratio_policy', 'stretch') : 'stretch';
      if (policy !== 'stretch') {
        const chosen = axes.map((a) => scales[a]!);
        const s = policy === 'not_larger' ? Math.min(...chosen) : Math.max(...chosen);
        for (const a of axes) scales[a] = s;
      }
    } else {
      const given = nonEmpty(scalesInput) ? constant(scalesInput) : undefined;
      if (!given || given.length === 0) throw new ReconError(`${node.label}: Resize scales are not a build-time constant`);
      scales = spread(given.map(f), 1);
    }
    if (!legacy && settings.coordinateTransformationMode === 'tf_crop_and_resize') {
      const roiInput = node.inputs[1];
      const roi = nonEmpty(roiInput) ? constant(roiInput) : undefined;
      if (!roi || roi.length === 0) throw new ReconError(`${node.label}: tf_crop_and_resize needs a constant roi`);
      const half = roi.length / 2;
      const starts = spread(roi.slice(0, half).map(f), 0);
      const ends = spread(roi.slice(half).map(f), 1);
      for (let i = 0; i < rank; i++) {
        roiStart[i] = starts[i]!;
        roiEnd[i] = ends[i]!;
      }
    }
  }
  if (scales.length !== rank) throw new ReconError(`${node.label}: ${scales.length} scales for a rank-${rank} input`);

  const out: ResizeAxisMatrix[] = [];
  for (let axis = 0; axis < rank; axis++) {
    const geometry: ResizeAxisGeometry = {
      inSize: xShape[axis]!,
      outSize: yShape[axis]!,
      scale: scales[axis]!,
      roiStart: roiStart[axis]!,
      roiEnd: roiEnd[axis]!,
    };
    const matrix = resizeAxisMatrix(settings, geometry);
    if (!isIdentity(matrix, geometry.inSize, geometry.outSize)) out.push({ axis, inSize: geometry.inSize, outSize: geometry.outSize, matrix });
  }
  return out;
}

export const resizeRule: GradientRule = {
  opTypes: ['Resize', 'Upsample'],
  // roi, scales and sizes are constants of the resize, not data.
  differentiableInputs: () => [0],
  backward(ctx) {
    const node = ctx.node;
    const e = ctx.emit;
    const x = node.inputs[0]!;
    const xShape = ctx.shape(x);
    const yShape = ctx.shape(node.outputs[0]!);
    const dtype = ctx.dtype(x);
    let g = ctx.outputGrad(0)!;
    const cur = yShape.slice();
    for (const { axis, inSize, outSize, matrix } of resizeMatrices(node, ctx.opset, xShape, yShape, ctx.constant)) {
      const pre = cur.slice(0, axis).reduce((a, b) => a * b, 1);
      const post = cur.slice(axis + 1).reduce((a, b) => a * b, 1);
      const constant = (dims: number[], data: Float64Array): string => {
        if (dtype === 'float64') return e.builder.constant(`${e.prefix}/interp`, 'float64', dims, data);
        const c = e.floats(dims, Float32Array.from(data));
        // float16/bfloat16 gradients: MatMul needs both operands in one type.
        return dtype === 'float32' ? c : e.op1('Cast', [c], { to: dtypeCode(dtype) });
      };
      if (post === 1) {
        // Last (or trailing) axis: [pre, out] · A[out, in].
        g = e.op1('MatMul', [e.reshape(g, [pre, outSize]), constant([outSize, inSize], matrix)]);
      } else {
        // Aᵀ[in, out] · [pre, out, post], broadcast over pre.
        const t = new Float64Array(inSize * outSize);
        for (let o = 0; o < outSize; o++) for (let i = 0; i < inSize; i++) t[i * outSize + o] = matrix[o * inSize + i]!;
        g = e.op1('MatMul', [constant([inSize, outSize], t), e.reshape(g, [pre, outSize, post])]);
      }
      cur[axis] = inSize;
    }
    return { 0: e.reshape(g, xShape) };
  },
};

export const resizeRules: readonly GradientRule[] = [resizeRule];
