import type { onnx } from 'onnx-proto';
import type { Graph } from '../onnx/graph.js';

/**
 * A name generator that avoids every name of the graph, including those defined inside
 * subgraphs: a new outer value named like a subgraph-local one would be shadowed there.
 * Suffixes `_1`, `_2`, ... are appended to a taken base.
 */
export function collisionFreeNamer(graph: Graph): (base: string) => string {
  const fresh = graph.namer();
  const nested = new Set<string>();
  const visit = (g: onnx.IGraphProto): void => {
    for (const vi of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) if (vi.name) nested.add(vi.name);
    for (const t of g.initializer ?? []) if (t.name) nested.add(t.name);
    for (const n of g.node ?? []) {
      if (n.name) nested.add(n.name);
      for (const o of n.output ?? []) nested.add(o);
      for (const a of n.attribute ?? []) for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) visit(sg);
    }
  };
  for (const n of graph.nodes) for (const a of n.attributeProtos) for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) visit(sg);
  return (base) => {
    let name = fresh(base);
    while (nested.has(name)) name = fresh(base);
    return name;
  };
}
