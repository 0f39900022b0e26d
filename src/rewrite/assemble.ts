import type { onnx } from 'onnx-proto';
import { Graph } from '../onnx/graph.js';
import type { Tensor } from '../onnx/tensor.js';
import type { BranchedNodes } from './branch.js';
import { valuesRead } from '../analysis/reach.js';

/**
 * A new graph around the branched nodes: initializers with the per-task copies placed right
 * after (or instead of) their original, value_info carried over to per-task values, and
 * entries for values that no longer exist removed. The original graph is not modified.
 */
export function assembleGraph(original: Graph, branched: BranchedNodes): Graph {
  const read = new Set<string>();
  for (const n of branched.nodes) for (const v of valuesRead(n)) read.add(v);
  for (const o of original.outputNames) read.add(o);

  const copiesOf = new Map<string, string[]>();
  for (const perLayer of branched.paramCopies.values()) {
    for (const [original, copies] of perLayer) copiesOf.set(original, [...(copiesOf.get(original) ?? []), ...copies.values()]);
  }
  const initializers = new Map<string, Tensor>();
  const removed = new Set<string>();
  for (const [name, tensor] of original.initializers) {
    const copies = copiesOf.get(name);
    if (!copies) {
      initializers.set(name, tensor);
      continue;
    }
    // Kept only while something outside the branched layers still reads it (a tied weight).
    if (read.has(name)) initializers.set(name, tensor);
    else removed.add(name);
    for (const copy of copies) initializers.set(copy, tensor.renamed(copy));
  }

  const graph = new Graph({
    name: original.name,
    nodes: branched.nodes,
    // An initializer listed as a graph input (IR < 4 style) leaves the interface with it.
    inputs: original.inputs.filter((i) => !removed.has(i.name ?? '')),
    outputs: original.outputs.slice(),
    initializers,
  });
  graph.docString = original.docString;
  graph.sparseInitializers = original.sparseInitializers.slice();
  graph.quantizationAnnotation = original.quantizationAnnotation.slice();
  graph.valueInfo = carryValueInfo(original, graph, branched.valueOrigins);
  return graph;
}

function carryValueInfo(original: Graph, graph: Graph, origins: ReadonlyMap<string, string>): onnx.IValueInfoProto[] {
  const defined = new Set<string>(graph.initializers.keys());
  for (const i of graph.inputs) if (i.name) defined.add(i.name);
  for (const n of graph.nodes) for (const o of n.outputs) if (o) defined.add(o);
  const known = new Map<string, onnx.IValueInfoProto>();
  for (const vi of [...original.inputs, ...original.outputs, ...original.valueInfo]) {
    if (vi.name && vi.type && !known.has(vi.name)) known.set(vi.name, vi);
  }
  const out = original.valueInfo.filter((vi) => defined.has(vi.name ?? ''));
  for (const [name, from] of origins) {
    const vi = known.get(from);
    if (vi && defined.has(name)) out.push({ ...vi, name });
  }
  return out;
}
