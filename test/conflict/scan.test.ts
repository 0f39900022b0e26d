import { describe, expect, it } from 'vitest';
import { makeDataset, type Dataset } from '../../src/data/dataset.js';
import type { HostTensor } from '../../src/data/host-tensor.js';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { runScan, type ScanCheckpoint, type ScanConfig } from '../../src/conflict/scan.js';
import { createGradientSession } from '../../src/conflict/gradient-session.js';
import { mergeReports } from '../../src/report/merge.js';
import { Random } from '../../src/util/random.js';
import { referenceModel } from '../../models/reference-models.js';
import type { ConflictReport } from '../../src/report/schema.js';

const TASKS = parseTaskSpec({ tasks: [{ name: 'T1' }, { name: 'T2' }] }, 'test');

/** MLP inputs with labels from a fixed random teacher, so a few SGD steps can learn something. */
function teacherData(rows: number, seed: number): Dataset {
  const rng = new Random(seed);
  const x = rng.fillNormal(new Float32Array(rows * 16));
  const w1 = rng.fillNormal(new Float32Array(16 * 5));
  const w2 = rng.fillNormal(new Float32Array(16 * 3));
  const argmax = (w: Float32Array, k: number, r: number): bigint => {
    let best = 0;
    let bestValue = -Infinity;
    for (let c = 0; c < k; c++) {
      let v = 0;
      for (let i = 0; i < 16; i++) v += x[r * 16 + i]! * w[i * k + c]!;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    return BigInt(best);
  };
  const t1 = new BigInt64Array(rows).map((_, r) => argmax(w1, 5, r));
  const t2 = new BigInt64Array(rows).map((_, r) => argmax(w2, 3, r));
  const arrays: Record<string, HostTensor> = {
    input: { dtype: 'float32', dims: [rows, 16], data: x },
    T1_target: { dtype: 'int64', dims: [rows], data: t1 },
    T2_target: { dtype: 'int64', dims: [rows], data: t2 },
  };
  return makeDataset(arrays, 'teacher');
}

const baseConfig: ScanConfig = {
  modelPath: 'mlp',
  dataPath: 'teacher',
  steps: 12,
  batchSize: 16,
  seed: 3,
  shuffle: true,
  optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-4, milestones: [], gamma: 0.1 },
  method: 'ew',
  S: [0, -0.02, -0.05, -0.1],
  batchNorm: 'train',
  device: 'cpu',
  intraOpThreads: 1,
  recordSteps: true,
};

const mlp = () => referenceModel('mlp').build({ opset: 17 });
const stripTime = (r: ConflictReport) => ({ ...r, createdAt: '' });

describe('recon scan', () => {
  it('scores equal a direct count of the recorded per-step cosines, for every S', async () => {
    const { report, recorded } = await runScan(mlp(), TASKS, teacherData(256, 1), baseConfig);
    const [steps, layers, pairs] = [report.progress.stepsDone, report.layers.length, report.pairs.length];
    expect(recorded!.length).toBe(steps * layers * pairs);
    report.layers.forEach((layer, l) => {
      for (const s of layer.scores) {
        let count = 0;
        for (let k = 0; k < steps; k++) if (recorded![(k * layers + l) * pairs]! < s.S) count++;
        expect(layer.scores.find((x) => x.S === s.S)!.score).toBe(count);
      }
    });
    // Recorded float32 cosines are the float64 ones rounded: recount from the checkpoint's exact values.
    expect(report.layers.map((l) => l.name)).toEqual(['fc1', 'fc2']);
  });

  it('one SGD step equals θ − lr·(g_T1 + g_T2) on shared and θ − lr·g_t on task parameters', async () => {
    const model = mlp();
    const data = teacherData(64, 2);
    const config: ScanConfig = { ...baseConfig, steps: 1, shuffle: false, optimizer: { ...baseConfig.optimizer, momentum: 0, weightDecay: 0 } };
    const { trainedModel } = await runScan(model, TASKS, data, config);
    const session = createGradientSession(model, TASKS, { trainableParams: ['fc1.weight', 'head1.weight', 'head2.bias'] });
    const feeds: Record<string, HostTensor> = {};
    for (const [k, v] of data.arrays) feeds[k] = { ...v, dims: [16, ...v.dims.slice(1)], data: v.data.slice(0, (v.data.length / 64) * 16) } as HostTensor;
    const step = await session.run(feeds);
    await session.release();
    const check = (p: string, tasks: string[]) => {
      const before = model.graph.initializers.get(p)!.data('float32');
      const after = trainedModel!.graph.initializers.get(p)!.data('float32');
      for (let i = 0; i < before.length; i += 7) {
        const g = tasks.reduce((a, t) => a + step.gradients.get(t)!.get(p)![i]!, 0);
        expect(after[i]!).toBeCloseTo(before[i]! - 0.05 * g, 6);
      }
    };
    check('fc1.weight', ['T1', 'T2']);
    check('head1.weight', ['T1']);
    check('head2.bias', ['T2']);
  });

  it('SGD lowers both losses on learnable data', async () => {
    const { report } = await runScan(mlp(), TASKS, teacherData(512, 4), { ...baseConfig, steps: 60, recordSteps: false });
    for (const t of ['T1', 'T2']) {
      const l = report.losses.perTask[t]!;
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(l.slice(-10))).toBeLessThan(mean(l.slice(0, 10)) * 0.9);
    }
  });

  it('same seed and data give the identical report apart from timestamps', async () => {
    const a = await runScan(mlp(), TASKS, teacherData(256, 5), { ...baseConfig, method: 'pcgrad' });
    const b = await runScan(mlp(), TASKS, teacherData(256, 5), { ...baseConfig, method: 'pcgrad' });
    expect(stripTime(b.report)).toEqual(stripTime(a.report));
    const c = await runScan(mlp(), TASKS, teacherData(256, 5), { ...baseConfig, method: 'pcgrad', seed: 4 });
    expect(stripTime(c.report)).not.toEqual(stripTime(a.report));
  });

  it('an interrupted scan resumed from its checkpoint equals an uninterrupted one', async () => {
    const data = teacherData(256, 6);
    const config: ScanConfig = { ...baseConfig, method: 'cagrad', optimizer: { ...baseConfig.optimizer, kind: 'adam', lr: 1e-3 } };
    const whole = await runScan(mlp(), TASKS, data, config);
    let steps = 0;
    let saved: ScanCheckpoint | undefined;
    const first = await runScan(mlp(), TASKS, data, config, { shouldStop: () => ++steps >= 5, onCheckpoint: (c) => (saved = c) });
    expect(first.report.partial).toBe(true);
    expect(first.report.progress.stepsDone).toBe(5);
    const resumed = await runScan(mlp(), TASKS, data, config, {}, saved);
    expect(resumed.report.partial).toBe(false);
    expect(stripTime(resumed.report)).toEqual(stripTime(whole.report));
    for (const [name, t] of whole.trainedModel!.graph.initializers) {
      expect(Array.from(resumed.trainedModel!.graph.initializers.get(name)!.data('float32'))).toEqual(Array.from(t.data('float32')));
    }
    // A checkpoint from other settings is refused.
    await expect(runScan(mlp(), TASKS, data, { ...config, seed: 99 }, {}, saved)).rejects.toThrow(/cannot resume/);
  });

  it('static scans split into shards and merged give the same scores as one run', async () => {
    const data = teacherData(256, 7);
    const config: ScanConfig = { ...baseConfig, steps: 9, optimizer: { ...baseConfig.optimizer, kind: 'none' } };
    const single = await runScan(mlp(), TASKS, data, config);
    const shards = await Promise.all([0, 1, 2].map((index) => runScan(mlp(), TASKS, data, { ...config, shard: { index, count: 3 } })));
    expect(shards.map((s) => s.report.progress.stepsDone)).toEqual([3, 3, 3]);
    const merged = mergeReports(shards.map((s) => s.report));
    expect(merged.layers.map((l) => l.scores)).toEqual(single.report.layers.map((l) => l.scores));
    expect(merged.trunk.histogram).toEqual(single.report.trunk.histogram);
    await expect(runScan(mlp(), TASKS, data, { ...baseConfig, shard: { index: 0, count: 2 } })).rejects.toThrow(/static scans only/);
  });

  it('bad input: missing target, wrong input shape, too few rows, a NaN loss', async () => {
    const good = teacherData(64, 8);
    const without = makeDataset(new Map([...good.arrays].filter(([k]) => k !== 'T2_target')), 'no-t2.npz');
    await expect(runScan(mlp(), TASKS, without, baseConfig)).rejects.toThrow(/no array "T2_target" \(arrays: input, T1_target\)/);
    const wrong = makeDataset({ ...Object.fromEntries(good.arrays), input: { dtype: 'float32', dims: [64, 8], data: new Float32Array(512) } }, 'wrong.npz');
    await expect(runScan(mlp(), TASKS, wrong, baseConfig)).rejects.toThrow(/array "input": expected shape \[N,16\] \(any dtype\), got \[64,8\]/);
    await expect(runScan(mlp(), TASKS, good, { ...baseConfig, batchSize: 128 })).rejects.toThrow(/64 rows, fewer than one batch of 128/);
    const x = (good.arrays.get('input')!.data as Float32Array).slice();
    x.fill(NaN, 16 * 16 * 2);
    const nan = makeDataset({ ...Object.fromEntries(good.arrays), input: { dtype: 'float32', dims: [64, 16], data: x } }, 'nan.npz');
    const err = (await runScan(mlp(), TASKS, nan, { ...baseConfig, shuffle: false }).then(
      () => new Error('expected the scan to stop'),
      (e: unknown) => e,
    )) as Error & { partial?: { report: ConflictReport } };
    expect((err as Error).message).toMatch(/loss of task "T1" is NaN at step 2; the partial report keeps the 2 finished steps/);
    expect(err.partial!.report.partial).toBe(true);
    expect(err.partial!.report.progress.stepsDone).toBe(2);

    // Finite losses with overflowing gradients (inputs of 1e30: the logits and losses stay finite,
    // the squared gradient norms in the Grams do not) stop the scan the same way.
    const big = (good.arrays.get('input')!.data as Float32Array).map((v, i) => (i >= 16 * 16 * 3 ? v * 1e30 : v));
    const huge = makeDataset({ ...Object.fromEntries(good.arrays), input: { dtype: 'float32', dims: [64, 16], data: big } }, 'huge.npz');
    const overflow = (await runScan(mlp(), TASKS, huge, { ...baseConfig, shuffle: false, optimizer: { ...baseConfig.optimizer, kind: 'none' } }).then(
      () => new Error('expected the scan to stop'),
      (e: unknown) => e,
    )) as Error & { partial?: { report: ConflictReport } };
    expect(overflow.message).toMatch(/the task gradients of layer "\w+" are not finite at step 3; the partial report keeps the 3 finished steps/);
    expect(overflow.partial!.report.progress.stepsDone).toBe(3);
  });
});
