import { float } from '../../onnx/builder.js';
import type { DType } from '../../onnx/dtype.js';
import { dtypeCode } from '../../onnx/dtype.js';
import { Tensor } from '../../onnx/tensor.js';
import type { Emitter } from '../emitter.js';
import type { GradientContext } from '../types.js';
import { InternalError } from '../../util/errors.js';

/**
 * Small opset-aware emission idioms shared by the activation, softmax, matmul, normalization and
 * shape rules. Every helper folds static shapes into constants: the backward graph never reads a
 * shape at run time.
 */

/** A rank-0 constant of `dtype`, so Where/Mul with gradients of float64 (or float16) models type-check. */
export function scalarOf(e: Emitter, value: number, dtype: DType): string {
  if (dtype === 'float32') return e.scalar(value);
  if (dtype === 'float64') return e.builder.constant(`${e.prefix}/const`, 'float64', [], Float64Array.of(value));
  return e.op1('Cast', [e.scalar(value)], { to: dtypeCode(dtype) });
}

/** The dtype of the gradient flowing into output `index` (the output's own dtype). */
export function gradDType(ctx: GradientContext, index = 0): DType {
  return ctx.dtype(ctx.node.outputs[index]!);
}

/** Zeros of a static shape and dtype, via ConstantOfShape (no large initializer). */
export function zerosOf(e: Emitter, shape: readonly number[], dtype: DType): string {
  if (dtype === 'float32') return e.zeros(shape);
  if (dtype === 'float64') {
    return e.op1('ConstantOfShape', [e.int64s(shape)], { value: Tensor.fromArray('', 'float64', [1], Float64Array.of(0)) });
  }
  return e.op1('Cast', [e.zeros(shape)], { to: dtypeCode(dtype) });
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The integers from, from + 1, …, to − 1. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** `n` copies of `value` (pads, strides, dilations). */
export function repeated(n: number, value: number): number[] {
  return Array.from({ length: n }, () => value);
}

/**
 * Reshape to a static shape. An empty target gets zeros instead: a 0 in Reshape's shape input
 * means "copy this dim" (allowzero=0), so an empty shape cannot be written as a plain Reshape.
 */
export function reshapeTo(e: Emitter, x: string, shape: readonly number[], dtype: DType): string {
  if (numel(shape) === 0) return zerosOf(e, shape, dtype);
  return e.reshape(x, shape);
}

export function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** a >= b as a bool tensor (GreaterOrEqual only exists from opset 12). */
export function greaterOrEqual(e: Emitter, a: string, b: string): string {
  if (e.opset >= 12) return e.op1('GreaterOrEqual', [a, b]);
  return e.op1('Not', [e.op1('Less', [a, b])]);
}

/** a <= b as a bool tensor (LessOrEqual only exists from opset 12). */
export function lessOrEqual(e: Emitter, a: string, b: string): string {
  if (e.opset >= 12) return e.op1('LessOrEqual', [a, b]);
  return e.op1('Not', [e.op1('Greater', [a, b])]);
}

/**
 * Zero-padding by static per-axis amounts (all non-negative), opset-aware: `pads` is an attribute
 * before opset 11 and an input from 11.
 */
export function padZeros(e: Emitter, x: string, begins: readonly number[], ends: readonly number[]): string {
  if (begins.every((p) => p === 0) && ends.every((p) => p === 0)) return x;
  if (begins.some((p) => p < 0) || ends.some((p) => p < 0)) throw new InternalError('padZeros: negative pads (use sliceStatic to crop)');
  const pads = [...begins, ...ends];
  if (e.opset >= 11) return e.op1('Pad', [x, e.int64s(pads)], { mode: 'constant' });
  return e.op1('Pad', [x], { mode: 'constant', pads, value: float(0) });
}

/**
 * Static Slice, opset-aware (attributes before opset 10, inputs from 10; steps need opset 10).
 * Returns `x` unchanged when the slice selects everything.
 */
export function sliceStatic(
  e: Emitter,
  x: string,
  starts: readonly number[],
  ends: readonly number[],
  axes: readonly number[],
  steps?: readonly number[],
): string {
  if (axes.length === 0) return x;
  // biome-ignore lint/complexity/useOptionalChain: the explicit test narrows `steps` for the push below.
  const stepped = steps !== undefined && steps.some((s) => s !== 1);
  if (e.opset >= 10) {
    const inputs = [x, e.int64s(starts), e.int64s(ends), e.int64s(axes)];
    if (stepped) inputs.push(e.int64s(steps));
    return e.op1('Slice', inputs);
  }
  if (stepped) throw new InternalError('Slice with steps needs opset 10');
  return e.op1('Slice', [x], { starts: starts.slice(), ends: ends.slice(), axes: axes.slice() });
}

/** Split along `axis` into static sizes, opset-aware (attribute before 13, input from 13). */
export function splitStatic(e: Emitter, x: string, axis: number, sizes: readonly number[]): string[] {
  if (sizes.length === 1) return [x];
  if (e.opset >= 13) return e.op('Split', [x, e.int64s(sizes)], { axis }, { outputCount: sizes.length });
  return e.op('Split', [x], { axis, split: sizes.slice() }, { outputCount: sizes.length });
}

/** Where(cond, value, 0) (or Where(cond, 0, value) when `onTrue` is false), dtype-matched zero. */
export function maskGrad(e: Emitter, cond: string, value: string, dtype: DType, onTrue = true): string {
  const zero = scalarOf(e, 0, dtype);
  return onTrue ? e.op1('Where', [cond, value, zero]) : e.op1('Where', [cond, zero, value]);
}

/** Integer indices as int64 with negative entries wrapped by `dim` (Scatter* want int64 in range). */
export function wrapIndices(e: Emitter, indices: string, dtype: DType, dim: number): string {
  const idx = dtype === 'int64' ? indices : e.op1('Cast', [indices], { to: dtypeCode('int64') });
  const zero = e.builder.scalar(`${e.prefix}/const`, 0, 'int64');
  const size = e.builder.scalar(`${e.prefix}/const`, dim, 'int64');
  return e.op1('Where', [e.op1('Less', [idx, zero]), e.op1('Add', [idx, size]), idx]);
}
