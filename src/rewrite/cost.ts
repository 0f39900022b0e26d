import type { Graph } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';
import type { Tensor } from '../onnx/tensor.js';
import { isFloatDType } from '../onnx/dtype.js';
import { ReconError } from '../util/errors.js';

/** Decides whether initializer `tensor`, read as input `inputIndex` of `node`, is a trainable parameter. */
export type ParameterRule = (node: Node, inputIndex: number, tensor: Tensor) => boolean;

/**
 * Input positions that hold trainable parameters when the parameter is read directly (or through
 * Identity). A position rule independent of the analysis' parameter discovery, so tests can count
 * the parameters of rewritten graphs without the code under test.
 */
const PARAMETER_INPUTS: Readonly<Record<string, readonly number[]>> = {
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
 * Float initializers in weight/bias positions of Conv, ConvTranspose, Gemm, MatMul, scale/bias of
 * BN/LayerNorm/InstanceNorm/GroupNorm, PRelu slopes and Gather tables. BN running statistics
 * (inputs 3 and 4) and integer tensors are not parameters. Biases added by a separate Add are not
 * recognised: pass another rule for such exports.
 */
export const defaultParameterRule: ParameterRule = (node, inputIndex, tensor) =>
  node.domain === '' && (PARAMETER_INPUTS[node.opType]?.includes(inputIndex) ?? false) && isFloatDType(tensor.dtype);

/**
 * Names of the initializers that are trainable parameters under `rule`. An input read through a
 * chain of Identity nodes counts as the initializer at its start (PyTorch's exporter reads a
 * deduplicated parameter through an Identity).
 */
export function parameterInitializers(graph: Graph, rule: ParameterRule = defaultParameterRule): Set<string> {
  const producers = graph.producers();
  const source = (value: string): string => {
    let v = value;
    const seen = new Set<string>();
    for (let p = producers.get(v); p && p.opType === 'Identity' && p.domain === '' && !seen.has(v); p = producers.get(v)) {
      seen.add(v);
      v = p.inputs[0] ?? '';
    }
    return v;
  };
  const out = new Set<string>();
  for (const node of graph.nodes) {
    node.inputs.forEach((name, i) => {
      const init = name ? source(name) : '';
      const t = init ? graph.initializers.get(init) : undefined;
      if (t && rule(node, i, t)) out.add(init);
    });
  }
  return out;
}

/** Elements in the trainable parameters of a graph (each initializer counted once). */
export function countParameters(graph: Graph, rule: ParameterRule = defaultParameterRule): number {
  let n = 0;
  for (const name of parameterInitializers(graph, rule)) n += graph.initializers.get(name)!.numel;
  return n;
}

/** Static shapes by value name, for batch size 1. */
export type ShapeMap = ReadonlyMap<string, readonly number[]>;

/**
 * Multiply-accumulates of one forward pass for the given static shapes (batch 1 gives MACs per
 * sample). Counts Conv, ConvTranspose, Gemm and MatMul only, the ops that dominate; elementwise
 * ops, normalisation, pooling and activations are not counted.
 */
export function countMacs(graph: Graph, shapes: ShapeMap): number {
  let total = 0;
  for (const node of graph.nodes) total += nodeMacs(graph, node, shapes);
  return total;
}

/** MACs of one node (0 for op types that are not counted). */
export function nodeMacs(graph: Graph, node: Node, shapes: ShapeMap): number {
  if (node.domain !== '') return 0;
  const dims = (value: string | undefined): readonly number[] => {
    const d = value ? (shapes.get(value) ?? graph.initializers.get(value)?.dims) : undefined;
    if (!d) throw new ReconError(`no static shape for value "${value ?? ''}" (input of ${node.opType} node "${node.label}")`);
    return d;
  };
  const numel = (d: readonly number[]): number => d.reduce((a, b) => a * b, 1);
  switch (node.opType) {
    case 'Conv':
      // Each output element takes (Cin/group)·k_1·…·k_n products.
      return numel(dims(node.outputs[0])) * numel(dims(node.inputs[1]).slice(1));
    case 'ConvTranspose':
      // Each input element is scattered into (Cout/group)·k_1·…·k_n outputs.
      return numel(dims(node.inputs[0])) * numel(dims(node.inputs[1]).slice(1));
    case 'Gemm': {
      const a = dims(node.inputs[0]);
      const k = node.attrs.int('transA', 0) ? a[0]! : a[1]!;
      return numel(dims(node.outputs[0])) * k;
    }
    case 'MatMul': {
      const a = dims(node.inputs[0]);
      return numel(dims(node.outputs[0])) * a[a.length - 1]!;
    }
    default:
      return 0;
  }
}

export interface ModelCost {
  params: number;
  macs: number;
  nodes: number;
}

export function measureCost(graph: Graph, shapes: ShapeMap, rule: ParameterRule = defaultParameterRule): ModelCost {
  return { params: countParameters(graph, rule), macs: countMacs(graph, shapes), nodes: graph.nodes.length };
}

export interface CostChange {
  before: number;
  after: number;
  /** (after − before) / before · 100; 0 when before is 0. */
  increasePct: number;
}

export interface CostSummary {
  params: CostChange;
  macs: CostChange;
  nodesAdded: number;
  duplicatedLayers: string[];
}

export function summarizeCost(before: ModelCost, after: ModelCost, duplicatedLayers: readonly string[] = []): CostSummary {
  return {
    params: change(before.params, after.params),
    macs: change(before.macs, after.macs),
    nodesAdded: after.nodes - before.nodes,
    duplicatedLayers: duplicatedLayers.slice(),
  };
}

function change(before: number, after: number): CostChange {
  return { before, after, increasePct: before === 0 ? 0 : ((after - before) / before) * 100 };
}
