import { describe, expect, it } from 'vitest';
import { ModuleScope } from '../../models/module-scope.js';

describe('ModuleScope', () => {
  const root = ModuleScope.root();

  it('names parameters by the dotted module path', () => {
    expect(root.child('layer1').child(0).child('bn1').param('running_mean')).toBe('layer1.0.bn1.running_mean');
    expect(root.param('pos_embed')).toBe('pos_embed');
  });

  it('names nodes like the PyTorch exporter, keeping container indices with their parent', () => {
    expect(root.child('layer1').child(0).child('conv1').nodeName('Conv')).toBe('/layer1/layer1.0/conv1/Conv');
    expect(root.child('layer2').child(0).child('downsample').child(0).nodeName('Conv')).toBe('/layer2/layer2.0/downsample/downsample.0/Conv');
    expect(root.nodeName('Flatten')).toBe('/Flatten');
  });

  it('leaves uncalled ModuleList containers out of node names', () => {
    const layer = root.listItem('layers', 1);
    expect(layer.child('attn').child('q').param('weight')).toBe('layers.1.attn.q.weight');
    expect(layer.child('attn').child('q').nodeName('MatMul')).toBe('/layers.1/attn/q/MatMul');
  });

  it('suffixes the scope of repeated calls of one module', () => {
    const relu = root.child('layer1').child(0).child('relu');
    expect(relu.repeatedCall(0).nodeName('Relu')).toBe('/layer1/layer1.0/relu/Relu');
    expect(relu.repeatedCall(1).nodeName('Relu')).toBe('/layer1/layer1.0/relu_1/Relu');
    expect(relu.repeatedCall(1).param('weight')).toBe('layer1.0.relu.weight');
  });
});
