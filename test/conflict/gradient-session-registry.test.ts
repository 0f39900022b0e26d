import { describe, expect, it } from 'vitest';
import { GradientRegistry } from '../../src/autodiff/registry.js';
import { createDefaultRegistry } from '../../src/autodiff/register-all.js';
import { resolveTasks } from '../../src/analysis/task-spec.js';
import { createGradientSession } from '../../src/conflict/gradient-session.js';
import { randomFeeds } from '../../src/rewrite/verify.js';
import { referenceModel } from '../../models/reference-models.js';

describe('GradientSessionOptions.registry', () => {
  it('the session differentiates with the rules it is given', async () => {
    const model = referenceModel('mlp').build({ opset: 17 });
    const tasks = resolveTasks(model);
    const batch = {
      ...randomFeeds(model, 0),
      ...Object.fromEntries(tasks.map((t) => [t.target, { dtype: 'int64' as const, dims: [2], data: new BigInt64Array(2) }])),
    };
    // Every default rule but Relu's: the graph cannot be differentiated, and the error says why.
    const defaults = createDefaultRegistry();
    const withoutRelu = new GradientRegistry();
    const seen = new Set<unknown>();
    for (const op of defaults.opTypes()) {
      const rule = defaults.get(op)!;
      if (op === 'Relu' || seen.has(rule)) continue;
      seen.add(rule);
      withoutRelu.register({
        ...rule,
        opTypes: rule.opTypes.filter((o) => o !== 'Relu'),
        backward: rule.backward.bind(rule),
        differentiableInputs: rule.differentiableInputs.bind(rule),
      });
    }
    const session = createGradientSession(model, tasks, { registry: withoutRelu });
    await expect(session.run(batch)).rejects.toThrow(/Relu/);
    await session.release();
    const full = createGradientSession(model, tasks, { registry: defaults });
    expect(Object.keys((await full.run(batch)).losses)).toEqual(tasks.map((t) => t.name));
    await full.release();
  });
});
