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
const PARAM_INPUTS: Record<string, readonly number[]> = {
  Conv: [1, 2],
  ConvTranspose: [1, 2],
  Gemm: [0, 1, 2],
  MatMul: [0, 1],
  BatchNormalization: [1, 2],
  LayerNormalization: [1, 2],
  InstanceNormalization: [1, 2],
  PRelu: [1],
  Gather: [0],
};

/** Trainable float initializers of one node (empty when it owns none). */
export function parameterInputs(graph: Graph, node: Node): string[] {
  const positions = node.domain === '' || node.domain === 'ai.onnx' ? PARAM_INPUTS[node.opType] : undefined;
  if (!positions) return [];
  const out: string[] = [];
  for (const i of positions) {
    const v = node.inputs[i];
    if (!v) continue;
    const t = graph.initializers.get(v);
    if (t && isFloatDType(t.dtype) && t.numel > 0) out.push(v);
  }
  return out;
}

/**
 * Groups parameters into layers in network (topological) order. A MatMul followed directly by an
 * Add of a float initializer is one layer (Linear exported as MatMul + Add).
 */
export function findLayers(graph: Graph, reach: Reachability): Layer[] {
  const consumers = graph.consumers();
  const merged = new Set<Node>();
  const groups: { op: string; nodes: Node[]; params: string[] }[] = [];
  for (const node of graph.nodes) {
    if (merged.has(node)) continue;
    const params = parameterInputs(graph, node);
    if (params.length === 0) continue;
    const nodes = [node];
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
  const names = uniqueNames(groups.map((g) => layerName(g.nodes[0]!, g.params)));
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

const PARAM_SUFFIXES = ['.weight', '.bias', '.gamma', '.beta', '.scale', '.running_mean', '.running_var'];

/**
 * A layer's name, stable across exports of one architecture: the PyTorch module path taken from
 * the parameter names (`layer1.0.conv1.weight` → `layer1.0.conv1`), else from the node name
 * (`/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`), else the node name itself.
 */
export function layerName(node: Node, params: readonly string[]): string {
  const prefixes = new Set<string>();
  for (const p of params) {
    const suffix = PARAM_SUFFIXES.find((s) => p.endsWith(s));
    if (suffix && !p.startsWith('onnx::')) prefixes.add(p.slice(0, -suffix.length));
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
  let path = '';
  for (const part of parts.slice(0, -1)) {
    path = path === '' || part.startsWith(`${path}.`) ? part : `${path}.${part}`;
  }
  return path || undefined;
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
