import type { GradientRule } from './types.js';
import { ReconError } from '../util/errors.js';

/** Op type → rule. Filled by `register-all.ts` (and by users on their copy); a second rule for one op type is refused. */
export class GradientRegistry {
  private readonly rules = new Map<string, GradientRule>();

  register(rule: GradientRule): void {
    for (const op of rule.opTypes) {
      if (this.rules.has(op)) throw new ReconError(`gradient rule for ${op} registered twice`);
      this.rules.set(op, rule);
    }
  }

  get(opType: string, domain = ''): GradientRule | undefined {
    if (domain !== '' && domain !== 'ai.onnx') return undefined;
    return this.rules.get(opType);
  }

  opTypes(): string[] {
    return [...this.rules.keys()].sort();
  }
}
