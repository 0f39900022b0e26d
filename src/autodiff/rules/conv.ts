import type { Emitter } from '../emitter.js';
import type { GradientContext, GradientRule, InputGradients } from '../types.js';
import { numel, range, repeated } from './emit-util.js';
import { convGeometry, remainders, type ConvGeometry } from './conv-geometry.js';
import { convForwardIm2col, convInputGradIm2col, convWeightGradIm2col } from '../lower/im2col.js';
import { ReconError } from '../../util/errors.js';

/**
 * Conv and ConvTranspose backward rules from standard ops only (no ConvGrad):
 * - Conv dX is a ConvTranspose with explicit pads and output_padding (B.2), or the same transposed
 *   convolution as Gather (im2col of dY) + one GEMM per block of input positions,
 * - Conv dW is a Conv with batch and channels swapped and stride and dilation swapped (B.3), one
 *   MatMul per kernel tap, or an im2col of X (Gather) contracted with dY in one GEMM per block,
 * - ConvTranspose is the adjoint of a Conv, so its dX is that Conv and its dW is the same
 *   weight gradient with the roles of input and output gradient exchanged.
 * The im2col forms work in a [C, positions, N] layout (batch innermost), so that batch and
 * positions form one GEMM dimension; they split a contraction into blocks where that skips
 * multiply-adds with padding (`tapBlocks`, chosen by a cost model in `planBlocks`), and share
 * what they derive from forward values between the tasks' backward passes (`sharedValue`). The
 * forward Conv itself can be written the same way (`lowerConvolution`).
 * Every pad is computed from the static shapes: emitted nodes never carry auto_pad or output_shape,
 * which onnxruntime has mishandled on ConvTranspose.
 */

/**
 * Gradient of `Y = Conv(X, W)` with respect to X, shape [N, C, in...], for dY [N, M, out...], in
 * the formulation the graph's lowering selects (`Lowering.conv.inputGradient`).
 */
export function convInputGrad(e: Emitter, dY: string, w: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
  return e.lowering.conv.inputGradient === 'im2col-gemm'
    ? convInputGradIm2col(e, dY, w, geo, xShape, yShape)
    : convInputGradTransposed(e, dY, w, geo, xShape.slice(2), yShape.slice(2));
}

/**
 * B.2: dX is a ConvTranspose of dY with the same weights, strides, dilations, group and pads,
 * whose output_padding restores the trailing rows.
 */
function convInputGradTransposed(e: Emitter, dY: string, w: string, geo: ConvGeometry, inSpatial: readonly number[], outSpatial: readonly number[]): string {
  const r = remainders(geo, inSpatial, outSpatial);
  const attrs: Record<string, number | number[]> = {
    kernel_shape: geo.kernel,
    strides: geo.strides,
    dilations: geo.dilations,
    pads: [...geo.padsBegin, ...geo.padsEnd],
    group: geo.group,
  };
  if (r.some((v) => v !== 0)) attrs['output_padding'] = r;
  return e.op1('ConvTranspose', [dY, w], attrs);
}

/**
 * Gradient of `Y = Conv(X, W)` with respect to W, shape [M, C/g, k...], for X [N, C, in...] and
 * dY [N, M, out...], in the formulation the graph's lowering selects (`Lowering.conv.weightGradient`).
 */
export function convWeightGrad(e: Emitter, x: string, dY: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
  switch (e.lowering.conv.weightGradient) {
    case 'per-tap-matmul':
      return convWeightGradPerTap(e, x, dY, geo, xShape, yShape);
    case 'swapped-conv':
      return convWeightGradSwapped(e, x, dY, geo, xShape, yShape);
    default:
      return convWeightGradIm2col(e, x, dY, geo, xShape, yShape);
  }
}

/**
 * B.3: dW[m, c, t] = Σ_{n,o} dY[n, m, o] · X[n, c, o·s + t·d − pb] is itself a convolution of X
 * (channels as batch, batch as channels) with dY as the kernel, stride d and dilation s. The end
 * pad shrinks by the unused remainder; where it would go negative, X is cropped instead.
 */
function convWeightGradSwapped(e: Emitter, x: string, dY: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
  const k = xShape.length - 2;
  const [n, c] = xShape as [number, number];
  const inSpatial = xShape.slice(2);
  const outSpatial = yShape.slice(2);
  const g = geo.group;
  const cg = c / g;
  const r = remainders(geo, inSpatial, outSpatial);
  const padsEnd: number[] = [];
  const cropped = inSpatial.slice();
  for (let i = 0; i < k; i++) {
    const pe = geo.padsEnd[i]! - r[i]!;
    if (pe < 0) cropped[i] = inSpatial[i]! + pe;
    padsEnd.push(Math.max(0, pe));
  }
  let input = x;
  if (cropped.some((h, i) => h !== inSpatial[i])) {
    input = e.op1('Slice', [input, e.int64s(repeated(k, 0)), e.int64s(cropped), e.int64s(range(2, 2 + k))]);
  }
  const spatialAxes = range(2, 2 + k);
  let lhs: string;
  if (g === 1) {
    lhs = e.transpose(input, [1, 0, ...spatialAxes]);
  } else {
    // Channels of group j and batch n become input channel j·N + n of a grouped conv.
    const split = e.reshape(input, [n, g, cg, ...cropped]);
    lhs = e.reshape(e.transpose(split, [2, 1, 0, ...range(3, 3 + k)]), [cg, g * n, ...cropped]);
  }
  const rhs = e.transpose(dY, [1, 0, ...spatialAxes]);
  const conv = e.op1('Conv', [lhs, rhs], {
    kernel_shape: outSpatial,
    strides: geo.dilations,
    dilations: geo.strides,
    pads: [...geo.padsBegin, ...padsEnd],
    group: g,
  });
  return e.transpose(conv, [1, 0, ...spatialAxes]);
}

/**
 * B.3's alternative: one strided Slice of the padded X per kernel tap and one batched MatMul per
 * tap over (batch × output positions), grouped as [g, C/g, ·] × [g, ·, M/g]. More nodes, but every
 * product is a plain GEMM.
 */
function convWeightGradPerTap(e: Emitter, x: string, dY: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
  const k = xShape.length - 2;
  const [n, c] = xShape as [number, number];
  const m = yShape[1]!;
  const g = geo.group;
  const cg = c / g;
  const mg = m / g;
  const outSpatial = yShape.slice(2);
  const p = numel(outSpatial);
  let padded = x;
  if ([...geo.padsBegin, ...geo.padsEnd].some((v) => v !== 0)) {
    padded = e.op1('Pad', [x, e.int64s([0, 0, ...geo.padsBegin, 0, 0, ...geo.padsEnd])]);
  }
  const paddedSpatial = xShape.slice(2).map((h, i) => h + geo.padsBegin[i]! + geo.padsEnd[i]!);
  // [N, C, ...] → [g, C/g, N, ...]: a tap's slice then flattens to [g, C/g, N·P] without copying.
  const xt = e.transpose(e.reshape(padded, [n, g, cg, ...paddedSpatial]), [1, 2, 0, ...range(3, 3 + k)]);
  const dyt = e.reshape(e.transpose(e.reshape(dY, [n, g, mg, p]), [1, 0, 3, 2]), [g, n * p, mg]);
  const taps: string[] = [];
  const tapCount = numel(geo.kernel);
  for (let t = 0; t < tapCount; t++) {
    // Row-major tap index → per-axis kernel offsets, so taps stack in W's own layout.
    const offset: number[] = [];
    let rest = t;
    for (let i = k - 1; i >= 0; i--) {
      offset[i] = rest % geo.kernel[i]!;
      rest = Math.floor(rest / geo.kernel[i]!);
    }
    const starts = offset.map((o, i) => o * geo.dilations[i]!);
    const ends = starts.map((s, i) => s + geo.strides[i]! * (outSpatial[i]! - 1) + 1);
    const slice = e.op1('Slice', [xt, e.int64s(starts), e.int64s(ends), e.int64s(range(3, 3 + k)), e.int64s(geo.strides)]);
    const prod = e.op1('MatMul', [e.reshape(slice, [g, cg, n * p]), dyt]);
    taps.push(e.reshape(prod, [1, g, cg, mg]));
  }
  const stacked = taps.length === 1 ? taps[0]! : e.op1('Concat', taps, { axis: 0 });
  return e.reshape(e.transpose(stacked, [1, 3, 2, 0]), [m, cg, ...geo.kernel]);
}

/** dB of a conv-like op: dY summed over batch and spatial axes. */
function biasGrad(e: Emitter, dY: string, rank: number): string {
  return e.reduceSum(dY, [0, ...range(2, rank)], false);
}

export const convRule: GradientRule = {
  opTypes: ['Conv'],
  differentiableInputs: () => [0, 1, 2],
  backward(ctx) {
    const node = ctx.node;
    const e = ctx.emit;
    const [x, w] = node.inputs as [string, string];
    const dY = ctx.outputGrad(0)!;
    const xShape = ctx.shape(x);
    const yShape = ctx.shape(node.outputs[0]!);
    const geo = convGeometry(ctx);
    const grads: InputGradients = {};
    if (ctx.needsGrad(0)) grads[0] = convInputGrad(e, dY, w, geo, xShape, yShape);
    if (ctx.needsGrad(1)) grads[1] = convWeightGrad(e, x, dY, geo, xShape, yShape);
    if (ctx.needsGrad(2)) grads[2] = biasGrad(e, dY, yShape.length);
    return grads;
  },
};

/**
 * Geometry of a forward ConvTranspose with explicit pads, resolving output_shape and auto_pad from
 * the static sizes, then checked against the output shape onnxruntime produced.
 */
export function convTransposeGeometry(ctx: GradientContext): ConvGeometry & { outputPadding: number[] } {
  const node = ctx.node;
  const xShape = ctx.shape(node.inputs[0]!);
  const wShape = ctx.shape(node.inputs[1]!);
  const yShape = ctx.shape(node.outputs[0]!);
  const k = xShape.length - 2;
  const kernel = node.attrs.ints('kernel_shape') ?? wShape.slice(2);
  const strides = node.attrs.ints('strides') ?? repeated(k, 1);
  const dilations = node.attrs.ints('dilations') ?? repeated(k, 1);
  const outputPadding = node.attrs.ints('output_padding') ?? repeated(k, 0);
  const group = node.attrs.int('group', 1);
  const autoPad = node.attrs.string('auto_pad', 'NOTSET');
  const outputShape = node.attrs.ints('output_shape');
  const inSpatial = xShape.slice(2);
  const full = inSpatial.map((h, i) => strides[i]! * (h - 1) + outputPadding[i]! + (kernel[i]! - 1) * dilations[i]! + 1);
  let begin: number[];
  let end: number[];
  const hasOutputShape = !!outputShape && outputShape.length > 0;
  if (hasOutputShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    // The output size is output_shape, or in·stride for SAME_*; the total pad is the excess of the
    // full transposed output over it, odd pad at the end for SAME_UPPER and at the start otherwise
    // (onnxruntime's and the spec's convention, checked in the tests).
    const target = hasOutputShape ? (outputShape!.length === k ? outputShape! : outputShape!.slice(2)) : inSpatial.map((h, i) => h * strides[i]!);
    begin = [];
    end = [];
    for (let i = 0; i < k; i++) {
      const total = Math.max(0, full[i]! - target[i]!);
      const head = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2);
      begin.push(head);
      end.push(total - head);
    }
  } else if (autoPad === 'VALID') {
    begin = repeated(k, 0);
    end = repeated(k, 0);
  } else {
    const pads = node.attrs.ints('pads') ?? repeated(2 * k, 0);
    begin = pads.slice(0, k);
    end = pads.slice(k);
  }
  for (let i = 0; i < k; i++) {
    const expected = full[i]! - begin[i]! - end[i]!;
    if (expected !== yShape[2 + i]) {
      throw new ReconError(
        `${node.label}: derived pads [${begin}] / [${end}] give output size ${expected} on spatial axis ${i}, onnxruntime gave ${yShape[2 + i]}`,
      );
    }
  }
  return { kernel, strides, dilations, padsBegin: begin, padsEnd: end, group, outputPadding };
}

/**
 * ConvTranspose(X, W) is the adjoint of the Conv that maps its output space back to X:
 * Conv(Y', W) with the same strides, dilations, group and begin pads, and end pads reduced by
 * output_padding (those trailing output rows receive nothing from X). A negative end pad means
 * trailing rows of Y' that the Conv never reads, so they are cropped.
 */
function adjointConv(
  e: Emitter,
  dY: string,
  geo: ConvGeometry & { outputPadding: number[] },
  yShape: readonly number[],
): { input: string; inputShape: number[]; geo: ConvGeometry } {
  const k = yShape.length - 2;
  const padsEnd: number[] = [];
  const cropped = yShape.slice(2);
  for (let i = 0; i < k; i++) {
    const pe = geo.padsEnd[i]! - geo.outputPadding[i]!;
    if (pe < 0) cropped[i] = cropped[i]! + pe;
    padsEnd.push(Math.max(0, pe));
  }
  let input = dY;
  if (cropped.some((h, i) => h !== yShape[2 + i])) {
    input = e.op1('Slice', [dY, e.int64s(repeated(k, 0)), e.int64s(cropped), e.int64s(range(2, 2 + k))]);
  }
  return {
    input,
    inputShape: [yShape[0]!, yShape[1]!, ...cropped],
    geo: { kernel: geo.kernel, strides: geo.strides, dilations: geo.dilations, padsBegin: geo.padsBegin, padsEnd, group: geo.group },
  };
}

export const convTransposeRule: GradientRule = {
  opTypes: ['ConvTranspose'],
  differentiableInputs: () => [0, 1, 2],
  backward(ctx) {
    const node = ctx.node;
    const e = ctx.emit;
    const [x, w] = node.inputs as [string, string];
    const dY = ctx.outputGrad(0)!;
    const xShape = ctx.shape(x);
    const yShape = ctx.shape(node.outputs[0]!);
    const geo = convTransposeGeometry(ctx);
    const adj = adjointConv(e, dY, geo, yShape);
    const grads: InputGradients = {};
    if (ctx.needsGrad(0)) {
      grads[0] =
        e.lowering.conv.inputGradient === 'im2col-gemm'
          ? convForwardIm2col(e, adj.input, w, undefined, adj.geo, adj.inputShape, xShape)
          : e.op1('Conv', [adj.input, w], {
              kernel_shape: adj.geo.kernel,
              strides: adj.geo.strides,
              dilations: adj.geo.dilations,
              pads: [...adj.geo.padsBegin, ...adj.geo.padsEnd],
              group: adj.geo.group,
            });
    }
    // W [C, M/g, k...] is the weight of the adjoint conv (input dY, output X), so its gradient is
    // that conv's weight gradient with X in the role of the output gradient.
    if (ctx.needsGrad(1)) grads[1] = convWeightGrad(e, adj.input, x, adj.geo, adj.inputShape, xShape);
    if (ctx.needsGrad(2)) grads[2] = biasGrad(e, dY, yShape.length);
    return grads;
  },
};

export const convRules: readonly GradientRule[] = [convRule, convTransposeRule];
