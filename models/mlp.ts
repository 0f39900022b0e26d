import type { Model } from '../src/onnx/index.js';
import { NetBuilder, type ModelBuildOptions } from './net-builder.js';

export const MLP_INPUT_FEATURES = 16;
export const MLP_T1_CLASSES = 5;
export const MLP_T2_CLASSES = 3;

/**
 * input [N,16] → fc1(16→32) → ReLU → fc2(32→32) → ReLU → head1(32→5) = T1, head2(32→3) = T2.
 * Linear layers are Gemm below opset 17 and MatMul+Add from 17, both forms exporters emit.
 */
export function buildMlp(options: ModelBuildOptions): Model {
  const net = new NetBuilder(options);
  const root = net.root;
  const form = net.opset >= 17 ? 'matmul' : 'gemm';
  let x = net.input('input', 'float32', ['N', MLP_INPUT_FEATURES]);
  x = net.relu(net.linear(x, root.child('fc1'), MLP_INPUT_FEATURES, 32, form), root.child('relu'));
  x = net.relu(net.linear(x, root.child('fc2'), 32, 32, form), root.child('relu'));
  net.output(net.linear(x, root.child('head1'), 32, MLP_T1_CLASSES, form), 'T1', ['N', MLP_T1_CLASSES]);
  net.output(net.linear(x, root.child('head2'), 32, MLP_T2_CLASSES, form), 'T2', ['N', MLP_T2_CLASSES]);
  return net.model();
}
