import { GradientRegistry } from './registry.js';
import { arithmeticRules } from './rules/arithmetic.js';
import { castRule } from './rules/cast.js';
import { reduceRules } from './rules/reduce.js';

/** Every gradient rule, registered in one place. */
export function createDefaultRegistry(): GradientRegistry {
  const registry = new GradientRegistry();
  for (const rule of [...arithmeticRules, ...reduceRules, castRule]) registry.register(rule);
  return registry;
}
