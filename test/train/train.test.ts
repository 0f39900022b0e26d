import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/index.js';
import { Random } from '../../src/util/random.js';
import { makeDataset } from '../../src/data/dataset.js';
import { buildMultiFashionMnist } from '../../src/data/multi-fashion-mnist.js';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { analyzeModel } from '../../src/analysis/analyze.js';
import { runScan, type ScanConfig } from '../../src/conflict/scan.js';
import { evaluateModel } from '../../src/train/evaluate.js';
import { reinitialize } from '../../src/train/reinit.js';

/** Strided convs keep where things are (the digit is top-left, the item bottom-right). */
function smallSpatialCnn() {
  const b = new GraphBuilder();
  const x = b.input('input', 'float32', ['N', 1, 36, 36]);
  const rng = new Random(1);
  const p = (name: string, dims: number[]) => b.initializer(name, 'float32', dims, rng.fillNormal(new Float32Array(dims.reduce((a, c) => a * c, 1)), 0.05));
  let h = b.op1('Relu', [
    b.op1('Conv', [x, p('conv1.weight', [8, 1, 3, 3]), p('conv1.bias', [8])], { strides: [2, 2], pads: [1, 1, 1, 1] }, { name: '/conv1/Conv' }),
  ]);
  h = b.op1('Relu', [
    b.op1('Conv', [h, p('conv2.weight', [16, 8, 3, 3]), p('conv2.bias', [16])], { strides: [2, 2], pads: [1, 1, 1, 1] }, { name: '/conv2/Conv' }),
  ]);
  h = b.op1('Relu', [b.op1('Gemm', [b.op1('Flatten', [h]), p('fc.weight', [64, 16 * 9 * 9]), p('fc.bias', [64])], { transB: 1 }, { name: '/fc/Gemm' })]);
  for (const t of ['T1', 'T2'])
    b.output(b.op1('Gemm', [h, p(`${t}.weight`, [10, 64]), p(`${t}.bias`, [10])], { transB: 1 }, { name: `/${t}/Gemm`, outputs: [t] }), 'float32', ['N', 10]);
  return b.model(17);
}

describe('training', () => {
  it('on a small subset of Multi-Fashion+MNIST, both tasks end clearly above chance (10%)', async () => {
    const tasks = parseTaskSpec({ tasks: [{ name: 'T1' }, { name: 'T2' }] }, 'test');
    const part = (split: 'train' | 'test', limit: number) => {
      const d = buildMultiFashionMnist({ split, limit, seed: 0 });
      return makeDataset({ input: d.x, T1_target: d.T1_target, T2_target: d.T2_target }, split);
    };
    const model = smallSpatialCnn();
    reinitialize(model, analyzeModel(model, tasks), 0);
    const config: ScanConfig = {
      modelPath: 'cnn',
      dataPath: 'train',
      epochs: 4,
      batchSize: 32,
      seed: 0,
      shuffle: true,
      optimizer: { kind: 'adam', lr: 2e-3, momentum: 0, weightDecay: 0, milestones: [], gamma: 0.1 },
      method: 'ew',
      S: [0],
      batchNorm: 'train',
      device: 'cpu',
    };
    const { trainedModel } = await runScan(model, tasks, part('train', 1536), config);
    const metrics = await evaluateModel(trainedModel!, tasks, part('test', 1000));
    expect(metrics.map((m) => m.count)).toEqual([1000, 1000]);
    for (const m of metrics) expect(m.accuracy!, m.task).toBeGreaterThan(30);
    // The untrained model is at chance, so the training did it.
    const before = await evaluateModel(model, tasks, part('test', 1000));
    for (const m of before) expect(m.accuracy!).toBeLessThan(20);
  });
});
