import { subgraphOuterReads, topologicalOrder, type Graph } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';
import { ReconError, InternalError } from '../util/errors.js';
import type { BranchPlan, LayerPlan } from './plan.js';
import { valuesRead } from '../analysis/reach.js';
import type { TaskReach, TaskRef } from './types.js';

/** What branching produced, before initializers and value_info are settled. */
export interface BranchedNodes {
  nodes: Node[];
  /**
   * Per branched layer: original initializer → task → name of that task's copy. An initializer
   * shared by two selected layers (an exporter merging equal tensors) gets copies for each.
   */
  paramCopies: Map<LayerPlan, Map<string, Map<string, string>>>;
  /** New value name → the value it is a per-task version of. */
  valueOrigins: Map<string, string>;
  droppedNodes: string[];
}

export interface BranchContext {
  graph: Graph;
  tasks: readonly TaskRef[];
  plan: BranchPlan;
  reach: TaskReach;
  /** Nodes whose outputs reach a graph output that is not a task (these must stay shared). */
  feedsOtherOutput: ReadonlySet<Node>;
  /** Allocates names that collide with nothing in the graph. */
  fresh: (base: string) => string;
}

const NO_TASKS: ReadonlySet<string> = new Set();

/**
 * Recon's branched forward as a graph edit. Walks the nodes in topological order, tracking for
 * every value that has become task-specific its per-task versions:
 * - a node of a branched layer, or a node reaching several tasks that reads a per-task value, is
 *   cloned once per task it reaches; clone t reads the t-version of each input where one exists
 *   (else the shared value) and, for branched layers, task t's parameter copies;
 * - a node reaching one task only is kept and rewired to that task's versions;
 * - everything else is untouched, so weights of unselected layers stay shared.
 * Clones are appended in task order right where the original stood, which keeps the order
 * topological.
 */
export function branchNodes(ctx: BranchContext): BranchedNodes {
  const { graph, tasks, plan, reach, fresh } = ctx;
  const taskOrder = tasks.map((t) => t.name);
  const outputOfTask = new Map(tasks.map((t) => [t.name, t.output]));

  const paramCopies = new Map<LayerPlan, Map<string, Map<string, string>>>();
  for (const layer of plan.branched) {
    paramCopies.set(layer, new Map(layer.clonedParams.map((p) => [p, new Map(layer.tasks.map((t) => [t, fresh(`${p}__${t}`)]))])));
  }

  const versions = new Map<string, Map<string, string>>();
  const valueOrigins = new Map<string, string>();
  const dropped = new Set<string>();
  const droppedNodes: string[] = [];
  const out: Node[] = [];

  const resolve = (value: string, task: string, layer: LayerPlan | undefined): string => {
    if (!value) return value;
    const perTask = versions.get(value);
    if (perTask) {
      const v = perTask.get(task);
      if (v === undefined) throw new InternalError(`no version of "${value}" for task "${task}" (inconsistent task reach)`);
      return v;
    }
    const copy = layer ? paramCopies.get(layer)!.get(value)?.get(task) : undefined;
    if (copy !== undefined) return copy;
    return value;
  };

  for (const node of topologicalOrder(graph.nodes, graph.externallyDefined())) {
    const layer = plan.layerOfNode.get(node);
    const reads = valuesRead(node);
    if (!layer && !reads.some((v) => versions.has(v))) {
      if (reads.some((v) => dropped.has(v))) drop(node);
      else out.push(node.clone());
      continue;
    }
    const outer = subgraphOuterReads(node).find((v) => versions.has(v));
    if (outer !== undefined) {
      throw new ReconError(
        `node "${node.label}" reads task-specific value "${outer}" inside its subgraph; branching into subgraphs (If/Loop/Scan) is not supported`,
      );
    }
    const reached = reach.get(node) ?? NO_TASKS;
    const here = taskOrder.filter((t) => reached.has(t));
    if (ctx.feedsOtherOutput.has(node)) {
      throw new ReconError(`node "${node.label}" becomes task-specific but feeds a graph output that is no task; list that output as a task`);
    }
    if (here.length === 0) {
      drop(node);
      continue;
    }
    if (here.length === 1) {
      const kept = node.clone();
      kept.inputs = node.inputs.map((i) => resolve(i, here[0]!, layer));
      out.push(kept);
      continue;
    }
    if (node.attrs.hasSubgraphs()) {
      throw new ReconError(
        `node "${node.label}" holds a subgraph and would have to be copied per task; branching into subgraphs (If/Loop/Scan) is not supported`,
      );
    }
    for (const task of here) {
      const clone = node.clone();
      clone.name = node.name ? fresh(`${node.name}__${task}`) : '';
      clone.inputs = node.inputs.map((i) => resolve(i, task, layer));
      clone.outputs = node.outputs.map((o) => {
        if (!o) return o;
        // The task's own branch keeps the graph output's name, so the interface is unchanged.
        const name = o === outputOfTask.get(task) ? o : fresh(`${o}__${task}`);
        let perTask = versions.get(o);
        if (!perTask) versions.set(o, (perTask = new Map()));
        perTask.set(task, name);
        if (name !== o) valueOrigins.set(name, o);
        return name;
      });
      out.push(clone);
    }
  }
  return { nodes: topologicalOrder(out, graph.externallyDefined()), paramCopies, valueOrigins, droppedNodes };

  // Dead code behind a branch (it reaches no graph output): nothing observes it, so it goes.
  function drop(node: Node): void {
    droppedNodes.push(node.label);
    for (const o of node.outputs) if (o) dropped.add(o);
  }
}
