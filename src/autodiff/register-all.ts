import { GradientRegistry } from './registry.js';
import { arithmeticRules } from './rules/arithmetic.js';
import { castRule } from './rules/cast.js';
import { convRules } from './rules/conv.js';
import { poolRules } from './rules/pool.js';
import { resizeRules } from './rules/resize.js';
import { reduceRules } from './rules/reduce.js';
import { activationRules } from './rules/activation.js';
import { gatherRules } from './rules/gather.js';
import { scatterRules } from './rules/scatter.js';
import { matmulRules } from './rules/matmul.js';
import { normalizationRules } from './rules/normalization.js';
import { shapeRules } from './rules/shape.js';
import { softmaxRules } from './rules/softmax.js';
import { lpNormRules } from './rules/lp-norm.js';
import { groupNormRules } from './rules/group-norm.js';
import { einsumRules } from './rules/einsum.js';
import { cumSumTriluTopKRules } from './rules/cumsum-trilu-topk.js';

/** Every gradient rule, registered in one place. */
export function createDefaultRegistry(): GradientRegistry {
  const registry = new GradientRegistry();
  for (const rule of [
    ...arithmeticRules,
    ...reduceRules,
    castRule,
    ...convRules,
    ...poolRules,
    ...resizeRules,
    ...activationRules,
    ...softmaxRules,
    ...matmulRules,
    ...normalizationRules,
    ...shapeRules,
    ...gatherRules,
    ...scatterRules,
    ...lpNormRules,
    ...groupNormRules,
    ...einsumRules,
    ...cumSumTriluTopKRules,
  ])
    registry.register(rule);
  return registry;
}
