import { Graph } from '../../../src/onnx/graph.js';
import { Model } from '../../../src/onnx/model.js';
import { serializeModel } from '../../../src/onnx/save.js';
import { RuntimeSession } from '../../../src/runtime/session.js';
import type { HostTensor } from '../../../src/runtime/ort-tensor.js';

/** Runs `model` once with every node output exposed as a graph output. */
export async function runAllValues(model: Model, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const g = model.graph;
  const probe = new Graph({ name: g.name, nodes: g.nodes, inputs: g.inputs, initializers: g.initializers, outputs: [] });
  const seen = new Set<string>();
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (!o || seen.has(o)) continue;
      seen.add(o);
      probe.outputs.push({ name: o });
    }
  }
  const m = new Model(probe, { irVersion: model.irVersion, opsetImports: model.opsetImports });
  const session = await RuntimeSession.create(serializeModel(m), { intraOpThreads: 1, graphOptimizationLevel: 'disabled' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** Static shapes of every node output for the given inputs (batch 1 for per-sample MACs). */
export async function shapesOf(model: Model, feeds: Record<string, HostTensor>): Promise<Map<string, number[]>> {
  const values = await runAllValues(model, feeds);
  const shapes = new Map<string, number[]>();
  for (const [name, t] of Object.entries(values)) shapes.set(name, t.dims.slice());
  for (const [name, t] of Object.entries(feeds)) shapes.set(name, t.dims.slice());
  return shapes;
}
