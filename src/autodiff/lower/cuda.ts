import type { Model } from '../../onnx/model.js';
import type { Node } from '../../onnx/node.js';
import type { Graph } from '../../onnx/graph.js';
import { GraphBuilder } from '../../onnx/builder.js';
import { Tensor } from '../../onnx/tensor.js';
import { inferShapes } from '../../analysis/shapes.js';
import type { HostTensor } from '../../runtime/ort-tensor.js';

/**
 * Forward ops that onnxruntime's CUDA provider has no kernel for, rewritten before differentiating
 * into exact equivalents it runs, so a gradient graph built for `--device cuda` does not copy
 * activations to the host and back on every step (src/analysis/placement.ts finds such nodes).
 * CPU graphs keep the original ops. Returns the number of rewritten nodes.
 *
 * - MaxUnpool (SegNet/MTAN decoders): a ScatterElements of the values at MaxPool's flat indices
 *   into zeros of the output's size. Exact when every index is written once, which holds when the
 *   pooling windows do not overlap (kernel ≤ stride on every axis, as in SegNet's 2×2/2); with
 *   overlapping windows the node is left alone (the placement forecast then reports it).
 */
export async function lowerForCuda(model: Model, feeds: Record<string, HostTensor>): Promise<number> {
  const g = model.graph;
  const unpools = g.nodes.filter((n) => n.opType === 'MaxUnpool' && (n.domain === '' || n.domain === 'ai.onnx') && windowsDisjoint(n));
  if (unpools.length === 0) return 0;
  const shapes = await inferShapes(model, { feeds, only: unpools.map((n) => n.outputs[0]!) });
  for (const node of unpools) {
    const out = shapes.values.get(node.outputs[0]!)!;
    lowerMaxUnpool(model.graph, node, out.dims, out.dtype === 'float64' ? 'float64' : 'float32');
  }
  g.toposort();
  return unpools.length;
}

/** Pooling windows that never overlap write each output position at most once. */
function windowsDisjoint(node: Node): boolean {
  const kernel = node.attrs.ints('kernel_shape') ?? [];
  const strides = node.attrs.ints('strides') ?? kernel.map(() => 1);
  return kernel.length > 0 && kernel.every((k, i) => k <= (strides[i] ?? 1));
}

/** Replaces one MaxUnpool node (output of `dims`) by ScatterElements into zeros; keeps its output name. */
export function lowerMaxUnpool(graph: Graph, node: Node, dims: readonly number[], dtype: 'float32' | 'float64'): void {
  const b = new GraphBuilder(graph);
  const numel = dims.reduce((a, d) => a * d, 1);
  const name = (op: string): { name: string } => ({ name: `${node.name || 'MaxUnpool'}/cuda/${op}` });
  const flatX = b.op1('Reshape', [node.inputs[0]!, b.int64s('unpool/flat', [-1])], {}, name('Reshape'));
  const flatI = b.op1('Reshape', [node.inputs[1]!, b.int64s('unpool/flat', [-1])], {}, name('Reshape'));
  const value = dtype === 'float64' ? Tensor.fromArray('', 'float64', [1], Float64Array.of(0)) : Tensor.fromArray('', 'float32', [1], Float32Array.of(0));
  const zeros = b.op1('ConstantOfShape', [b.int64s('unpool/numel', [numel])], { value }, name('ConstantOfShape'));
  const scattered = b.op1('ScatterElements', [zeros, flatI, flatX], { axis: 0 }, name('ScatterElements'));
  b.op1('Reshape', [scattered, b.int64s('unpool/shape', dims)], {}, { ...name('Reshape'), outputs: [node.outputs[0]!] });
  graph.nodes.splice(graph.nodes.indexOf(node), 1);
}
