import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/load.js';
import { serializeModel } from '../../src/onnx/save.js';
import { countParameters } from '../../src/rewrite/cost.js';
import { PROVENANCE_KEY, readProvenance } from '../../src/rewrite/provenance.js';
import { rewrite } from '../../src/rewrite/rewrite.js';
import { verify } from '../../src/rewrite/verify.js';
import { allCases, mlpCase } from './helpers/graphs.js';
import { parameterOwners, sharedLayers } from './helpers/layers.js';
import { structuralProblems } from './helpers/structure.js';

describe('rewrite rounds, provenance and determinism', () => {
  it('a second round skips layers that are already task-specific and branches the rest', async () => {
    const c = mlpCase(3);
    const fc1 = parameterOwners(c.model.graph).find((l) => l.name === 'fc1')!;
    const first = rewrite(c.model, { layers: [fc1], tasks: c.tasks }, { provenance: { S: -0.1, rule: { topK: 1 } } }).model;

    const copies = parameterOwners(first.graph).filter((l) => l.name.startsWith('fc1__'));
    expect(copies.map((l) => l.name)).toEqual(['fc1__t0', 'fc1__t1', 'fc1__t2']);
    // The analysis groups the clones of fc2 (they share fc2.weight) into one layer, still shared.
    const fc2 = { name: 'fc2', nodes: ['fc2__t0', 'fc2__t1', 'fc2__t2'], params: ['fc2.weight'] };
    const { model: second, summary } = rewrite(first, { layers: [...copies, fc2], tasks: c.tasks }, { toolVersion: '0.1.0' });

    expect(summary.skipped).toEqual(copies.map((l, i) => ({ name: l.name, tasks: [`t${i}`], reason: 'task-specific' })));
    expect(summary.branched.map((b) => b.name)).toEqual(['fc2']);
    expect(second.graph.nodes.find((n) => n.name === 'fc2__t2')!.inputs).toEqual(['relu1_out__t2', 'fc2.weight__t2']);
    expect(structuralProblems(second, c.model)).toEqual([]);
    const fc2Numel = c.model.graph.initializers.get('fc2.weight')!.numel;
    expect(countParameters(second.graph)).toBe(countParameters(first.graph) + 2 * fc2Numel);
    expect((await verify(c.model, second)).ok).toBe(true);

    const history = readProvenance(second);
    expect(history).toHaveLength(2);
    expect(history[0]).toMatchObject({ S: -0.1, rule: { topK: 1 }, tool: 'recon-onnx', branched: [{ name: 'fc1', tasks: ['t0', 't1', 't2'] }] });
    expect(history[1]).toMatchObject({ toolVersion: '0.1.0', branched: [{ name: 'fc2' }], skipped: [{ name: 'fc1__t0', reason: 'task-specific' }, {}, {}] });
    expect(second.metadataProps.map((e) => e.key)).toEqual([`${PROVENANCE_KEY}.1`, PROVENANCE_KEY]);
    // The first model keeps its single record.
    expect(first.metadataProps.map((e) => e.key)).toEqual([PROVENANCE_KEY]);

    const bias = { name: 'fc2_bias', nodes: ['fc2_bias__t0', 'fc2_bias__t1', 'fc2_bias__t2'], params: ['fc2.bias'] };
    const third = rewrite(second, { layers: [bias], tasks: c.tasks });
    expect(third.model.metadataProps.map((e) => e.key)).toEqual([`${PROVENANCE_KEY}.1`, `${PROVENANCE_KEY}.2`, PROVENANCE_KEY]);
  });

  it('refuses a round in which every selected layer is already task-specific', () => {
    const c = mlpCase(2);
    const first = rewrite(c.model, { layers: parameterOwners(c.model.graph).filter((l) => l.name === 'fc1'), tasks: c.tasks }).model;
    const copies = parameterOwners(first.graph).filter((l) => l.name.startsWith('fc1__'));
    expect(() => rewrite(first, { layers: copies, tasks: c.tasks })).toThrow(/nothing to do.*fc1__t0, fc1__t1/);
  });

  it('the same input gives byte-identical output, which loads back unchanged', () => {
    for (const c of allCases()) {
      const layers = sharedLayers(c.model.graph, c.tasks).map((s) => s.layer);
      const a = serializeModel(rewrite(c.model, { layers, tasks: c.tasks }, { provenance: { S: 0 } }).model);
      const b = serializeModel(rewrite(c.model, { layers, tasks: c.tasks }, { provenance: { S: 0 } }).model);
      expect(Buffer.from(a).equals(Buffer.from(b)), c.name).toBe(true);
      expect(Buffer.from(serializeModel(loadModel(a))).equals(Buffer.from(a)), c.name).toBe(true);
    }
  });
});
