import { float, type Model } from '../src/onnx/index.js';
import type { ModuleScope } from './module-scope.js';
import { NetBuilder, type ModelBuildOptions } from './net-builder.js';

export const ENCDEC_INPUT_SIZE = 32;
export const ENCDEC_SEG_CLASSES = 7;

/**
 * A small U-Net-like dense predictor (stands in for Recon's SegNet on CityScapes):
 * enc1(3→8) → pool → enc2(8→16) → pool → bottleneck(16→16) → up ×2 → cat enc2 → dec2(32→16) →
 * up ×2 → cat enc1 → dec1(24→8) → `seg` 1×1 (8→7 classes per pixel) and `depth` 1×1 (8→1).
 * Each enc/dec/bottleneck stage is conv3×3 (bias) + BN + ReLU.
 */
export function buildEncDec(options: ModelBuildOptions): Model {
  const net = new NetBuilder(options);
  const root = net.root;
  const x = net.input('input', 'float32', ['N', 3, ENCDEC_INPUT_SIZE, ENCDEC_INPUT_SIZE]);
  const pool = { kernel: 2, stride: 2 };
  const enc1 = convBnRelu(net, x, root.child('enc1'), 3, 8);
  const enc2 = convBnRelu(net, net.maxPool2d(enc1, root.child('pool1'), pool), root.child('enc2'), 8, 16);
  const bottleneck = convBnRelu(net, net.maxPool2d(enc2, root.child('pool2'), pool), root.child('bottleneck'), 16, 16);
  const dec2 = convBnRelu(net, net.concat([upsample2x(net, bottleneck, root.child('up2')), enc2], 1, root), root.child('dec2'), 32, 16);
  const dec1 = convBnRelu(net, net.concat([upsample2x(net, dec2, root.child('up1')), enc1], 1, root), root.child('dec1'), 24, 8);
  const size = ENCDEC_INPUT_SIZE;
  const seg = net.conv2d(dec1, root.child('seg'), { inChannels: 8, outChannels: ENCDEC_SEG_CLASSES, kernel: 1, bias: true });
  net.output(seg, 'seg', ['N', ENCDEC_SEG_CLASSES, size, size]);
  const depth = net.conv2d(dec1, root.child('depth'), { inChannels: 8, outChannels: 1, kernel: 1, bias: true });
  net.output(depth, 'depth', ['N', 1, size, size]);
  return net.model();
}

function convBnRelu(net: NetBuilder, x: string, stage: ModuleScope, inChannels: number, outChannels: number): string {
  const h = net.conv2d(x, stage.child('conv'), { inChannels, outChannels, kernel: 3, padding: 1, bias: true });
  return net.relu(net.batchNorm2d(h, stage.child('bn'), outChannels), stage.child('relu'));
}

/**
 * nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False). PyTorch writes
 * `pytorch_half_pixel` at opset 13; for outputs larger than one pixel it equals `half_pixel`.
 */
function upsample2x(net: NetBuilder, x: string, module: ModuleScope): string {
  const scope = net.call(module);
  const scales = net.constant(scope, 'float32', [4], Float32Array.of(1, 1, 2, 2));
  return net.node1(scope, 'Resize', [x, '', scales], {
    coordinate_transformation_mode: net.opset >= 17 ? 'half_pixel' : 'pytorch_half_pixel',
    cubic_coeff_a: float(-0.75),
    mode: 'linear',
    nearest_mode: 'floor',
  });
}
