import { describe, expect, it } from 'vitest';
import { resolveTasks } from '../../src/analysis/task-spec.js';
import { loweringFor, type LoweringOverrides } from '../../src/autodiff/lowering.js';
import { createGradientSession } from '../../src/conflict/gradient-session.js';
import { randomFeeds } from '../../src/rewrite/verify.js';
import { referenceModel } from '../../models/reference-models.js';

describe('GradientSessionOptions.lowering', () => {
  it("merges overrides into the device's defaults field by field", () => {
    const cpu = loweringFor('cpu');
    expect(cpu.conv).toEqual({ weightGradient: 'im2col-gemm', inputGradient: 'im2col-gemm', split: 'auto' });
    expect(loweringFor('cpu', { conv: { inputGradient: 'conv-transpose' } }).conv).toEqual({ ...cpu.conv, inputGradient: 'conv-transpose' });
    // The defaults are not shared objects a caller could mutate for everyone.
    loweringFor('cpu').conv.split = 'never';
    expect(loweringFor('cpu').conv.split).toBe('auto');
  });

  it('the session emits the formulation it is given, and every formulation gives the same Grams', async () => {
    const model = referenceModel('cnn').build({ opset: 17 });
    const tasks = resolveTasks(model);
    const batch = {
      ...randomFeeds(model, 3),
      ...Object.fromEntries(tasks.map((t) => [t.target, { dtype: 'int64' as const, dims: [2], data: new BigInt64Array([1n, 0n]) }])),
    };
    const run = async (lowering: LoweringOverrides | undefined) => {
      const session = createGradientSession(model, tasks, { batchNorm: 'train', ...(lowering ? { lowering } : {}) });
      const ops = new Set((await session.graphFor(batch)).model.graph.nodes.map((n) => n.opType));
      const step = await session.run(batch);
      await session.release();
      return { ops, grams: step.layerGrams };
    };
    const byDefault = await run(undefined);
    const cudnnForms = await run({ conv: { weightGradient: 'swapped-conv', inputGradient: 'conv-transpose' } });
    expect(byDefault.ops.has('ConvTranspose')).toBe(false);
    expect(cudnnForms.ops.has('ConvTranspose')).toBe(true);
    expect([...cudnnForms.grams.keys()]).toEqual([...byDefault.grams.keys()]);
    for (const [layer, gram] of byDefault.grams) {
      const other = cudnnForms.grams.get(layer)!;
      const scale = Math.max(...gram.map(Math.abs), 1e-12);
      for (let i = 0; i < gram.length; i++) expect(Math.abs(other[i]! - gram[i]!) / scale, `${layer}[${i}]`).toBeLessThan(1e-4);
    }
  });
});
