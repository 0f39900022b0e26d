import type { Model } from '../src/onnx/index.js';
import { NetBuilder, type BatchNormForm, type ModelBuildOptions } from './net-builder.js';

export const CNN_INPUT_SIZE = 36;
export const CNN_CLASSES = 10;

export interface CnnBuildOptions extends ModelBuildOptions {
  /** `training` exports BatchNormalization in PyTorch's training form (default `eval`). */
  batchNorm?: BatchNormForm;
}

/**
 * input [N,1,36,36] → conv1(3×3, 1→8, bias) → bn1 → ReLU → MaxPool 2 → conv2 → bn2 → ReLU →
 * conv3 → bn3 → + (residual from the pool) → ReLU → GlobalAveragePool → Flatten →
 * fc(8→16) → ReLU → head1 / head2 (16→10) = T1 / T2.
 */
export function buildCnn(options: CnnBuildOptions): Model {
  const net = new NetBuilder(options);
  const root = net.root;
  const x = net.input('input', 'float32', ['N', 1, CNN_INPUT_SIZE, CNN_INPUT_SIZE]);
  let h = net.conv2d(x, root.child('conv1'), { inChannels: 1, outChannels: 8, kernel: 3, padding: 1, bias: true });
  h = net.relu(net.batchNorm2d(h, root.child('bn1'), 8), root.child('relu'));
  const blockInput = net.maxPool2d(h, root.child('maxpool'), { kernel: 2, stride: 2 });
  h = net.conv2d(blockInput, root.child('conv2'), { inChannels: 8, outChannels: 8, kernel: 3, padding: 1, bias: false });
  h = net.relu(net.batchNorm2d(h, root.child('bn2'), 8), root.child('relu'));
  h = net.conv2d(h, root.child('conv3'), { inChannels: 8, outChannels: 8, kernel: 3, padding: 1, bias: false });
  h = net.batchNorm2d(h, root.child('bn3'), 8);
  h = net.relu(net.add(h, blockInput, root), root.child('relu'));
  h = net.flatten(net.globalAveragePool(h, root.child('avgpool')), root);
  h = net.relu(net.linear(h, root.child('fc'), 8, 16), root.child('relu'));
  net.output(net.linear(h, root.child('head1'), 16, CNN_CLASSES), 'T1', ['N', CNN_CLASSES]);
  net.output(net.linear(h, root.child('head2'), 16, CNN_CLASSES), 'T2', ['N', CNN_CLASSES]);
  return net.model();
}

/** The CNN with every BatchNormalization in PyTorch's training-mode export form. */
export function buildCnnTrainBn(options: ModelBuildOptions): Model {
  return buildCnn({ ...options, batchNorm: 'training' });
}
