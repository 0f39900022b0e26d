import type { Graph } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';
import { subgraphOuterReads } from '../onnx/graph.js';
import { isFloatDType } from '../onnx/dtype.js';
import type { Tensor } from '../onnx/tensor.js';

/**
 * Which float initializers are trainable parameters, found from the graph alone: a trainable
 * parameter is a float initializer with a differentiable path to a task output. The path may run
 * through any op (Transpose, Unsqueeze, Slice, Concat, ...) as long as every edge on it is an input
 * that carries a gradient by the op's ONNX semantics: shapes, indices, scales, running statistics
 * and masks do not. Float initializers that reach a task only through such inputs are frozen.
 */
export interface ParameterClassification {
  /** Trainable parameters in graph initializer order. */
  trainable: string[];
  /** Float initializers that reach a task output but are not trained, with the reason. */
  frozen: FrozenInitializer[];
}

export interface FrozenInitializer {
  name: string;
  numel: number;
  /**
   * `non-differentiable`: reaches the tasks only through inputs that carry no gradient (BN running
   * statistics, Resize scales); `exporter-constant`: on a differentiable path, but the exporter's
   * stand-in for absent affine parameters of a normalization.
   */
  kind: 'non-differentiable' | 'exporter-constant';
  reason: string;
}

const FLOAT_CAST_TARGETS = new Set([1, 10, 11, 16]); // float, float16, double, bfloat16

/** Ops whose outputs never carry a gradient (comparisons, indices, shapes, random draws, rounding). */
const NON_DIFFERENTIABLE_OPS = new Set([
  'Shape',
  'Size',
  'Equal',
  'Less',
  'LessOrEqual',
  'Greater',
  'GreaterOrEqual',
  'ArgMax',
  'ArgMin',
  'IsNaN',
  'IsInf',
  'NonZero',
  'Not',
  'And',
  'Or',
  'Xor',
  'Sign',
  'Floor',
  'Ceil',
  'Round',
  'ConstantOfShape',
  'EyeLike',
  'RandomNormal',
  'RandomUniform',
  'RandomNormalLike',
  'RandomUniformLike',
  'Bernoulli',
  'Multinomial',
  'Range',
  'NonMaxSuppression',
  'BitShift',
  'OneHot',
  'StringNormalizer',
  'BitwiseAnd',
  'BitwiseOr',
  'BitwiseXor',
  'BitwiseNot',
]);

/** Inputs that never carry a gradient, by op (ONNX semantics: shapes, indices, axes, scales, state). */
const NON_DIFFERENTIABLE_INPUTS: Readonly<Record<string, readonly number[]>> = {
  BatchNormalization: [3, 4],
  Resize: [1, 2, 3],
  Upsample: [1],
  Dropout: [1, 2],
  Pad: [1, 3],
  Reshape: [1],
  Expand: [1],
  Tile: [1],
  Slice: [1, 2, 3, 4],
  Split: [1],
  Squeeze: [1],
  Unsqueeze: [1],
  Gather: [1],
  GatherElements: [1],
  GatherND: [1],
  ScatterND: [1],
  ScatterElements: [1],
  Scatter: [1],
  TopK: [1],
  CumSum: [1],
  Trilu: [1],
  Where: [0],
  MaxUnpool: [1, 2],
  RNN: [4],
  GRU: [4],
  LSTM: [4],
  ReduceSum: [1],
  ReduceMean: [1],
  ReduceMax: [1],
  ReduceMin: [1],
  ReduceProd: [1],
  ReduceL1: [1],
  ReduceL2: [1],
  ReduceLogSumExp: [1],
  ReduceSumSquare: [1],
  CenterCropPad: [1],
  Col2Im: [1, 2],
};

/** Outputs that never carry a gradient, by op (argmax indices, masks, running-statistic updates). */
const NON_DIFFERENTIABLE_OUTPUTS: Readonly<Record<string, readonly number[]>> = {
  MaxPool: [1],
  TopK: [1],
  Dropout: [1],
  BatchNormalization: [1, 2, 3, 4],
  LayerNormalization: [1, 2],
  Unique: [0, 1, 2, 3],
};

function isDefaultDomain(node: Node): boolean {
  return node.domain === '' || node.domain === 'ai.onnx';
}

/** Whether input `index` of `node` can carry a gradient back from the node's outputs. */
export function carriesGradientIn(node: Node, index: number): boolean {
  if (!isDefaultDomain(node)) return true;
  if (NON_DIFFERENTIABLE_OPS.has(node.opType)) return false;
  if (node.opType === 'Cast' || node.opType === 'CastLike') return castsToFloat(node);
  return !(NON_DIFFERENTIABLE_INPUTS[node.opType] ?? []).includes(index);
}

/** Whether output `index` of `node` can carry a gradient. */
export function carriesGradientOut(node: Node, index: number): boolean {
  if (!isDefaultDomain(node)) return true;
  if (NON_DIFFERENTIABLE_OPS.has(node.opType)) return false;
  if (node.opType === 'Cast' || node.opType === 'CastLike') return castsToFloat(node);
  return !(NON_DIFFERENTIABLE_OUTPUTS[node.opType] ?? []).includes(index);
}

function castsToFloat(node: Node): boolean {
  // CastLike takes its target type from a value we cannot see here: assume float.
  return node.opType === 'CastLike' || FLOAT_CAST_TARGETS.has(node.attrs.int('to', 1));
}

/**
 * Per task output, the values with a differentiable path to it (walking back over edges that carry
 * gradients). Values read by a subgraph (If/Loop/Scan) count as differentiable: conservative, so a
 * parameter is never dropped because we cannot see inside.
 */
export function differentiableReach(graph: Graph, taskOutputs: readonly string[]): Set<string>[] {
  const producers = graph.producers();
  return taskOutputs.map((output) => {
    const seen = new Set<string>();
    const stack = [output];
    while (stack.length > 0) {
      const v = stack.pop()!;
      if (!v || seen.has(v)) continue;
      seen.add(v);
      const p = producers.get(v);
      if (!p || !carriesGradientOut(p, p.outputs.indexOf(v))) continue;
      p.inputs.forEach((i, k) => {
        if (i && carriesGradientIn(p, k)) stack.push(i);
      });
      for (const i of subgraphOuterReads(p)) stack.push(i);
    }
    return seen;
  });
}

/** Normalization ops whose scale and bias inputs an exporter fills with constants when the module has no affine parameters. */
const NORMALIZATION_OPS = new Set(['BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization']);
/** Ops through which an exporter's constant reaches a normalization op unchanged in value. */
const VALUE_PRESERVING = new Set(['Identity', 'Cast', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Expand', 'Tile']);

/**
 * Names PyTorch's exporter gives tensors it made itself (folded constants, fused or re-laid-out
 * weights) rather than state-dict entries.
 */
export function isExporterName(name: string): boolean {
  return name.startsWith('onnx::') || /^_v_\d+$/.test(name) || name.startsWith('/');
}

/**
 * An exporter's stand-in for "no affine parameters": a uniform (all elements equal) tensor that the
 * exporter named itself, fed as the scale or bias of a normalization op (GroupNorm exported as
 * InstanceNormalization with ones and zeros, LayerNorm or BatchNorm without affine). Such a tensor
 * is a constant of the export, not a parameter of the model.
 */
function isExporterNormalizationConstant(name: string, tensor: Tensor, consumers: Map<string, Node[]>): boolean {
  if (!isExporterName(name) || !isUniform(tensor)) return false;
  const stack = [name];
  const seen = new Set<string>();
  let feedsNormalization = false;
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    for (const c of consumers.get(v) ?? []) {
      if (NORMALIZATION_OPS.has(c.opType) && (c.inputs[1] === v || c.inputs[2] === v) && c.inputs[0] !== v) feedsNormalization = true;
      else if (VALUE_PRESERVING.has(c.opType) && c.inputs[0] === v) stack.push(...c.outputs.filter((o) => o !== ''));
      else return false;
    }
  }
  return feedsNormalization;
}

function isUniform(t: Tensor): boolean {
  if (t.numel <= 1) return true;
  const data = t.data('float32');
  const first = data[0]!;
  for (let i = 1; i < data.length; i++) if (!Object.is(data[i], first) && data[i] !== first) return false;
  return true;
}

/** Classifies the graph's float initializers into trainable parameters and frozen ones. */
export function classifyParameters(graph: Graph, taskOutputs: readonly string[], anyReach: ReadonlyMap<string, ReadonlySet<number>>): ParameterClassification {
  const diff = differentiableReach(graph, taskOutputs);
  const consumers = graph.consumers();
  const trainable: string[] = [];
  const frozen: FrozenInitializer[] = [];
  for (const [name, t] of graph.initializers) {
    if (!isFloatDType(t.dtype) || t.numel === 0) continue;
    const reachesTask = (anyReach.get(name)?.size ?? 0) > 0;
    if (!reachesTask) continue;
    if (!diff.some((s) => s.has(name))) {
      frozen.push({ name, numel: t.numel, kind: 'non-differentiable', reason: frozenReason(name, consumers) });
    } else if (isExporterNormalizationConstant(name, t, consumers)) {
      frozen.push({ name, numel: t.numel, kind: 'exporter-constant', reason: 'exporter constant standing in for absent affine parameters of a normalization' });
    } else {
      trainable.push(name);
    }
  }
  return { trainable, frozen };
}

function frozenReason(name: string, consumers: Map<string, Node[]>): string {
  const uses = consumers.get(name) ?? [];
  const bn = uses.find((n) => n.opType === 'BatchNormalization' && (n.inputs[3] === name || n.inputs[4] === name));
  if (bn) return 'BatchNormalization running statistic';
  const use = uses[0];
  if (!use) return 'reaches the tasks only through subgraphs or non-differentiable inputs';
  return `reaches the tasks only through non-differentiable inputs (first use: ${use.opType} input ${use.inputs.indexOf(name)})`;
}

/**
 * Values that depend on what the caller feeds (graph inputs that are not initializers). Shape and
 * Size only read the static shape of their input, so their outputs do not count: a parameter
 * expanded to the batch size is still a parameter-only value.
 */
export function dataDependentValues(graph: Graph, order: readonly Node[] = graph.nodes): Set<string> {
  const out = new Set<string>(graph.feedInputs.map((i) => i.name ?? ''));
  for (const node of order) {
    if (node.opType === 'Shape' || node.opType === 'Size') continue;
    const reads = [...node.inputs, ...subgraphOuterReads(node)];
    if (reads.some((i) => i !== '' && out.has(i))) for (const o of node.outputs) if (o) out.add(o);
  }
  return out;
}
