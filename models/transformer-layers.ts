import { float } from '../src/onnx/index.js';
import type { ModuleScope } from './module-scope.js';
import type { NetBuilder } from './net-builder.js';

const LN_EPSILON = 1e-5;

/**
 * nn.LayerNorm over the last axis (γ=1, β=0). A single LayerNormalization node from opset 17;
 * below that PyTorch writes it out as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add, with
 * the same `weight` and `bias` initializers.
 */
export function layerNorm(net: NetBuilder, x: string, module: ModuleScope, features: number): string {
  const weight = net.parameter(module, 'weight', [features], { kind: 'constant', value: 1 });
  const bias = net.parameter(module, 'bias', [features], { kind: 'constant', value: 0 });
  const scope = net.call(module);
  if (net.opset >= 17) return net.node1(scope, 'LayerNormalization', [x, weight, bias], { axis: -1, epsilon: float(LN_EPSILON) });
  const mean = net.node1(scope, 'ReduceMean', [x], { axes: [-1], keepdims: 1 });
  const centered = net.node1(scope, 'Sub', [x, mean]);
  const squared = net.node1(scope, 'Pow', [centered, net.scalar(scope, 2)]);
  const variance = net.node1(scope, 'ReduceMean', [squared], { axes: [-1], keepdims: 1 });
  const std = net.node1(scope, 'Sqrt', [net.node1(scope, 'Add', [variance, net.scalar(scope, LN_EPSILON)])]);
  const normalized = net.node1(scope, 'Div', [centered, std]);
  return net.node1(scope, 'Add', [net.node1(scope, 'Mul', [normalized, weight]), bias]);
}

/** nn.GELU() (exact form): 0.5·x·(1 + erf(x/√2)), as exporters write it before opset 20. */
export function gelu(net: NetBuilder, x: string, module: ModuleScope): string {
  const scope = net.call(module);
  const erf = net.node1(scope, 'Erf', [net.node1(scope, 'Div', [x, net.scalar(scope, Math.SQRT2)])]);
  const gate = net.node1(scope, 'Mul', [x, net.node1(scope, 'Add', [erf, net.scalar(scope, 1)])]);
  return net.node1(scope, 'Mul', [gate, net.scalar(scope, 0.5)]);
}

/**
 * Reshapes [N, ...] to [N, ...trailing] with the batch read from the tensor at run time, the
 * Shape → Gather → Unsqueeze → Concat → Reshape chain PyTorch emits for a symbolic batch.
 */
export function reshapeKeepingBatch(net: NetBuilder, x: string, scope: ModuleScope, trailing: readonly number[]): string {
  const shape = net.node1(scope, 'Shape', [x]);
  const batch = net.node1(scope, 'Gather', [shape, net.constant(scope, 'int64', [], BigInt64Array.of(0n))], { axis: 0 });
  const batchDim = net.node1(scope, 'Unsqueeze', [batch, net.int64s(scope, [0])]);
  const target = net.node1(scope, 'Concat', [batchDim, net.int64s(scope, trailing)], { axis: 0 });
  return net.node1(scope, 'Reshape', [x, target]);
}

export interface AttentionSpec {
  dim: number;
  heads: number;
  seqLen: number;
}

/**
 * Multi-head self-attention with `q`, `k`, `v`, `out` projections (MatMul + Add, weights [in, out]):
 * softmax(q·kᵀ / √d_head)·v per head, heads merged back before `out`.
 */
export function multiHeadSelfAttention(net: NetBuilder, x: string, module: ModuleScope, spec: AttentionSpec): string {
  const { dim, heads, seqLen } = spec;
  const headDim = dim / heads;
  const project = (name: string, input: string): string => net.linear(input, module.child(name), dim, dim, 'matmul');
  const splitHeads = (projected: string, perm: readonly number[]): string =>
    net.node1(module, 'Transpose', [reshapeKeepingBatch(net, projected, module, [seqLen, heads, headDim])], { perm });
  const q = splitHeads(project('q', x), [0, 2, 1, 3]);
  const kTransposed = splitHeads(project('k', x), [0, 2, 3, 1]);
  const v = splitHeads(project('v', x), [0, 2, 1, 3]);
  const scores = net.node1(module, 'Div', [net.node1(module, 'MatMul', [q, kTransposed]), net.scalar(module, Math.sqrt(headDim))]);
  const weights = net.node1(module, 'Softmax', [scores], { axis: -1 });
  const context = net.node1(module, 'Transpose', [net.node1(module, 'MatMul', [weights, v])], { perm: [0, 2, 1, 3] });
  return project('out', reshapeKeepingBatch(net, context, module, [seqLen, dim]));
}
