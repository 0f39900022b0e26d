/**
 * The model's graph as the report draws it: compacted so that a reader sees layers and the
 * structure between them, not every ONNX node.
 * - A layer (as `findLayers` defines it: the nodes applying one module's parameters, with the
 *   nodes preparing them) is one node, named like the report's layers.
 * - Light ops (activations, layout, elementwise arithmetic, reductions) fold into the node that
 *   produces all of their data inputs, so `Conv → Relu → Reshape` is one box.
 * - Shape arithmetic (Shape, Size, Constant and whatever computes only on them and on
 *   initializers) is hidden; so are the edges that carry shapes into a Reshape or Resize.
 * - Everything else (residual Adds, Concat, pooling, attention MatMuls, ...) stays a node, and
 *   graph inputs and outputs get their own nodes, outputs labelled with the task that reads them.
 */
import { findLayers, modulePathOf, type Layer } from '../../analysis/layers.js';
import { dataDependentValues } from '../../analysis/parameters.js';
import { computeReachability } from '../../analysis/reach.js';
import { subgraphOuterReads, topologicalOrder } from '../../onnx/graph.js';
import type { Model } from '../../onnx/model.js';
import type { Node } from '../../onnx/node.js';
import { readProvenance } from '../../rewrite/provenance.js';

export type GraphNodeKind = 'layer' | 'op' | 'input' | 'output';

export interface GraphViewNode {
  /** Stable id within the view ("n0", "n1", ... in topological order). */
  id: string;
  kind: GraphNodeKind;
  /** Layer name, module path of an op, or value name of an input or output. */
  label: string;
  /** The main op ("Conv", "Add"); for inputs and outputs "input" / "output". */
  op: string;
  /** Op types folded into this node, in graph order, without repeats (e.g. ["Relu"]). */
  folded: string[];
  /** Layer name (layers only): the name the conflict report uses. */
  layer?: string;
  /** Trainable parameters (layers only). */
  params: number;
  /** ONNX nodes drawn as this node, by label (name, or op(output) for unnamed ones). */
  members: string[];
  /** Names of the tasks whose outputs this node reaches, in task order. */
  tasks: string[];
  /** Set when a Recon rewrite made this node task t's own copy of a shared one. */
  copyFor?: string;
  /** Outputs: the task that reads this output, when one does. */
  task?: string;
}

export interface GraphViewEdge {
  from: string;
  to: string;
}

/** What a rewrite recorded in the model's metadata (src/rewrite/provenance.ts). */
export interface RewriteInfo {
  tasks: string[];
  /** Layers made task-specific, by their name in the original model. */
  branched: string[];
}

export interface ModelGraphView {
  nodes: GraphViewNode[];
  edges: GraphViewEdge[];
  /** ONNX nodes in the top-level graph. */
  onnxNodes: number;
  /** ONNX nodes hidden as shape arithmetic or parameter preparation outside layers. */
  hiddenNodes: number;
  /** Present when the model carries Recon rewrite metadata. */
  rewrite?: RewriteInfo;
}

export interface GraphTask {
  name: string;
  /** Graph output the task reads. */
  output: string;
}

/**
 * Ops that add no structure of their own: folded into the node producing all of their data
 * inputs. Pooling, resizing, Concat of several sources, MatMul of two activations stay visible.
 */
const FOLDABLE = new Set([
  // activations
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'Celu',
  'Gelu',
  'Erf',
  'Softplus',
  'Softsign',
  'Mish',
  'Clip',
  'Softmax',
  'LogSoftmax',
  'ThresholdedRelu',
  // elementwise math
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Sqrt',
  'Reciprocal',
  'Neg',
  'Abs',
  'Exp',
  'Log',
  'Max',
  'Min',
  'Sum',
  'Mean',
  'Where',
  'Equal',
  'Less',
  'Greater',
  'Not',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  // reductions over one tensor
  'ReduceMean',
  'ReduceSum',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceL2',
  'ReduceSumSquare',
  // layout
  'Identity',
  'Dropout',
  'Cast',
  'CastLike',
  'Reshape',
  'Flatten',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Expand',
  'Slice',
  'Split',
  'Gather',
  'Tile',
  'Pad',
  'Concat',
  'DepthToSpace',
  'SpaceToDepth',
]);

/** Compacts `model`'s top-level graph; `tasks` name the outputs (and decide which layers are shared). */
export function buildGraphView(model: Model, tasks: readonly GraphTask[]): ModelGraphView {
  const graph = model.graph;
  const order = topologicalOrder(graph.nodes, graph.externallyDefined());
  const taskOutputs = tasks.map((t) => t.output).filter((o) => graph.outputNames.includes(o));
  const usedTasks = tasks.filter((t) => graph.outputNames.includes(t.output));
  const reach = computeReachability(graph, taskOutputs);
  const { layers } = findLayers(graph, reach, taskOutputs);
  const data = dataDependentValues(graph, order);
  const layerOfNode = new Map<Node, Layer>();
  for (const layer of layers) for (const n of layer.nodes) layerOfNode.set(n, layer);
  const rewrite = rewriteInfo(model);
  const copySuffix = rewrite ? copySuffixPattern(rewrite.tasks) : undefined;

  interface Group {
    node: GraphViewNode;
    onnx: Node[];
    taskSet: Set<number>;
  }
  const groups: Group[] = [];
  // A layer is one box, except where its nodes run per task (a shared layer downstream of a Recon
  // branch): one box per task then, so the branches stay visible.
  const groupOfLayer = new Map<string, Group>();
  const layerKey = new Map<Node, string>();
  layers.forEach((layer, i) => {
    const taskOf = (n: Node): string => {
      const t = reach.nodeTasks.get(n);
      return t && t.size === 1 ? String([...t][0]) : '*';
    };
    const keys = new Set(layer.nodes.map(taskOf).filter((k) => k !== '*'));
    const first = layer.nodes.map(taskOf).find((k) => k !== '*') ?? '*';
    for (const n of layer.nodes) {
      const k = keys.size > 1 ? taskOf(n) : '*';
      layerKey.set(n, `${i}:${k === '*' && keys.size > 1 ? first : k}`);
    }
  });
  const groupOfValue = new Map<string, Group>();
  const newGroup = (init: Omit<GraphViewNode, 'id' | 'folded' | 'members' | 'tasks' | 'params'> & { params?: number }): Group => {
    const g: Group = { node: { id: `n${groups.length}`, folded: [], members: [], tasks: [], params: 0, ...init }, onnx: [], taskSet: new Set() };
    groups.push(g);
    return g;
  };
  for (const input of graph.feedInputs) {
    const name = input.name ?? '';
    if (!data.has(name)) continue;
    groupOfValue.set(name, newGroup({ kind: 'input', label: name, op: 'input' }));
  }

  let hidden = 0;
  const edges = new Map<string, GraphViewEdge>();
  const addEdge = (from: Group, to: Group): void => {
    if (from === to) return;
    const key = `${from.node.id}>${to.node.id}`;
    if (!edges.has(key)) edges.set(key, { from: from.node.id, to: to.node.id });
  };
  const dataReads = (n: Node): string[] => [...n.inputs, ...subgraphOuterReads(n)].filter((v) => v !== '' && data.has(v));

  for (const n of order) {
    const layer = layerOfNode.get(n);
    const sources = [
      ...new Set(
        dataReads(n)
          .map((v) => groupOfValue.get(v))
          .filter((g): g is Group => g !== undefined),
      ),
    ];
    let group: Group;
    if (layer) {
      const key = layerKey.get(n)!;
      let g = groupOfLayer.get(key);
      if (!g) {
        g = newGroup({ kind: 'layer', label: layer.name, op: layer.op, layer: layer.name, params: layer.numel });
        groupOfLayer.set(key, g);
      }
      group = g;
    } else if (!n.outputs.some((o) => o !== '' && data.has(o))) {
      // Shape arithmetic, constants, preparation of frozen tensors: no data flows through it.
      hidden++;
      continue;
    } else if (FOLDABLE.has(n.opType) && sources.length === 1 && sources[0]!.node.kind !== 'input') {
      group = sources[0]!;
      if (!group.node.folded.includes(n.opType) && group.node.op !== n.opType) group.node.folded.push(n.opType);
    } else {
      group = newGroup({ kind: 'op', label: modulePathOf(n.name) ?? (n.name.replace(/^\//, '') || n.opType), op: n.opType });
    }
    group.onnx.push(n);
    for (const t of reach.nodeTasks.get(n) ?? []) group.taskSet.add(t);
    for (const s of sources) addEdge(s, group);
    for (const o of n.outputs) if (o !== '' && data.has(o)) groupOfValue.set(o, group);
  }

  const taskOfOutput = new Map(usedTasks.map((t) => [t.output, t.name]));
  for (const output of graph.outputNames) {
    const task = taskOfOutput.get(output);
    const g = newGroup({ kind: 'output', label: output, op: 'output', ...(task !== undefined ? { task } : {}) });
    const t = taskOutputs.indexOf(output);
    if (t >= 0) g.taskSet.add(t);
    const source = groupOfValue.get(output);
    if (source) addEdge(source, g);
  }

  const nodes = groups.map((g) => {
    const node = g.node;
    node.members = g.onnx.map((n) => n.label);
    node.tasks = [...g.taskSet].sort((a, b) => a - b).map((t) => usedTasks[t]!.name);
    if (copySuffix && node.tasks.length === 1 && node.kind !== 'output') {
      // A layer is a copy when its parameters are (its name then ends in __task); an op when its
      // node is. A layer still sharing its weights across per-task nodes is no copy.
      const names = node.layer !== undefined ? [node.layer] : [...g.onnx.map((n) => n.name), ...g.onnx.flatMap((n) => n.outputs)];
      const task = node.tasks[0]!;
      if (names.some((name) => copySuffix.exec(name)?.[1] === task)) node.copyFor = task;
    }
    return node;
  });
  return {
    nodes,
    edges: [...edges.values()],
    onnxNodes: graph.nodes.length,
    hiddenNodes: hidden,
    ...(rewrite ? { rewrite } : {}),
  };
}

/** Tasks and branched layers over every rewrite recorded in the model, oldest first. */
function rewriteInfo(model: Model): RewriteInfo | undefined {
  const records = readProvenance(model);
  if (records.length === 0) return undefined;
  const tasks = new Set<string>();
  const branched = new Set<string>();
  for (const r of records) {
    for (const t of Array.isArray(r['tasks']) ? r['tasks'] : []) {
      const name = (t as { name?: unknown }).name;
      if (typeof name === 'string') tasks.add(name);
    }
    for (const l of Array.isArray(r['branched']) ? r['branched'] : []) {
      const name = (l as { name?: unknown }).name;
      if (typeof name === 'string') branched.add(name);
    }
  }
  return { tasks: [...tasks], branched: [...branched] };
}

/** `name__task` or `name__task_3` (src/rewrite/branch.ts's naming); group 1 is the task. */
function copySuffixPattern(tasks: readonly string[]): RegExp {
  const escaped = [...tasks].sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`__(${escaped.join('|')})(?:_\\d+)?$`);
}

/** The layer a per-task copy was made from: `conv1__T1` → `conv1`. */
export function copyOrigin(layerName: string, task: string): string | undefined {
  const suffix = `__${task}`;
  const m = /_\d+$/.exec(layerName);
  const base = layerName.endsWith(suffix) ? layerName : m && layerName.slice(0, m.index).endsWith(suffix) ? layerName.slice(0, m.index) : undefined;
  return base === undefined ? undefined : base.slice(0, -suffix.length);
}
