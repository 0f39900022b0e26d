import type { Model } from '../src/onnx/index.js';
import type { ModuleScope } from './module-scope.js';
import { NetBuilder, type ModelBuildOptions } from './net-builder.js';

export const RESNET18_INPUT_SIZE = 36;
export const RESNET18_FEATURES = 100;
export const RESNET18_CLASSES = 10;
/** Channels of layer1..layer4. */
const STAGE_CHANNELS = [64, 128, 256, 512] as const;

/**
 * Recon's MnistResNet (Multi-Fashion+MNIST): torchvision resnet18 with a 1-channel conv1 and
 * fc 512→100, then per task ReLU → Linear 100→10 (two tasks; `tasks` builds more heads for scaling benchmarks). Spatial sizes for a 36×36 input:
 * conv1 18, maxpool 9, layer1 9, layer2 5, layer3 3, layer4 2.
 */
export function buildResnet18(options: ModelBuildOptions & { /** Task heads T1…Tn (default 2, as Recon's). */ tasks?: number }): Model {
  const net = new NetBuilder(options);
  const root = net.root;
  const x = net.input('input', 'float32', ['N', 1, RESNET18_INPUT_SIZE, RESNET18_INPUT_SIZE]);
  let h = net.conv2d(x, root.child('conv1'), { inChannels: 1, outChannels: 64, kernel: 7, stride: 2, padding: 3, bias: false });
  h = net.relu(net.batchNorm2d(h, root.child('bn1'), 64), root.child('relu'));
  h = net.maxPool2d(h, root.child('maxpool'), { kernel: 3, stride: 2, padding: 1 });
  let channels = 64;
  STAGE_CHANNELS.forEach((outChannels, stage) => {
    const layer = root.child(`layer${stage + 1}`);
    const stride = stage === 0 ? 1 : 2;
    h = basicBlock(net, h, layer.child(0), channels, outChannels, stride);
    h = basicBlock(net, h, layer.child(1), outChannels, outChannels, 1);
    channels = outChannels;
  });
  h = net.flatten(net.globalAveragePool(h, root.child('avgpool')), root);
  const features = net.linear(h, root.child('fc'), channels, RESNET18_FEATURES);
  Array.from({ length: options.tasks ?? 2 }, (_, i) => `T${i + 1}`).forEach((task, i) => {
    const head = root.child(`task${i + 1}`);
    const logits = net.linear(net.relu(features, head.child('relu')), head.child('fc'), RESNET18_FEATURES, RESNET18_CLASSES);
    net.output(logits, task, ['N', RESNET18_CLASSES]);
  });
  return net.model();
}

/** torchvision BasicBlock; a 1×1 conv + BN `downsample` projects the identity when the shape changes. */
function basicBlock(net: NetBuilder, x: string, block: ModuleScope, inChannels: number, outChannels: number, stride: number): string {
  let h = net.conv2d(x, block.child('conv1'), { inChannels, outChannels, kernel: 3, stride, padding: 1, bias: false });
  h = net.relu(net.batchNorm2d(h, block.child('bn1'), outChannels), block.child('relu'));
  h = net.conv2d(h, block.child('conv2'), { inChannels: outChannels, outChannels, kernel: 3, padding: 1, bias: false });
  h = net.batchNorm2d(h, block.child('bn2'), outChannels);
  let identity = x;
  if (stride !== 1 || inChannels !== outChannels) {
    const downsample = block.child('downsample');
    identity = net.conv2d(x, downsample.child(0), { inChannels, outChannels, kernel: 1, stride, bias: false });
    identity = net.batchNorm2d(identity, downsample.child(1), outChannels);
  }
  return net.relu(net.add(h, identity, block), block.child('relu'));
}
