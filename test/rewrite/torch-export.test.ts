import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/load.js';
import { computeReachability } from '../../src/analysis/reach.js';
import { findLayers } from '../../src/analysis/layers.js';
import { countParameters } from '../../src/rewrite/cost.js';
import { rewrite } from '../../src/rewrite/rewrite.js';
import { verify } from '../../src/rewrite/verify.js';
import type { LayerRef } from '../../src/rewrite/types.js';
import { structuralProblems } from './helpers/structure.js';

/** PyTorch exports of a small two-task ResNet, with layers found by the analysis module. */
describe('rewrite of PyTorch exports', () => {
  for (const file of ['multitask_eval_op13', 'multitask_train_op13', 'multitask_train_op15']) {
    it(`${file}: every shared layer branched, outputs unchanged`, async () => {
      const model = loadModel(`test/fixtures/torch/${file}.onnx`);
      const outputs = model.graph.outputNames;
      const tasks = outputs.map((o) => ({ name: o, output: o }));
      const shared = findLayers(model.graph, computeReachability(model.graph, outputs), outputs).layers.filter((l) => l.shared);
      const layers: LayerRef[] = shared.map((l) => ({ name: l.name, nodes: l.nodes.map((n) => n.name), params: l.params }));
      const { model: out, summary } = rewrite(model, { layers, tasks });
      expect(summary.branched).toHaveLength(layers.length);
      expect(structuralProblems(out, model)).toEqual([]);
      const result = await verify(model, out);
      expect(result.ok, JSON.stringify(result.worst)).toBe(true);
      let expected = countParameters(model.graph) + shared.reduce((n, l) => n + (l.tasks.length - 1) * l.numel, 0);
      // An initializer the exporter merged for k layers is counted once before, but each branched
      // layer owns its copies after.
      const owners = new Map<string, number>();
      for (const l of shared) for (const p of l.params) owners.set(p, (owners.get(p) ?? 0) + 1);
      for (const [p, k] of owners) expected += (k - 1) * model.graph.initializers.get(p)!.numel;
      expect(countParameters(out.graph)).toBe(expected);
    });
  }
});
