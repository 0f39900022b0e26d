import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/index.js';
import { makeDataset } from '../../src/data/dataset.js';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { analyzeModel } from '../../src/analysis/analyze.js';
import { evaluateModel } from '../../src/train/evaluate.js';
import { reinitialize } from '../../src/train/reinit.js';
import { referenceModel } from '../../models/reference-models.js';

/** Outputs are the inputs, so the metrics can be computed by hand. */
function passthrough() {
  const b = new GraphBuilder();
  b.output(b.op1('Identity', [b.input('cls', 'float32', ['N', 3])], {}, { outputs: ['c'] }), 'float32', ['N', 3]);
  b.output(b.op1('Identity', [b.input('seg', 'float32', ['N', 2, 2])], {}, { outputs: ['s'] }), 'float32', ['N', 2, 2]);
  b.output(b.op1('Identity', [b.input('reg', 'float32', ['N', 2])], {}, { outputs: ['r'] }), 'float32', ['N', 2]);
  return b.model(17);
}

describe('evaluateModel', () => {
  it('accuracy, mIoU / pixel accuracy with ignored pixels, absolute and relative error', async () => {
    const tasks = parseTaskSpec(
      {
        tasks: [
          { name: 'c', loss: 'cross_entropy' },
          { name: 's', loss: 'cross_entropy', ignoreIndex: -1 },
          { name: 'r', loss: 'l1' },
        ],
      },
      'test',
    );
    const data = makeDataset({
      // argmax per row: 2, 0
      cls: { dtype: 'float32', dims: [2, 3], data: Float32Array.of(0, 1, 5, 9, 1, 2) },
      c_target: { dtype: 'int64', dims: [2], data: BigInt64Array.of(2n, 1n) },
      // per pixel (class axis 1 of size 2): predictions [1,0] for sample 0, [0,1] for sample 1
      seg: { dtype: 'float32', dims: [2, 2, 2], data: Float32Array.of(0, 5, 1, 0, 3, 0, 0, 4) },
      s_target: { dtype: 'int64', dims: [2, 2], data: BigInt64Array.of(1n, -1n, 0n, 0n) },
      reg: { dtype: 'float32', dims: [2, 2], data: Float32Array.of(1, 2, 3, 4) },
      r_target: { dtype: 'float32', dims: [2, 2], data: Float32Array.of(2, 2, 0, 8) },
    });
    const [c, s, r] = await evaluateModel(passthrough(), tasks, data);
    expect(c!.accuracy).toBeCloseTo(50, 10);
    // Pixels (pred, target): (1,1) (ignored) (0,0) (1,0) → 2 of 3 right; IoU class 0 = 1/2, class 1 = 1/2.
    expect(s!.pixelAccuracy).toBeCloseTo(200 / 3, 10);
    expect(s!.mIoU).toBeCloseTo(50, 10);
    expect(s!.count).toBe(3);
    // |diffs| = 1, 0, 3, 4 → mean 2; relative over nonzero targets: 1/2, 0/2, 4/8 → 1/3.
    expect(r!.absError).toBeCloseTo(2, 10);
    expect(r!.relError).toBeCloseTo(1 / 3, 10);
  });
});

describe('reinitialize', () => {
  it('draws PyTorch-style values: Kaiming-normal convs, BN 1/0 with fresh running stats, Linear U(±1/√fan_in)', () => {
    const model = referenceModel('resnet18').build({ opset: 17, seed: 5 });
    const tasks = parseTaskSpec({ tasks: [{ name: 'T1' }, { name: 'T2' }] }, 't');
    const before = model.graph.initializers.get('layer3.0.conv2.weight')!.data('float32').slice();
    reinitialize(model, analyzeModel(model, tasks), 9);
    const w = model.graph.initializers.get('layer3.0.conv2.weight')!.data('float32');
    expect(Array.from(w.slice(0, 8))).not.toEqual(Array.from(before.slice(0, 8)));
    const std = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / (256 * 9)), 3);
    expect(new Set(model.graph.initializers.get('layer3.0.bn2.weight')!.data('float32'))).toEqual(new Set([1]));
    expect(new Set(model.graph.initializers.get('layer3.0.bn2.running_var')!.data('float32'))).toEqual(new Set([1]));
    const fc = model.graph.initializers.get('fc.weight')!.data('float32');
    const bound = 1 / Math.sqrt(512);
    expect(Math.max(...fc.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...fc.map(Math.abs))).toBeGreaterThan(0.9 * bound);
  });
});
