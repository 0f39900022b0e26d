import type { onnx } from 'onnx-proto';
import type { Graph } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';
import { ReconError } from '../util/errors.js';
import type { LayerRef, RewriteSelection, SkippedLayer, TaskReach, TaskRef } from './types.js';

/** A selected layer that will get one copy per task it reaches. */
export interface LayerPlan {
  layer: LayerRef;
  nodes: Node[];
  /** Tasks it reaches, in task order (at least two). */
  tasks: string[];
  /** Initializers that get per-task copies: its parameters plus BN running statistics. */
  clonedParams: string[];
}

export interface BranchPlan {
  branched: LayerPlan[];
  skipped: SkippedLayer[];
  layerOfNode: Map<Node, LayerPlan>;
}

/** Checks the tasks against the graph: unique names and outputs, each one a graph output. */
export function validateTasks(graph: Graph, tasks: readonly TaskRef[]): void {
  if (tasks.length === 0) throw new ReconError('no tasks given');
  const outputs = new Set(graph.outputNames);
  const names = new Set<string>();
  const taskOfOutput = new Map<string, string>();
  for (const t of tasks) {
    if (names.has(t.name)) throw new ReconError(`task "${t.name}" is listed twice`);
    names.add(t.name);
    if (!outputs.has(t.output)) {
      throw new ReconError(`task "${t.name}": "${t.output}" is not a graph output (outputs: ${[...outputs].join(', ')})`);
    }
    const other = taskOfOutput.get(t.output);
    if (other !== undefined) throw new ReconError(`tasks "${other}" and "${t.name}" both read graph output "${t.output}"`);
    taskOfOutput.set(t.output, t.name);
  }
}

/**
 * Resolves each selected layer to graph nodes, decides whether it is still shared (reaches two
 * or more tasks) and which initializers it copies. Refuses layers the rewrite cannot express.
 */
export function planBranches(graph: Graph, selection: RewriteSelection, reach: TaskReach): BranchPlan {
  if (selection.layers.length === 0) throw new ReconError('no layers selected');
  const nodesByName = topLevelNodesByName(graph);
  const nested = subgraphNodeOwners(graph);
  const taskOrder = selection.tasks.map((t) => t.name);
  const layerOfNode = new Map<Node, LayerPlan>();
  const seenLayers = new Set<string>();
  const branched: LayerPlan[] = [];
  const skipped: SkippedLayer[] = [];

  for (const layer of selection.layers) {
    if (seenLayers.has(layer.name)) throw new ReconError(`layer "${layer.name}" is selected twice`);
    seenLayers.add(layer.name);
    const nodes = layer.nodes.map((n) => resolveNode(layer.name, n, nodesByName, nested));
    if (nodes.length === 0) throw new ReconError(`layer "${layer.name}" has no nodes`);
    const reached = new Set<string>();
    for (const n of nodes) for (const t of reach.get(n) ?? []) reached.add(t);
    const tasks = taskOrder.filter((t) => reached.has(t));
    if (tasks.length < 2) {
      skipped.push({ name: layer.name, tasks, reason: tasks.length === 0 ? 'unreachable' : 'task-specific' });
      continue;
    }
    const clonedParams = paramsToCopy(graph, layer, nodes, nested);
    const plan: LayerPlan = { layer, nodes, tasks, clonedParams };
    for (const n of nodes) {
      const other = layerOfNode.get(n);
      if (other) throw new ReconError(`node "${n.label}" belongs to layers "${other.layer.name}" and "${layer.name}"`);
      layerOfNode.set(n, plan);
    }
    branched.push(plan);
  }
  return { branched, skipped, layerOfNode };
}

function resolveNode(layer: string, name: string, byName: Map<string, Node[]>, nested: Map<string, string>): Node {
  const found = byName.get(name) ?? [];
  if (found.length === 1) return found[0]!;
  if (found.length > 1) throw new ReconError(`layer "${layer}": node name "${name}" is not unique in the graph`);
  const owner = nested.get(name);
  if (owner !== undefined) {
    throw new ReconError(`layer "${layer}": node "${name}" is inside the subgraph of node "${owner}"; branching into subgraphs is not supported`);
  }
  throw new ReconError(`layer "${layer}": no node named "${name}" in the graph`);
}

/**
 * The layer's parameters plus the running statistics of its BatchNormalization nodes: a
 * task-specific BN keeps its own statistics, as a deep-copied PyTorch module does.
 */
function paramsToCopy(graph: Graph, layer: LayerRef, nodes: readonly Node[], nested: Map<string, string>): string[] {
  const read = new Set<string>();
  for (const n of nodes) for (const i of n.presentInputs) read.add(i);
  const out: string[] = [];
  const add = (p: string): void => {
    if (!out.includes(p)) out.push(p);
  };
  for (const p of layer.params) {
    if (!graph.initializers.has(p)) {
      const where = nested.has(p) ? ` (it is inside the subgraph of node "${nested.get(p)}")` : '';
      throw new ReconError(`layer "${layer.name}": parameter "${p}" is not an initializer of the main graph${where}`);
    }
    if (!read.has(p)) throw new ReconError(`layer "${layer.name}": parameter "${p}" is not read by any of the layer's nodes`);
    add(p);
  }
  for (const n of nodes) {
    if (n.opType !== 'BatchNormalization' || n.domain !== '') continue;
    for (const i of n.inputs.slice(3, 5)) if (i && graph.initializers.has(i)) add(i);
  }
  return out;
}

function topLevelNodesByName(graph: Graph): Map<string, Node[]> {
  const m = new Map<string, Node[]>();
  for (const n of graph.nodes) {
    if (!n.name) continue;
    let list = m.get(n.name);
    if (!list) m.set(n.name, (list = []));
    list.push(n);
  }
  return m;
}

/** Names of nodes and initializers inside subgraphs → label of the top-level node holding them. */
function subgraphNodeOwners(graph: Graph): Map<string, string> {
  const m = new Map<string, string>();
  const visit = (g: onnx.IGraphProto, owner: string): void => {
    for (const t of g.initializer ?? []) if (t.name) m.set(t.name, owner);
    for (const n of g.node ?? []) {
      if (n.name) m.set(n.name, owner);
      for (const a of n.attribute ?? []) for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) visit(sg, owner);
    }
  };
  for (const n of graph.nodes) {
    for (const a of n.attributeProtos) for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) visit(sg, n.label);
  }
  return m;
}
