import type { DType } from '../../onnx/dtype.js';
import { dtypeCode } from '../../onnx/dtype.js';
import { Tensor } from '../../onnx/tensor.js';
import type { AttrInput } from '../../onnx/builder.js';
import type { Emitter } from '../emitter.js';
import type { GradientContext, GradientRule } from '../types.js';
import { explicitPads } from './conv-geometry.js';
import { maskGrad, numel, range, zerosOf } from './emit-util.js';
import { ReconError } from '../../util/errors.js';

/**
 * Pooling backward rules from standard ops:
 * - MaxPool: the Indices output of a (re-emitted) MaxPool scattered with ScatterElements(add)
 *   into zeros (B.4), which accumulates overlapping windows correctly; MaxUnpool would assign
 *   and has no CUDA kernel.
 * - AveragePool: a depthwise ConvTranspose of dY / window counts with a ones kernel (B.5).
 * - GlobalAveragePool / GlobalMaxPool: broadcast (with a tie-splitting mask for max).
 * - MaxUnpool (as a forward op): a Gather of dY at the indices, kept only for the element that
 *   owns each written position (overlapping windows repeat indices).
 */

/** A float constant in the gradient's dtype. */
function constantOf(e: Emitter, dims: readonly number[], data: Float32Array, dtype: DType): string {
  if (dtype === 'float64') return e.builder.constant(`${e.prefix}/const`, 'float64', dims, Float64Array.from(data));
  const c = e.floats(dims, data);
  return dtype === 'float32' ? c : e.op1('Cast', [c], { to: dtypeCode(dtype) });
}

/** The window attributes of a MaxPool node (only those present), for re-emitting it. */
function maxPoolWindow(ctx: GradientContext): Record<string, AttrInput> {
  const attrs = ctx.node.attrs;
  const out: Record<string, AttrInput> = {};
  for (const name of ['kernel_shape', 'strides', 'pads', 'dilations']) {
    const v = attrs.ints(name);
    if (v) out[name] = v;
  }
  const autoPad = attrs.string('auto_pad');
  if (autoPad !== undefined) out['auto_pad'] = autoPad;
  const ceil = attrs.int('ceil_mode');
  if (ceil !== undefined) out['ceil_mode'] = ceil;
  return out;
}

export const maxPoolRule: GradientRule = {
  opTypes: ['MaxPool'],
  // ScatterElements' reduction attribute (opset 16); opset-15 ScatterElements mishandles duplicates.
  minOpset: 16,
  differentiableInputs: () => [0],
  backward(ctx) {
    const node = ctx.node;
    const e = ctx.emit;
    if (ctx.opset < 16) throw new ReconError(`${node.label}: the MaxPool gradient needs opset >= 16 (ScatterElements reduction); upgrade the model first`);
    const x = node.inputs[0]!;
    const xShape = ctx.shape(x);
    const y = node.outputs[0]!;
    const dY = ctx.outputGrad(0)!;
    let indices = node.outputs[1];
    if (!indices || node.attrs.int('storage_order', 0) !== 0) {
      // Recompute the argmax in row-major order: the forward node may have no Indices output,
      // or column-major ones. Same windows, same maxima.
      indices = e.op('MaxPool', [x], maxPoolWindow(ctx), { outputCount: 2 })[1]!;
    }
    // Indices are flat over the whole N·C·H·W tensor, so one 1-D scatter-add does every plane.
    const yCount = numel(ctx.shape(y));
    const flatIdx = e.reshape(indices, [yCount]);
    const flatDy = e.reshape(dY, [yCount]);
    const dtype = ctx.dtype(dY);
    const scattered = e.op1('ScatterElements', [zerosOf(e, [numel(xShape)], dtype), flatIdx, flatDy], { axis: 0, reduction: 'add' });
    return { 0: e.reshape(scattered, xShape) };
  },
};

/**
 * Number of elements the average of each output position along one axis divides by: window taps
 * inside the input (count_include_pad=0) or inside the padded input (=1); both clip windows that
 * ceil_mode lets run past the end padding, as onnxruntime does.
 */
function axisCounts(
  inSize: number,
  outSize: number,
  kernel: number,
  stride: number,
  dilation: number,
  padBegin: number,
  padEnd: number,
  includePad: boolean,
): number[] {
  const lo = includePad ? -padBegin : 0;
  const hi = includePad ? inSize + padEnd : inSize;
  const counts: number[] = [];
  for (let o = 0; o < outSize; o++) {
    const start = o * stride - padBegin;
    let n = 0;
    for (let t = 0; t < kernel; t++) {
      const p = start + t * dilation;
      if (p >= lo && p < hi) n++;
    }
    counts.push(n);
  }
  return counts;
}

export const averagePoolRule: GradientRule = {
  opTypes: ['AveragePool'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const node = ctx.node;
    const e = ctx.emit;
    const x = node.inputs[0]!;
    const xShape = ctx.shape(x);
    const yShape = ctx.shape(node.outputs[0]!);
    const dY = ctx.outputGrad(0)!;
    const dtype = ctx.dtype(dY);
    const k = xShape.length - 2;
    const c = xShape[1]!;
    const kernel = node.attrs.ints('kernel_shape');
    if (!kernel) throw new ReconError(`${node.label}: AveragePool without kernel_shape`);
    const strides = node.attrs.ints('strides') ?? kernel.map(() => 1);
    const dilations = node.attrs.ints('dilations') ?? kernel.map(() => 1);
    const includePad = node.attrs.int('count_include_pad', 0) === 1;
    const inSpatial = xShape.slice(2);
    const outSpatial = yShape.slice(2);
    const { begin, end } = explicitPads(node, inSpatial, kernel, strides, dilations);

    // 1 / window count per output position, separable over the spatial axes.
    const perAxis = inSpatial.map((h, i) => axisCounts(h, outSpatial[i]!, kernel[i]!, strides[i]!, dilations[i]!, begin[i]!, end[i]!, includePad));
    const scale = new Float32Array(numel(outSpatial));
    for (let flat = 0; flat < scale.length; flat++) {
      let rest = flat;
      let count = 1;
      for (let i = k - 1; i >= 0; i--) {
        count *= perAxis[i]![rest % outSpatial[i]!]!;
        rest = Math.floor(rest / outSpatial[i]!);
      }
      // An output whose window holds no input element does not depend on X.
      scale[flat] = count > 0 ? 1 / count : 0;
    }
    const uniform = scale.every((v) => v === scale[0]);
    const scaled = e.mul(dY, uniform ? constantOf(e, [], Float32Array.of(scale[0]!), dtype) : constantOf(e, outSpatial, scale, dtype));

    // Spread each scaled output over its window: ConvTranspose with a per-channel ones kernel.
    // rem = trailing input rows no window reaches (output_padding); negative when ceil_mode
    // windows overhang the end padding (then the end crop grows instead).
    const padsEnd: number[] = [];
    const outputPadding: number[] = [];
    for (let i = 0; i < k; i++) {
      const spanI = (kernel[i]! - 1) * dilations[i]! + 1;
      const rem = inSpatial[i]! + begin[i]! + end[i]! - spanI - strides[i]! * (outSpatial[i]! - 1);
      if (rem >= strides[i]!)
        throw new ReconError(`${node.label}: output size ${outSpatial[i]} on spatial axis ${i} leaves ${rem} rows unused (stride ${strides[i]})`);
      padsEnd.push(rem < 0 ? end[i]! - rem : end[i]!);
      outputPadding.push(Math.max(rem, 0));
    }
    const ones = constantOf(e, [c, 1, ...kernel], new Float32Array(c * numel(kernel)).fill(1), dtype);
    const attrs: Record<string, AttrInput> = { kernel_shape: kernel, strides, dilations, pads: [...begin, ...padsEnd], group: c };
    if (outputPadding.some((v) => v > 0)) attrs['output_padding'] = outputPadding;
    const dX = e.op1('ConvTranspose', [scaled, ones], attrs);
    return { 0: dX };
  },
};

export const globalAveragePoolRule: GradientRule = {
  opTypes: ['GlobalAveragePool'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const xShape = ctx.shape(ctx.node.inputs[0]!);
    const dY = ctx.outputGrad(0)!;
    const scaled = e.mul(dY, constantOf(e, [], Float32Array.of(1 / numel(xShape.slice(2))), ctx.dtype(dY)));
    return { 0: e.op1('Expand', [scaled, e.int64s(xShape)]) };
  },
};

/** Max over each plane: dY goes to the maxima, split equally among ties (as ReduceMax). */
export const globalMaxPoolRule: GradientRule = {
  opTypes: ['GlobalMaxPool'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const x = ctx.node.inputs[0]!;
    const y = ctx.node.outputs[0]!;
    const xShape = ctx.shape(x);
    const dY = ctx.outputGrad(0)!;
    // Every x is <= its plane's max, so "not below it" marks the maxima where Equal cannot
    // (Equal takes floats only from opset 11).
    const isMax = ctx.opset >= 11 ? e.op1('Equal', [x, y]) : e.op1('Not', [e.op1('Less', [x, y])]);
    const mask = e.op1('Cast', [isMax], { to: dtypeCode(ctx.dtype(dY)) });
    const ties = e.reduceSum(mask, range(2, xShape.length), true);
    return { 0: e.mul(mask, e.div(dY, ties)) };
  },
};

/**
 * MaxUnpool writes X[j] to flat position I[j] of zeros, so dX[j] = dY_flat[I[j]] for the element
 * that lands there. Overlapping MaxPool windows repeat an index (one element is the max of several
 * windows) and the forward keeps one write per position: only one X[j] per position may get the
 * gradient, or MaxPool → MaxUnpool would count it once per window. The owner of each position
 * comes from scattering the positions j themselves. In MaxPool → MaxUnpool every candidate carries
 * the same value, so which one the runtime keeps does not change the composed gradient; for
 * unrelated values written to one position the forward's choice is the runtime's, and the rule is
 * exact where both ops keep the same write (onnxruntime's CPU kernels both keep the last).
 */
export const maxUnpoolRule: GradientRule = {
  opTypes: ['MaxUnpool'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const [x, indices] = ctx.node.inputs as [string, string];
    const xShape = ctx.shape(x);
    const xCount = numel(xShape);
    const yCount = numel(ctx.shape(ctx.node.outputs[0]!));
    const dtype = ctx.dtype(ctx.node.outputs[0]!);
    if (xCount === 0 || yCount === 0) return { 0: zerosOf(e, xShape, dtype) };
    const flatIdx = e.reshape(indices, [xCount]);
    const gathered = e.op1('Gather', [e.reshape(ctx.outputGrad(0)!, [yCount]), flatIdx], { axis: 0 });
    const int64 = (v: number): string => e.builder.scalar(`${e.prefix}/const`, v, 'int64');
    // Range and ScatterElements arrive at opset 11; before that a constant and Scatter do the same.
    const positions = ctx.opset >= 11 ? e.op1('Range', [int64(0), int64(xCount), int64(1)]) : e.int64s(range(0, xCount));
    const unowned = e.op1('ConstantOfShape', [e.int64s([yCount])], { value: Tensor.fromArray('', 'int64', [1], BigInt64Array.of(-1n)) });
    const owner = e.op1(ctx.opset >= 11 ? 'ScatterElements' : 'Scatter', [unowned, flatIdx, positions], { axis: 0 });
    const owns = e.op1('Equal', [e.op1('Gather', [owner, flatIdx], { axis: 0 }), positions]);
    return { 0: e.reshape(maskGrad(e, owns, gathered, dtype), xShape) };
  },
};

export const poolRules: readonly GradientRule[] = [maxPoolRule, averagePoolRule, globalAveragePoolRule, globalMaxPoolRule, maxUnpoolRule];
