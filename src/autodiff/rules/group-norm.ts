import { ReconError } from '../../util/errors.js';
import type { GradientRule, InputGradients } from '../types.js';
import { gradDType, numel, scalarOf } from './emit-util.js';

/**
 * GroupNormalization (opset 18): x [N, C, …] is normalised per sample over each group of C/G
 * channels and all spatial positions, then scaled and shifted. Opset 18 gives scale and bias one
 * value per group ([G]); opset 21 corrected them to one per channel ([C]) and added stash_type,
 * the precision of the statistics (float32 by default). The backward recomputes the statistics in
 * the input's own dtype, which is the stash precision for float32 models, the usual case.
 *
 * Everything is computed on the view [N, G, C/G, S] (S = spatial size), where the statistics are
 * over axes 2 and 3 and either parameter form is a broadcastable reshape:
 *   dX = invStd·(g − mean(g) − x̂·mean(g·x̂)), g = dY·scale;
 *   dScale = Σ dY·x̂, dBias = Σ dY over every axis but the parameter's.
 */
export const groupNormRule: GradientRule = {
  opTypes: ['GroupNormalization'],
  differentiableInputs: () => [0, 1, 2],
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const [x, scale] = node.inputs as [string, string, string];
    const dY = ctx.outputGrad(0);
    if (!dY) return {};
    const dtype = gradDType(ctx);
    const shape = ctx.shape(x);
    const groups = node.attrs.int('num_groups');
    if (groups === undefined) throw new ReconError(`${node.label}: GroupNormalization has no num_groups attribute`);
    if (shape.length < 2) throw new ReconError(`${node.label}: GroupNormalization input must have a channel axis, has shape [${shape.join(',')}]`);
    const [N, C] = [shape[0]!, shape[1]!];
    if (groups <= 0 || C % groups !== 0) {
      throw new ReconError(`${node.label}: GroupNormalization with ${C} channels cannot form ${groups} groups`);
    }
    const perChannel = ctx.opset >= 21;
    const paramShape = ctx.shape(scale);
    if (paramShape.length !== 1 || paramShape[0] !== (perChannel ? C : groups)) {
      throw new ReconError(
        `${node.label}: GroupNormalization at opset ${ctx.opset} expects scale and bias of shape [${perChannel ? C : groups}] (one per ${perChannel ? 'channel' : 'group'}), got [${paramShape.join(',')}]`,
      );
    }
    const Cg = C / groups;
    const view = [N, groups, Cg, numel(shape.slice(2))];
    const statAxes = [2, 3];
    // Per channel: keep the group and in-group channel axes; per group: only the group axis.
    const paramAxes = perChannel ? [0, 3] : [0, 2, 3];
    const toParam = (t: string): string => {
      const s = e.reduceSum(t, paramAxes, false);
      return perChannel ? e.reshape(s, [C]) : s;
    };
    const dY4 = e.reshape(dY, view);
    const grads: InputGradients = {};
    if (ctx.needsGrad(2)) grads[2] = toParam(dY4);
    if (!ctx.needsGrad(0) && !ctx.needsGrad(1)) return grads;

    const x4 = e.reshape(x, view);
    const centred = e.sub(x4, e.reduceMean(x4, statAxes, true));
    const variance = e.reduceMean(e.mul(centred, centred), statAxes, true);
    const epsilon = scalarOf(e, node.attrs.float('epsilon', 1e-5), dtype);
    const invStd = e.op1('Reciprocal', [e.op1('Sqrt', [e.add(variance, epsilon)])]);
    const xHat = e.mul(centred, invStd);
    if (ctx.needsGrad(1)) grads[1] = toParam(e.mul(dY4, xHat));
    if (ctx.needsGrad(0)) {
      const g = e.mul(dY4, e.reshape(scale, perChannel ? [1, groups, Cg, 1] : [1, groups, 1, 1]));
      const meanG = e.reduceMean(g, statAxes, true);
      const meanGX = e.reduceMean(e.mul(g, xHat), statAxes, true);
      grads[0] = e.reshape(e.mul(invStd, e.sub(e.sub(g, meanG), e.mul(xHat, meanGX))), shape);
    }
    return grads;
  },
};

export const groupNormRules: readonly GradientRule[] = [groupNormRule];
