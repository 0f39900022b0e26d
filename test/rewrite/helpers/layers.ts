import type { Graph } from '../../../src/onnx/graph.js';
import { defaultParameterRule } from '../../../src/rewrite/cost.js';
import { computeTaskReach } from '../../../src/analysis/reach.js';
import type { LayerRef, TaskRef } from '../../../src/rewrite/types.js';

/**
 * A stand-in for the analysis module's grouping: every named node that reads parameters is a
 * layer named after the node, owning those parameters.
 */
export function parameterOwners(graph: Graph): LayerRef[] {
  const layers: LayerRef[] = [];
  for (const n of graph.nodes) {
    const params = n.inputs.filter((name, i) => {
      const t = name ? graph.initializers.get(name) : undefined;
      return t !== undefined && defaultParameterRule(n, i, t);
    });
    if (params.length > 0 && n.name) layers.push({ name: n.name, nodes: [n.name], params: [...new Set(params)] });
  }
  return layers;
}

/** The layers reaching at least two tasks, each with the number of tasks it reaches. */
export function sharedLayers(graph: Graph, tasks: readonly TaskRef[]): { layer: LayerRef; tasks: number }[] {
  const reach = computeTaskReach(graph, tasks);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  return parameterOwners(graph)
    .map((layer) => {
      const reached = new Set<string>();
      for (const name of layer.nodes) for (const t of reach.get(byName.get(name)!) ?? []) reached.add(t);
      return { layer, tasks: reached.size };
    })
    .filter((l) => l.tasks >= 2);
}
