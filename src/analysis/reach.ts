import type { Graph } from '../onnx/graph.js';
import { subgraphOuterReads, topologicalOrder } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';

/** Every value a node reads: its inputs plus what its subgraphs read from the enclosing scope. */
export function valuesRead(node: Node): string[] {
  return [...node.presentInputs, ...subgraphOuterReads(node)];
}

/** For every node (an empty set when it reaches no sink) and every value that reaches one: the labels of the sinks it flows into. */
export interface SinkReach<L> {
  nodes: Map<Node, Set<L>>;
  values: Map<string, Set<L>>;
}

/**
 * The one reachability engine: which sinks (value → label; a value may carry several labels)
 * each node and value flows into, in one pass over the graph in reverse topological order, so
 * every reader of a value is settled before its producer.
 */
export function sinkReach<L>(graph: Graph, sinks: Iterable<readonly [string, L]>): SinkReach<L> {
  const labelsOf = new Map<string, L[]>();
  for (const [value, label] of sinks) (labelsOf.get(value) ?? labelsOf.set(value, []).get(value)!).push(label);
  const order = topologicalOrder(graph.nodes, graph.externallyDefined());
  const readers = new Map<string, Node[]>();
  for (const n of order) for (const v of new Set(valuesRead(n))) (readers.get(v) ?? readers.set(v, []).get(v)!).push(n);
  const nodes = new Map<Node, Set<L>>();
  const values = new Map<string, Set<L>>();
  const valueReach = (v: string): Set<L> => {
    let r = values.get(v);
    if (r) return r;
    r = new Set(labelsOf.get(v) ?? []);
    for (const reader of readers.get(v) ?? []) for (const l of nodes.get(reader) ?? []) r.add(l);
    values.set(v, r);
    return r;
  };
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!;
    const r = new Set<L>();
    for (const o of node.outputs) if (o) for (const l of valueReach(o)) r.add(l);
    nodes.set(node, r);
  }
  // Graph inputs and initializers: values no node produces.
  for (const v of readers.keys()) valueReach(v);
  for (const v of labelsOf.keys()) valueReach(v);
  for (const [v, r] of values) if (r.size === 0) values.delete(v);
  return { nodes, values };
}

/** For every node and every value: the tasks (by index) whose outputs it reaches. */
export interface Reachability {
  nodeTasks: Map<Node, Set<number>>;
  valueTasks: Map<string, Set<number>>;
}

/** Task reachability by task index: a node reaches a task when any of its outputs flows into the task's output. */
export function computeReachability(graph: Graph, taskOutputs: readonly string[]): Reachability {
  const { nodes, values } = sinkReach(
    graph,
    taskOutputs.map((o, i) => [o, i] as const),
  );
  for (const [n, r] of nodes) if (r.size === 0) nodes.delete(n);
  return { nodeTasks: nodes, valueTasks: values };
}

/** Task reachability by task name (what the rewrite branches by). */
export function computeTaskReach(graph: Graph, tasks: readonly { name: string; output: string }[]): Map<Node, Set<string>> {
  return sinkReach(
    graph,
    tasks.map((t) => [t.output, t.name] as const),
  ).nodes;
}
