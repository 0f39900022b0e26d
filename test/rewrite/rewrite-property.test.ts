import { describe, expect, it } from 'vitest';
import { serializeModel } from '../../src/onnx/save.js';
import { Random } from '../../src/util/random.js';
import { countParameters } from '../../src/rewrite/cost.js';
import { rewrite } from '../../src/rewrite/rewrite.js';
import { verify } from '../../src/rewrite/verify.js';
import type { LayerRef } from '../../src/rewrite/types.js';
import { allCases } from './helpers/graphs.js';
import { sharedLayers } from './helpers/layers.js';
import { structuralProblems } from './helpers/structure.js';

const SUBSETS_PER_CASE = 16;

function randomSubset(rng: Random, layers: readonly LayerRef[]): LayerRef[] {
  for (;;) {
    const picked = layers.filter(() => rng.uniform() < 0.5);
    if (picked.length > 0) return picked;
  }
}

describe('rewrite over random layer subsets', () => {
  for (const c of allCases()) {
    it(`${c.name}: outputs, parameter count and structure hold`, async () => {
      const shared = sharedLayers(c.model.graph, c.tasks);
      expect(shared.length).toBeGreaterThan(0);
      const before = serializeModel(c.model);
      const baseParams = countParameters(c.model.graph);
      const rng = new Random(2024);
      const subsets = [shared.map((s) => s.layer)];
      for (let i = 0; i < SUBSETS_PER_CASE; i++)
        subsets.push(
          randomSubset(
            rng,
            shared.map((s) => s.layer),
          ),
        );

      for (const layers of subsets) {
        const label = layers.map((l) => l.name).join(',');
        const { model, summary } = rewrite(c.model, { layers, tasks: c.tasks });

        expect(structuralProblems(model, c.model), label).toEqual([]);
        expect(summary.skipped, label).toEqual([]);
        expect(summary.nodesAfter, label).toBeGreaterThan(summary.nodesBefore);

        const result = await verify(c.model, model, { seed: layers.length });
        expect(result.ok, `${label}: ${JSON.stringify(result.worst)}`).toBe(true);

        const tasksOf = new Map(shared.map((s) => [s.layer.name, s.tasks]));
        let expected = baseParams;
        for (const l of layers) {
          const numel = l.params.reduce((n, p) => n + c.model.graph.initializers.get(p)!.numel, 0);
          expected += (tasksOf.get(l.name)! - 1) * numel;
        }
        expect(countParameters(model.graph), label).toBe(expected);
        for (const b of summary.branched) expect(b.tasks.length, label).toBe(tasksOf.get(b.name));
      }
      // The input model is never modified.
      expect(Buffer.from(serializeModel(c.model)).equals(Buffer.from(before))).toBe(true);
    });
  }
});
