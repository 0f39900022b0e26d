import type { Graph } from '../../../src/onnx/graph.js';
import { parameterInitializers } from '../../../src/rewrite/cost.js';
import type { LayerRef } from '../../../src/rewrite/types.js';

/**
 * PyTorch-style layers of a reference model: parameters grouped by module path (the name
 * without `.weight`/`.bias`), with the nodes that read them.
 */
export function moduleLayers(graph: Graph): LayerRef[] {
  const params = parameterInitializers(graph);
  const layers = new Map<string, LayerRef>();
  for (const n of graph.nodes) {
    for (const p of n.inputs) {
      if (!params.has(p)) continue;
      const module = p.replace(/\.(weight|bias)$/, '');
      let layer = layers.get(module);
      if (!layer) layers.set(module, (layer = { name: module, nodes: [], params: [] }));
      if (!layer.nodes.includes(n.name)) layer.nodes.push(n.name);
      if (!layer.params.includes(p)) layer.params.push(p);
    }
  }
  return [...layers.values()];
}
