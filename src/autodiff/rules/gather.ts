import { ReconError } from '../../util/errors.js';
import type { GradientContext, GradientRule } from '../types.js';
import { gradDType, normalizeAxis, numel, wrapIndices, zerosOf } from './emit-util.js';

/**
 * Gathers scatter their gradient back with reduction="add" (opset 16), so repeated indices (an
 * embedding row used twice) accumulate instead of overwriting. Indices are stop-gradient; negative
 * indices are wrapped before scattering.
 */
const SCATTER_ADD_OPSET = 16;

function requireScatterAdd(ctx: GradientContext): void {
  if (ctx.opset < SCATTER_ADD_OPSET) {
    throw new ReconError(
      `${ctx.node.label}: the ${ctx.node.opType} gradient needs ScatterND/ScatterElements reduction="add" (opset ${SCATTER_ADD_OPSET}); the model is at opset ${ctx.opset}`,
    );
  }
}

/**
 * Gather along `axis`: data [pre…, D, post…], indices I → dY [pre…, I…, post…]. dY is viewed as
 * [pre, m, post] and moved to [m, pre, post] so each index addresses one row of a [D, pre, post]
 * accumulator: a single ScatterND(add) with indices [m, 1].
 */
export const gatherRule: GradientRule = {
  opTypes: ['Gather'],
  minOpset: SCATTER_ADD_OPSET,
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const [data, indices] = ctx.node.inputs as [string, string];
    const dtype = gradDType(ctx);
    const shape = ctx.shape(data);
    const axis = normalizeAxis(ctx.node.attrs.int('axis', 0), shape.length);
    const D = shape[axis]!;
    const pre = numel(shape.slice(0, axis));
    const post = numel(shape.slice(axis + 1));
    const m = numel(ctx.shape(indices));
    if (m === 0 || numel(shape) === 0) return { 0: zerosOf(e, shape, dtype) };
    requireScatterAdd(ctx);
    const dY = ctx.outputGrad(0)!;
    const updates = pre === 1 ? e.reshape(dY, [m, 1, post]) : e.transpose(e.reshape(dY, [pre, m, post]), [1, 0, 2]);
    const idx = e.reshape(wrapIndices(e, indices, ctx.dtype(indices), D), [m, 1]);
    const acc = e.op1('ScatterND', [zerosOf(e, [D, pre, post], dtype), idx, updates], { reduction: 'add' });
    return { 0: e.reshape(pre === 1 ? acc : e.transpose(acc, [1, 0, 2]), shape) };
  },
};

/** GatherElements: ScatterElements(add) of dY at the same indices, same axis. */
export const gatherElementsRule: GradientRule = {
  opTypes: ['GatherElements'],
  minOpset: SCATTER_ADD_OPSET,
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const [data, indices] = ctx.node.inputs as [string, string];
    const dtype = gradDType(ctx);
    const shape = ctx.shape(data);
    const axis = normalizeAxis(ctx.node.attrs.int('axis', 0), shape.length);
    if (numel(ctx.shape(indices)) === 0 || numel(shape) === 0) return { 0: zerosOf(e, shape, dtype) };
    requireScatterAdd(ctx);
    const idx = wrapIndices(e, indices, ctx.dtype(indices), shape[axis]!);
    return { 0: e.op1('ScatterElements', [zerosOf(e, shape, dtype), idx, ctx.outputGrad(0)!], { axis, reduction: 'add' }) };
  },
};

/** GatherND with batch_dims = 0: ScatterND(add) of dY at the same index tuples. */
export const gatherNDRule: GradientRule = {
  opTypes: ['GatherND'],
  minOpset: SCATTER_ADD_OPSET,
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const [data, indices] = ctx.node.inputs as [string, string];
    const dtype = gradDType(ctx);
    const shape = ctx.shape(data);
    if (ctx.node.attrs.int('batch_dims', 0) !== 0) throw new ReconError(`${ctx.node.label}: GatherND with batch_dims > 0 has no gradient rule`);
    const iShape = ctx.shape(indices);
    if (numel(iShape) === 0 || numel(shape) === 0) return { 0: zerosOf(e, shape, dtype) };
    requireScatterAdd(ctx);
    const k = iShape[iShape.length - 1]!;
    // Each index tuple's j-th entry wraps by dim j: a [k] constant broadcasts over the last axis.
    const i64 = ctx.dtype(indices) === 'int64' ? indices : e.op1('Cast', [indices], { to: 7 });
    const dims = e.int64s(shape.slice(0, k));
    const zero = e.builder.scalar(`${e.prefix}/const`, 0, 'int64');
    const idx = e.op1('Where', [e.op1('Less', [i64, zero]), e.op1('Add', [i64, dims]), i64]);
    return { 0: e.op1('ScatterND', [zerosOf(e, shape, dtype), idx, ctx.outputGrad(0)!], { reduction: 'add' }) };
  },
};

export const gatherRules: readonly GradientRule[] = [gatherRule, gatherElementsRule, gatherNDRule];
