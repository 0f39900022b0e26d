import { subgraphOuterReads, topologicalOrder, type Graph } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';
import type { TaskReach, TaskRef } from './types.js';

/** Every value a node reads: its inputs plus what its subgraphs read from the enclosing scope. */
export function valuesRead(node: Node): string[] {
  return [...node.presentInputs, ...subgraphOuterReads(node)];
}

/**
 * For every node, the labels of the sinks its outputs flow into. `sinks` maps a value name to
 * the label of the sink it is (e.g. a task's output value to the task name).
 */
export function sinkReach(graph: Graph, sinks: ReadonlyMap<string, string>): Map<Node, Set<string>> {
  const order = topologicalOrder(graph.nodes, graph.externallyDefined());
  const readers = new Map<string, Node[]>();
  for (const n of order) {
    for (const v of new Set(valuesRead(n))) {
      let list = readers.get(v);
      if (!list) readers.set(v, (list = []));
      list.push(n);
    }
  }
  const reach = new Map<Node, Set<string>>();
  // Reverse topological order: every reader of a value is settled before its producer.
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!;
    const r = new Set<string>();
    for (const o of node.outputs) {
      if (!o) continue;
      const sink = sinks.get(o);
      if (sink !== undefined) r.add(sink);
      for (const reader of readers.get(o) ?? []) for (const s of reach.get(reader) ?? []) r.add(s);
    }
    reach.set(node, r);
  }
  return reach;
}

/** The default task reachability: a node reaches a task when the task's output depends on it. */
export function computeTaskReach(graph: Graph, tasks: readonly TaskRef[]): TaskReach {
  return sinkReach(graph, new Map(tasks.map((t) => [t.output, t.name])));
}
