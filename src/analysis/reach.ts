import type { Graph } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';
import { subgraphOuterReads } from '../onnx/graph.js';

/** For every node and every value: the tasks (by index) whose outputs it reaches. */
export interface Reachability {
  nodeTasks: Map<Node, Set<number>>;
  valueTasks: Map<string, Set<number>>;
}

/** Walks back from each task output; a node reaches a task when any of its outputs flows into it. */
export function computeReachability(graph: Graph, taskOutputs: readonly string[]): Reachability {
  const producers = graph.producers();
  const nodeTasks = new Map<Node, Set<number>>();
  const valueTasks = new Map<string, Set<number>>();
  taskOutputs.forEach((output, task) => {
    const stack = [output];
    const seen = new Set<string>();
    while (stack.length > 0) {
      const v = stack.pop()!;
      if (!v || seen.has(v)) continue;
      seen.add(v);
      addTo(valueTasks, v, task);
      const p = producers.get(v);
      if (!p) continue;
      addTo(nodeTasks, p, task);
      for (const i of p.inputs) stack.push(i);
      for (const i of subgraphOuterReads(p)) stack.push(i);
    }
  });
  return { nodeTasks, valueTasks };
}

function addTo<K>(m: Map<K, Set<number>>, key: K, task: number): void {
  let s = m.get(key);
  if (!s) m.set(key, (s = new Set()));
  s.add(task);
}
