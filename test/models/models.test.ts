import { describe, expect, it } from 'vitest';
import { loadModel, makeValueInfo, serializeModel, type Model, type Tensor } from '../../src/onnx/index.js';
import { transpose2d } from '../../models/param-init.js';
import { REFERENCE_MODELS, REFERENCE_OPSETS, referenceModel } from '../../models/reference-models.js';
import { concreteDims, countParameters, floatData, maxAbsDifference, randomFeed, runModel } from './reference-helpers.js';

const BATCH = 2;
const cache = new Map<string, Model>();

/** Builds once per (model, opset, seed): ResNet-18 takes a noticeable moment. */
function built(name: string, opset: number, seed = 0): Model {
  const key = `${name}@${opset}#${seed}`;
  let model = cache.get(key);
  if (!model) cache.set(key, (model = referenceModel(name).build({ opset, seed })));
  return model;
}

function floats(t: Tensor): Float32Array {
  return t.data('float32');
}

function nodeNames(model: Model): Set<string> {
  return new Set(model.graph.nodes.map((n) => n.name));
}

/** Initializer name → op type of the node that reads it. */
function consumerTypes(model: Model): Map<string, string> {
  const types = new Map<string, string>();
  for (const n of model.graph.nodes) for (const i of n.inputs) if (model.graph.initializers.has(i)) types.set(i, n.opType);
  return types;
}

function opTypes(model: Model): string[] {
  return model.graph.nodes.map((n) => n.opType);
}

describe.each(REFERENCE_MODELS.map((r) => [r.name, r] as const))('%s', (name, reference) => {
  it.each(REFERENCE_OPSETS)('serialises byte-identically for the same seed at opset %i', (opset) => {
    const a = serializeModel(built(name, opset, 0));
    const b = serializeModel(reference.build({ opset, seed: 0 }));
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    expect(built(name, opset).opset()).toBe(opset);
  });

  it('draws different random weights for a different seed', () => {
    const a = built(name, 13, 0);
    const b = built(name, 13, 1);
    let randomTensors = 0;
    for (const [key, tensor] of a.graph.initializers) {
      const values = floats(tensor);
      if (values.every((v) => v === values[0])) continue; // constant inits (BN, LN) do not depend on the seed
      randomTensors++;
      expect(maxAbsDifference(values, floats(b.graph.initializers.get(key)!)), key).toBeGreaterThan(0);
    }
    expect(randomTensors).toBeGreaterThan(0);
  });

  it('holds the same named parameters at opset 13 and 17', () => {
    const model13 = built(name, 13);
    const model17 = built(name, 17);
    const op13 = model13.graph.initializers;
    const op17 = model17.graph.initializers;
    expect([...op17.keys()].sort()).toEqual([...op13.keys()].sort());
    const reader13 = consumerTypes(model13);
    const reader17 = consumerTypes(model17);
    for (const [key, t13] of op13) {
      const t17 = op17.get(key)!;
      if (reader13.get(key) === 'Gemm' && reader17.get(key) === 'MatMul') {
        // Gemm [out, in] at 13 vs MatMul [in, out] at 17: the same Linear weight, transposed.
        expect(t17.dims, key).toEqual([t13.dims[1], t13.dims[0]]);
        expect(maxAbsDifference(transpose2d(floats(t13), t13.dims[0]!, t13.dims[1]!), floats(t17)), key).toBe(0);
      } else {
        expect(t17.dims, key).toEqual(t13.dims);
        expect(maxAbsDifference(floats(t13), floats(t17)), key).toBe(0);
      }
    }
  });

  it('declares its interface: input, outputs with a symbolic batch, and tasks on those outputs', () => {
    for (const opset of REFERENCE_OPSETS) {
      const graph = built(name, opset).graph;
      expect(graph.inputNames).toEqual([reference.input.name]);
      expect(graph.outputNames).toEqual(Object.keys(reference.outputs));
      expect(graph.inputs[0]!.type?.tensorType?.shape?.dim?.[0]?.dimParam).toBe('N');
      for (const o of graph.outputs) expect(o.type?.tensorType?.shape?.dim?.[0]?.dimParam).toBe('N');
    }
    expect(reference.tasks.tasks.map((t) => t.output)).toEqual(Object.keys(reference.outputs));
    for (const task of reference.tasks.tasks) expect(reference.heads[task.name], task.name).toBeDefined();
  });

  it('has the expected parameter counts', () => {
    for (const opset of REFERENCE_OPSETS) {
      const counts = countParameters(built(name, opset), reference.heads);
      expect(counts.total).toBe(reference.expected.parameters);
      expect(counts.shared).toBe(reference.expected.sharedParameters);
      expect(counts.sharedLayers.length).toBe(reference.expected.sharedLayers);
      expect(counts.perTask).toEqual(reference.expected.taskParameters);
    }
  });

  it('runs in onnxruntime with the declared output shapes, finite outputs, and op13 ≡ op17', async () => {
    const feeds = randomFeed(reference, BATCH, 11);
    const [op13, op17] = await Promise.all(REFERENCE_OPSETS.map((opset) => runModel(built(name, opset), feeds)));
    for (const [output, dims] of Object.entries(reference.outputs)) {
      const a = floatData(op13![output]);
      const b = floatData(op17![output]);
      expect(op13![output]!.dims, output).toEqual(concreteDims(dims, BATCH));
      expect(op17![output]!.dims, output).toEqual(concreteDims(dims, BATCH));
      expect(a.every(Number.isFinite), output).toBe(true);
      expect(
        a.some((v) => v !== 0),
        output,
      ).toBe(true);
      expect(maxAbsDifference(a, b), output).toBeLessThanOrEqual(1e-5);
    }
  });
});

describe('op forms per opset', () => {
  it('mlp: Gemm(transB=1) at 13, MatMul + Add at 17, with the same layer names', () => {
    const op13 = built('mlp', 13);
    const op17 = built('mlp', 17);
    expect(opTypes(op13).filter((t) => t === 'Gemm')).toHaveLength(4);
    expect(opTypes(op13)).not.toContain('MatMul');
    expect(op13.graph.nodes.find((n) => n.name === '/fc1/Gemm')!.attrs.int('transB', 0)).toBe(1);
    expect(opTypes(op17)).not.toContain('Gemm');
    expect(nodeNames(op17)).toEqual(
      new Set([
        '/fc1/MatMul',
        '/fc1/Add',
        '/relu/Relu',
        '/fc2/MatMul',
        '/fc2/Add',
        '/relu_1/Relu',
        '/head1/MatMul',
        '/head1/Add',
        '/head2/MatMul',
        '/head2/Add',
      ]),
    );
    expect(op17.graph.initializers.get('fc1.weight')!.dims).toEqual([16, 32]);
    expect(op13.graph.initializers.get('fc1.weight')!.dims).toEqual([32, 16]);
  });

  it('transformer: LayerNormalization at 17, decomposed at 13 with the same LN parameter names', () => {
    const op13 = built('transformer', 13);
    const op17 = built('transformer', 17);
    expect(opTypes(op17).filter((t) => t === 'LayerNormalization')).toHaveLength(5);
    expect(opTypes(op13)).not.toContain('LayerNormalization');
    const decomposed = op13.graph.nodes.filter((n) => n.name.startsWith('/layers.0/norm1/')).map((n) => n.opType);
    expect(decomposed).toEqual(['ReduceMean', 'Sub', 'Constant', 'Pow', 'ReduceMean', 'Constant', 'Add', 'Sqrt', 'Div', 'Mul', 'Add']);
    for (const model of [op13, op17]) {
      expect(model.graph.initializers.get('layers.0.norm1.weight')!.dims).toEqual([32]);
      expect(model.graph.initializers.get('layers.1.norm2.bias')!.dims).toEqual([32]);
      const pool = model.graph.nodes.find((n) => n.opType === 'ReduceMean' && n.name === '/ReduceMean')!;
      expect(pool.inputs).toHaveLength(1);
      expect(pool.attrs.ints('axes')).toEqual([1]);
      expect(pool.attrs.int('keepdims', 1)).toBe(0);
    }
    const names = nodeNames(op17);
    for (const n of [
      '/embed/Gather',
      '/layers.0/norm1/LayerNormalization',
      '/layers.0/attn/q/MatMul',
      '/layers.0/attn/Softmax',
      '/layers.1/mlp/act/Erf',
      '/norm/LayerNormalization',
      '/cls/Gemm',
    ]) {
      expect(names.has(n), n).toBe(true);
    }
    expect(op17.graph.initializers.get('layers.0.mlp.fc1.weight')!.dims).toEqual([32, 64]);
    expect(op17.graph.initializers.get('embed.weight')!.dims).toEqual([50, 32]);
    expect(op17.graph.initializers.get('pos_embed')!.dims).toEqual([1, 12, 32]);
  });

  it('encdec: Resize linear with scales, pytorch_half_pixel at 13 and half_pixel at 17', () => {
    for (const [opset, mode] of [
      [13, 'pytorch_half_pixel'],
      [17, 'half_pixel'],
    ] as const) {
      const resizes = built('encdec', opset).graph.nodes.filter((n) => n.opType === 'Resize');
      expect(resizes.map((n) => n.name)).toEqual(['/up2/Resize', '/up1/Resize']);
      for (const r of resizes) {
        expect(r.attrs.string('mode', '')).toBe('linear');
        expect(r.attrs.string('coordinate_transformation_mode', '')).toBe(mode);
        expect(r.inputs).toHaveLength(3);
      }
    }
  });

  it('BatchNormalization: eval form has one output; training form has 5 outputs at 13 and training_mode=1 with 3 at 17', () => {
    for (const opset of REFERENCE_OPSETS) {
      for (const bn of built('cnn', opset).graph.nodes.filter((n) => n.opType === 'BatchNormalization')) {
        expect(bn.outputs).toHaveLength(1);
        expect(bn.attrs.has('training_mode')).toBe(false);
      }
    }
    const train13 = built('cnn_trainbn', 13).graph.nodes.filter((n) => n.opType === 'BatchNormalization');
    const train17 = built('cnn_trainbn', 17).graph.nodes.filter((n) => n.opType === 'BatchNormalization');
    expect(train13).toHaveLength(3);
    for (const bn of train13) {
      expect(bn.outputs).toHaveLength(5);
      expect(bn.attrs.has('training_mode')).toBe(false);
    }
    expect(train17).toHaveLength(3);
    for (const bn of train17) {
      expect(bn.outputs).toHaveLength(3);
      expect(bn.attrs.int('training_mode', 0)).toBe(1);
    }
  });

  it('training-form BatchNormalization normalises with batch statistics in onnxruntime', async () => {
    const feeds = randomFeed(referenceModel('cnn'), 4, 5);
    const evalOut = floatData((await runModel(built('cnn', 17), feeds)).T1);
    const trainOut = floatData((await runModel(built('cnn_trainbn', 13), feeds)).T1);
    // Running stats are (0, 1) so eval BN is the identity; batch statistics change the logits.
    expect(maxAbsDifference(evalOut, trainOut)).toBeGreaterThan(1e-3);
  });
});

describe('resnet18 (Recon MnistResNet)', () => {
  it('names layers like torchvision and has 20 convs and 20 BNs before the shared fc', () => {
    const model = built('resnet18', 13);
    const inits = model.graph.initializers;
    for (const n of [
      'conv1.weight',
      'bn1.running_var',
      'layer1.0.conv1.weight',
      'layer1.0.bn1.weight',
      'layer1.0.bn1.bias',
      'layer1.0.bn1.running_mean',
      'layer2.0.downsample.0.weight',
      'layer4.0.downsample.1.bias',
      'fc.weight',
      'fc.bias',
      'task1.fc.weight',
      'task2.fc.bias',
    ]) {
      expect(inits.has(n), n).toBe(true);
    }
    expect(inits.has('layer1.0.downsample.0.weight')).toBe(false);
    expect(inits.get('layer4.1.conv2.weight')!.dims).toEqual([512, 512, 3, 3]);
    expect(inits.get('fc.weight')!.dims).toEqual([100, 512]);
    expect(inits.get('task1.fc.weight')!.dims).toEqual([10, 100]);
    const names = nodeNames(model);
    for (const n of [
      '/conv1/Conv',
      '/maxpool/MaxPool',
      '/layer1/layer1.0/conv1/Conv',
      '/layer1/layer1.0/bn1/BatchNormalization',
      '/layer1/layer1.0/relu/Relu',
      '/layer1/layer1.0/relu_1/Relu',
      '/layer1/layer1.0/Add',
      '/layer2/layer2.0/downsample/downsample.0/Conv',
      '/layer2/layer2.0/downsample/downsample.1/BatchNormalization',
      '/avgpool/GlobalAveragePool',
      '/Flatten',
      '/fc/Gemm',
      '/task1/relu/Relu',
      '/task2/fc/Gemm',
    ]) {
      expect(names.has(n), n).toBe(true);
    }
    expect(opTypes(model).filter((t) => t === 'Conv')).toHaveLength(20);
    expect(opTypes(model).filter((t) => t === 'BatchNormalization')).toHaveLength(20);
  });

  it('initialises like PyTorch: Kaiming normal (fan_out) convs, BN γ=1 β=0, Linear U(±1/√fan_in)', () => {
    const inits = built('resnet18', 13).graph.initializers;
    const conv = floats(inits.get('layer4.1.conv2.weight')!);
    const std = Math.sqrt(conv.reduce((s, v) => s + v * v, 0) / conv.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / (512 * 9)), 4);
    expect(floats(inits.get('layer3.0.bn2.weight')!).every((v) => v === 1)).toBe(true);
    expect(floats(inits.get('layer3.0.bn2.bias')!).every((v) => v === 0)).toBe(true);
    expect(floats(inits.get('layer3.0.bn2.running_var')!).every((v) => v === 1)).toBe(true);
    const bound = 1 / Math.sqrt(512);
    const fc = floats(inits.get('fc.weight')!);
    expect(fc.every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(Math.max(...fc)).toBeGreaterThan(0.99 * bound);
  });

  it('produces feature maps of 18, 9, 9, 5, 3, 2 pixels for a 36×36 input', async () => {
    const model = loadModel(serializeModel(built('resnet18', 17)));
    const probes = [
      '/relu/Relu_output_0',
      '/maxpool/MaxPool_output_0',
      '/layer1/layer1.1/relu_1/Relu_output_0',
      '/layer2/layer2.1/relu_1/Relu_output_0',
      '/layer3/layer3.1/relu_1/Relu_output_0',
      '/layer4/layer4.1/relu_1/Relu_output_0',
    ];
    for (const p of probes) model.graph.outputs.push(makeValueInfo(p, 'float32', undefined));
    const out = await runModel(model, randomFeed(referenceModel('resnet18'), BATCH, 2));
    expect(probes.map((p) => out[p]!.dims)).toEqual([
      [BATCH, 64, 18, 18],
      [BATCH, 64, 9, 9],
      [BATCH, 64, 9, 9],
      [BATCH, 128, 5, 5],
      [BATCH, 256, 3, 3],
      [BATCH, 512, 2, 2],
    ]);
  });
});
