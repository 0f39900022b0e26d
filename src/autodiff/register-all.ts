import { GradientRegistry } from './registry.js';
import { arithmeticRules } from './rules/arithmetic.js';
import { castRule } from './rules/cast.js';
import { convRules } from './rules/conv.js';
import { poolRules } from './rules/pool.js';
import { resizeRules } from './rules/resize.js';
import { reduceRules } from './rules/reduce.js';
import { activationRules } from './rules/activation.js';
import { gatherRules } from './rules/gather.js';
import { matmulRules } from './rules/matmul.js';
import { normalizationRules } from './rules/normalization.js';
import { shapeRules } from './rules/shape.js';
import { softmaxRules } from './rules/softmax.js';

/** Every gradient rule, registered in one place. */
export function createDefaultRegistry(): GradientRegistry {
  const registry = new GradientRegistry();
  for (const rule of [...arithmeticRules, ...reduceRules, castRule, ...convRules, ...poolRules, ...resizeRules, ...activationRules, ...softmaxRules, ...matmulRules, ...normalizationRules, ...shapeRules, ...gatherRules]) registry.register(rule);
  return registry;
}
