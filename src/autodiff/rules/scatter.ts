import { ReconError } from '../../util/errors.js';
import type { GradientContext, GradientRule, InputGradients } from '../types.js';
import { gradDType, normalizeAxis, numel, zerosOf } from './emit-util.js';

/**
 * ScatterND and ScatterElements (opset 11+). The indices are stop-gradient; the same index tensor
 * is handed to the backward Gather/Scatter, which read negative indices as the forward did.
 *
 * - reduction "none": Y is `data` with the indexed positions overwritten, so dData is dY with
 *   those positions zeroed (a Scatter of zeros into dY) and dUpdates is dY gathered there. With
 *   repeated indices the forward keeps one of the competing updates, and which one is left to the
 *   runtime; the rule then hands every competitor the gradient, which is right only for unique
 *   indices (what exporters emit for index_put / slice assignment).
 * - reduction "add" (opset 16): Y = data + Σ updates, so dData = dY and dUpdates = dY gathered at
 *   the indices, duplicates included.
 * - "mul", "max", "min" have no rule (their gradients need the other competitors' values).
 */

const SCATTER_OPSET = 11;

function reductionOf(ctx: GradientContext): 'none' | 'add' {
  const reduction = ctx.node.attrs.string('reduction', 'none');
  if (reduction === 'none' || reduction === 'add') return reduction;
  throw new ReconError(`${ctx.node.label}: ${ctx.node.opType} with reduction="${reduction}" has no gradient rule (none and add only)`);
}

/** Shared shape of both rules; `scatterZeros` and `gather` emit the op-specific pair. */
function scatterBackward(
  ctx: GradientContext,
  scatterZeros: (dY: string, indices: string, zeros: string) => string,
  gather: (dY: string, indices: string) => string,
): InputGradients {
  const e = ctx.emit;
  const [data, indices, updates] = ctx.node.inputs as [string, string, string];
  const dtype = gradDType(ctx);
  const uShape = ctx.shape(updates);
  const dY = ctx.outputGrad(0)!;
  const reduction = reductionOf(ctx);
  const empty = numel(uShape) === 0 || numel(ctx.shape(data)) === 0;
  const grads: InputGradients = {};
  if (ctx.needsGrad(0)) grads[0] = reduction === 'add' || empty ? dY : scatterZeros(dY, indices, zerosOf(e, uShape, dtype));
  if (ctx.needsGrad(2)) grads[2] = empty ? zerosOf(e, uShape, dtype) : gather(dY, indices);
  return grads;
}

/** ScatterND: data [r], indices [q…, k], updates [q…, data dims k…]; GatherND reads the same slices. */
export const scatterNDRule: GradientRule = {
  opTypes: ['ScatterND'],
  minOpset: SCATTER_OPSET,
  differentiableInputs: () => [0, 2],
  backward(ctx) {
    const e = ctx.emit;
    return scatterBackward(
      ctx,
      (dY, indices, zeros) => e.op1('ScatterND', [dY, indices, zeros]),
      (dY, indices) => e.op1('GatherND', [dY, indices]),
    );
  },
};

/** ScatterElements along `axis`: GatherElements at the same indices and axis. */
export const scatterElementsRule: GradientRule = {
  opTypes: ['ScatterElements'],
  minOpset: SCATTER_OPSET,
  differentiableInputs: () => [0, 2],
  backward(ctx) {
    const e = ctx.emit;
    const axis = normalizeAxis(ctx.node.attrs.int('axis', 0), ctx.shape(ctx.node.inputs[0]!).length);
    return scatterBackward(
      ctx,
      (dY, indices, zeros) => e.op1('ScatterElements', [dY, indices, zeros], { axis }),
      (dY, indices) => e.op1('GatherElements', [dY, indices], { axis }),
    );
  },
};

export const scatterRules: readonly GradientRule[] = [scatterNDRule, scatterElementsRule];
