import type { Graph } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';
import { isFloatDType } from '../onnx/dtype.js';
import type { Reachability } from './reach.js';

/** One parameter-owning unit, as Recon defines a layer (weight and bias together). */
export interface Layer {
  name: string;
  /** The op that owns the parameters (Conv, Gemm, MatMul, BatchNormalization, ...). */
  op: string;
  nodes: Node[];
  /** Parameter initializer names, weight first. */
  params: string[];
  numel: number;
  /** Task indices the layer reaches. */
  tasks: number[];
  shared: boolean;
}

/** Which input positions of an op hold trainable parameters (running statistics are state). */
export const PARAM_INPUTS: Readonly<Record<string, readonly number[]>> = {
  Conv: [1, 2],
  ConvTranspose: [1, 2],
  Gemm: [0, 1, 2],
  MatMul: [0, 1],
  BatchNormalization: [1, 2],
  LayerNormalization: [1, 2],
  InstanceNormalization: [1, 2],
  GroupNormalization: [1, 2],
  PRelu: [1],
  Gather: [0],
};

/**
 * Trainable float initializers of one node (empty when it owns none), with the Identity nodes
 * through which it reads them: PyTorch's exporter reads a deduplicated parameter through an
 * Identity named after the dropped one.
 */
export function parameterInputs(graph: Graph, node: Node, producers = graph.producers()): { params: string[]; aliases: Node[] } {
  const positions = node.domain === '' || node.domain === 'ai.onnx' ? PARAM_INPUTS[node.opType] : undefined;
  const params: string[] = [];
  const aliases: Node[] = [];
  if (!positions) return { params, aliases };
  for (const i of positions) {
    let v = node.inputs[i];
    const via: Node[] = [];
    for (let p = v ? producers.get(v) : undefined; p && p.opType === 'Identity'; p = producers.get(v!)) {
      via.push(p);
      v = p.inputs[0];
    }
    if (!v) continue;
    const t = graph.initializers.get(v);
    if (t && isFloatDType(t.dtype) && t.numel > 0) {
      params.push(v);
      aliases.push(...via);
    }
  }
  return { params, aliases };
}

/**
 * Groups parameters into layers in network (topological) order. A MatMul followed directly by an
 * Add of a float initializer is one layer (Linear exported as MatMul + Add).
 */
export function findLayers(graph: Graph, reach: Reachability): Layer[] {
  const consumers = graph.consumers();
  const producers = graph.producers();
  const merged = new Set<Node>();
  const groups: { op: string; nodes: Node[]; params: string[] }[] = [];
  for (const node of graph.nodes) {
    if (merged.has(node)) continue;
    const { params, aliases } = parameterInputs(graph, node, producers);
    if (params.length === 0) continue;
    const nodes = [...aliases, node];
    if (node.opType === 'MatMul') {
      const users = consumers.get(node.outputs[0]!) ?? [];
      const add = users.length === 1 ? users[0]! : undefined;
      if (add && add.opType === 'Add') {
        const other = add.inputs.find((v) => v !== node.outputs[0]);
        const t = other ? graph.initializers.get(other) : undefined;
        if (other && t && isFloatDType(t.dtype)) {
          nodes.push(add);
          params.push(other);
          merged.add(add);
        }
      }
    }
    groups.push({ op: node.opType, nodes, params });
  }
  groups.push(...looseParameterGroups(graph, new Set(groups.flatMap((g) => g.params))));
  // Nodes applying the same parameters are one layer: after a Recon rewrite, a shared layer
  // downstream of a branch runs once per task with one set of weights.
  const byParams = new Map<string, { op: string; nodes: Node[]; params: string[] }>();
  for (const g of groups.splice(0)) {
    const key = g.params.join('\u0000');
    const existing = byParams.get(key);
    if (existing) existing.nodes.push(...g.nodes.filter((n) => !existing.nodes.includes(n)));
    else byParams.set(key, g);
  }
  groups.push(...byParams.values());
  const position = new Map(graph.nodes.map((n, i) => [n, i]));
  const owner = (g: { nodes: Node[] }): Node => g.nodes.find((n) => n.opType !== 'Identity') ?? g.nodes[0]!;
  groups.sort((x, y) => position.get(owner(x))! - position.get(owner(y))!);
  const names = uniqueNames(groups.map((g) => layerName(owner(g), g.params)));
  return groups.map((g, i) => {
    const tasks = new Set<number>();
    for (const n of g.nodes) for (const t of reach.nodeTasks.get(n) ?? []) tasks.add(t);
    const sorted = [...tasks].sort((a, b) => a - b);
    return {
      name: names[i]!,
      op: g.op,
      nodes: g.nodes,
      params: g.params,
      numel: g.params.reduce((n, p) => n + graph.initializers.get(p)!.numel, 0),
      tasks: sorted,
      shared: sorted.length >= 2,
    };
  });
}

/** Elementwise ops through which exporters apply parameters of their own (decomposed norms, learned embeddings). */
const LOOSE_PARAM_OPS = new Set(['Add', 'Sub', 'Mul', 'Div']);

/**
 * Float parameters applied by elementwise ops: LayerNorm decomposed at opset < 17
 * (`norm.weight` via Mul, `norm.bias` via Add) or a learned positional embedding added to the
 * tokens. Only named, non-scalar initializers count; exporter constants (`onnx::…`) and scalars do
 * not. Grouped by module path, like every other layer.
 */
function looseParameterGroups(graph: Graph, claimed: ReadonlySet<string>): { op: string; nodes: Node[]; params: string[] }[] {
  const byPrefix = new Map<string, { op: string; nodes: Node[]; params: string[] }>();
  for (const node of graph.nodes) {
    if (!LOOSE_PARAM_OPS.has(node.opType) || (node.domain !== '' && node.domain !== 'ai.onnx')) continue;
    for (const v of node.inputs) {
      const t = v ? graph.initializers.get(v) : undefined;
      if (!t || !isFloatDType(t.dtype) || t.numel <= 1 || claimed.has(v) || v.includes('::')) continue;
      const suffix = PARAM_SUFFIXES.find((s) => v.endsWith(s));
      const prefix = suffix ? v.slice(0, -suffix.length) : v;
      const group = byPrefix.get(prefix) ?? { op: '', nodes: [], params: [] };
      if (!group.nodes.includes(node)) group.nodes.push(node);
      if (!group.params.includes(v)) group.params.push(v);
      group.op = group.nodes.map((n) => n.opType).join('+');
      byPrefix.set(prefix, group);
    }
  }
  return [...byPrefix.values()];
}

const PARAM_SUFFIXES = ['.weight', '.bias', '.gamma', '.beta', '.scale', '.running_mean', '.running_var'];

/**
 * A layer's name, stable across exports of one architecture: the PyTorch module path taken from
 * the parameter names (`layer1.0.conv1.weight` → `layer1.0.conv1`), else from the node name
 * (`/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`), else the node name itself.
 */
export function layerName(node: Node, params: readonly string[]): string {
  const prefixes = new Set<string>();
  for (const p of params) {
    // `conv1.weight__T1` (a per-task copy made by recon rewrite) names layer `conv1__T1`.
    const copy = /^(.*?)(__[^.]+)$/.exec(p);
    const base = copy ? copy[1]! : p;
    const suffix = PARAM_SUFFIXES.find((s) => base.endsWith(s));
    if (suffix && !p.startsWith('onnx::')) prefixes.add(base.slice(0, -suffix.length) + (copy ? copy[2]! : ''));
  }
  if (prefixes.size === 1) return [...prefixes][0]!;
  const fromNode = modulePathOf(node.name);
  if (fromNode) return fromNode;
  if (params.length === 1 && !params[0]!.startsWith('onnx::')) return params[0]!;
  return node.name || `${node.opType}(${node.outputs[0] ?? ''})`;
}

/** `/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`; undefined when the name has no module path. */
export function modulePathOf(nodeName: string): string | undefined {
  if (!nodeName.startsWith('/')) return undefined;
  const parts = nodeName.split('/').filter((p) => p !== '');
  if (parts.length < 2) return undefined;
  // A scope is named relative to some ancestor: `layer1.0` refines `layer1`, and `downsample.0`
  // refines `downsample`; a refinement replaces the component it extends.
  const segments: string[] = [];
  for (const part of parts.slice(0, -1)) {
    const whole = segments.join('.');
    const last = segments[segments.length - 1];
    if (whole !== '' && part.startsWith(`${whole}.`)) segments.splice(0, segments.length, part);
    else if (last !== undefined && part.startsWith(`${last}.`)) segments[segments.length - 1] = part;
    else segments.push(part);
  }
  return segments.length > 0 ? segments.join('.') : undefined;
}

function uniqueNames(names: string[]): string[] {
  const count = new Map<string, number>();
  return names.map((n) => {
    const k = (count.get(n) ?? 0) + 1;
    count.set(n, k);
    return k === 1 ? n : `${n}#${k}`;
  });
}

/** Initializers used by more than one layer (e.g. merged equal biases in eval-mode exports). */
export function sharedInitializers(layers: readonly Layer[]): { name: string; layers: string[] }[] {
  const users = new Map<string, string[]>();
  for (const l of layers) for (const p of new Set(l.params)) users.set(p, [...(users.get(p) ?? []), l.name]);
  return [...users].filter(([, ls]) => ls.length > 1).map(([name, ls]) => ({ name, layers: ls }));
}
