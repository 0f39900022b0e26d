import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDataset, type Dataset } from '../../src/data/dataset.js';
import type { HostTensor } from '../../src/data/host-tensor.js';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { runScan, type ScanCheckpoint, type ScanConfig } from '../../src/conflict/scan.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/conflict/checkpoint.js';
import { createGradientSession } from '../../src/conflict/gradient-session.js';
import { createMethod, type MethodName } from '../../src/conflict/method-registry.js';
import { createOptimizer, type CombinedGradient } from '../../src/conflict/optimizer.js';
import { sumGrams } from '../../src/conflict/gram.js';
import { batchIndices } from '../../src/data/dataset.js';
import { Random } from '../../src/util/random.js';
import { referenceModel } from '../../models/reference-models.js';
import type { ConflictReport } from '../../src/report/schema.js';
import { scanConfig } from '../../src/cli/commands/scan.js';
import { parseArgs } from '../../src/cli/args.js';
import { SCAN_OPTIONS } from '../../src/cli/commands/scan.js';

const TASKS = parseTaskSpec({ tasks: [{ name: 'T1' }, { name: 'T2' }] }, 'test');
const mlp = () => referenceModel('mlp').build({ opset: 17 });
const stripTime = (r: ConflictReport) => ({ ...r, createdAt: '' });

function teacherData(rows: number, seed: number): Dataset {
  const rng = new Random(seed);
  const x = rng.fillNormal(new Float32Array(rows * 16));
  const t1 = new BigInt64Array(rows).map((_, r) => BigInt((x[r * 16]! > 0 ? 1 : 0) + (x[r * 16 + 1]! > 0 ? 2 : 0)));
  const t2 = new BigInt64Array(rows).map((_, r) => BigInt(x[r * 16 + 2]! + x[r * 16]! > 0 ? 1 : 0));
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
  optimizer: { kind: 'adam', lr: 1e-3, momentum: 0, weightDecay: 1e-4, milestones: [], gamma: 0.1 },
  method: 'ew',
  S: [0, -0.02],
  batchNorm: 'train',
  device: 'cpu',
  intraOpThreads: 1,
};

describe('recon scan with the registry methods', () => {
  // 64 rows / batch 16 = 4 steps per epoch: 12 steps reach epoch 2, where DWA starts to weight.
  const stateful: [MethodName, ScanConfig['methodOptions']][] = [
    ['uw', {}],
    ['dwa', {}],
    ['famo', {}],
    ['gradnorm', {}],
    ['nash-mtl', {}],
    ['gradvac', { beta: 0.5 }],
    ['fairgrad', { alpha: 2 }],
    ['rlw', {}],
  ];
  for (const [method, methodOptions] of stateful) {
    it(`${method}: an interrupted scan resumed from its checkpoint equals an uninterrupted one`, async () => {
      const data = teacherData(64, 11);
      const config: ScanConfig = { ...baseConfig, method, methodOptions };
      const whole = await runScan(mlp(), TASKS, data, config);
      expect(whole.report.settings.method).toBe(method);
      expect(whole.checkpoint.method?.method).toBe(method);
      let steps = 0;
      let saved: ScanCheckpoint | undefined;
      await runScan(mlp(), TASKS, data, config, { shouldStop: () => ++steps >= 5, onCheckpoint: (c) => (saved = c) });
      expect(saved!.stepsDone).toBe(5);
      // Through the files on disk, as `recon scan --resume` does.
      const dir = mkdtempSync(join(tmpdir(), 'recon-methods-'));
      try {
        saveCheckpoint(join(dir, 'r.json'), saved!);
        saved = loadCheckpoint(join(dir, 'r.json'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const resumed = await runScan(mlp(), TASKS, data, config, {}, saved);
      expect(stripTime(resumed.report)).toEqual(stripTime(whole.report));
      for (const [name, t] of whole.trainedModel!.graph.initializers) {
        expect(Array.from(resumed.trainedModel!.graph.initializers.get(name)!.data('float32')), name).toEqual(Array.from(t.data('float32')));
      }
      expect(resumed.checkpoint.method).toEqual(whole.checkpoint.method);
    });
  }

  it('a checkpoint without method state cannot resume a stateful method', async () => {
    const data = teacherData(64, 12);
    const config: ScanConfig = { ...baseConfig, method: 'famo' };
    let saved: ScanCheckpoint | undefined;
    let steps = 0;
    await runScan(mlp(), TASKS, data, config, { shouldStop: () => ++steps >= 2, onCheckpoint: (c) => (saved = c) });
    const { method: _m, ...old } = saved!;
    void _m;
    await expect(runScan(mlp(), TASKS, data, config, {}, old)).rejects.toThrow(/no state for method famo/);
  });

  it('applies per-layer weights (GradVac) and loss weights on task-specific parameters (UW), step by step', async () => {
    const data = teacherData(64, 13);
    const sgd = { ...baseConfig.optimizer, kind: 'sgd' as const, lr: 0.05, weightDecay: 0 };
    for (const [method, methodOptions] of [
      ['gradvac', { beta: 1 }],
      ['uw', { init: 0.5 }],
    ] as [MethodName, Record<string, number>][]) {
      const config: ScanConfig = { ...baseConfig, steps: 4, method, methodOptions, optimizer: sgd };
      const model = mlp();
      const { trainedModel } = await runScan(model, TASKS, data, config);

      // The same training written out: per-task gradients from a session, the registry's weights,
      // parameter p of shared layer group k gets Σ_i w^k_i g_i, a head its task's g_t times w_t.
      const session = createGradientSession(model, TASKS, {
        trainableParams: ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'head1.weight', 'head1.bias', 'head2.weight', 'head2.bias'],
      });
      const groups = session.analysis.sharedLayers.map((l) => ({ name: l.name, params: [...new Set(l.params)] }));
      expect(groups.map((g) => g.name)).toEqual(['fc1', 'fc2']);
      const inst = createMethod(method, { tasks: 2, groups: groups.map((g) => g.name) }, methodOptions);
      const params = new Map([...session.options.trainableParams!].map((p) => [p, model.graph.initializers.get(p)!.data('float32').slice()]));
      const optimizer = createOptimizer({ kind: 'sgd', lr: 0.05 });
      const batches = batchIndices(64, 16, { shuffle: true, seed: 3, epoch: 0, dropLast: true });
      let perLayerDiffered = false;
      for (let step = 0; step < 4; step++) {
        const rows = batches[step]!;
        const feeds: Record<string, HostTensor> = {};
        for (const [k, v] of data.arrays) {
          const width = v.data.length / 64;
          const out = new (v.data.constructor as Float32ArrayConstructor)(rows.length * width);
          rows.forEach((r, i) => out.set((v.data as Float32Array).subarray(r * width, (r + 1) * width), i * width));
          feeds[k] = { ...v, dims: [rows.length, ...v.dims.slice(1)], data: out } as HostTensor;
        }
        const paramFeeds = Object.fromEntries(
          [...params].map(([p, v]) => [p, { dtype: 'float32' as const, dims: model.graph.initializers.get(p)!.dims.slice(), data: v }]),
        );
        const r = await session.run(feeds, paramFeeds);
        const out = inst.step({
          step,
          epoch: 0,
          losses: ['T1', 'T2'].map((t) => r.losses[t]!),
          gram: sumGrams([...r.paramGrams.values()], 2),
          groupGrams: groups.map((g) =>
            sumGrams(
              g.params.map((p) => r.paramGrams.get(p)!),
              2,
            ),
          ),
          rng: new Random(3 * 1_000_003 + step),
        });
        if (out.perGroup && out.perGroup[0]!.some((w, i) => w !== out.perGroup![1]![i])) perLayerDiffered = true;
        const grads = new Map<string, CombinedGradient>();
        for (const p of params.keys()) {
          const k = groups.findIndex((g) => g.params.includes(p));
          const tasks = p.startsWith('head1') ? [0] : p.startsWith('head2') ? [1] : [0, 1];
          const w = k >= 0 ? (out.perGroup?.[k] ?? out.shared) : out.taskSpecific;
          grads.set(p, { parts: tasks.map((t) => r.gradients.get(['T1', 'T2'][t]!)!.get(p)!), weights: tasks.map((t) => w[t]!) });
        }
        optimizer.stepCombined(params, grads, 0.05);
        if (inst.learned && out.learnedGradient)
          optimizer.stepCombined(new Map([['method:uw', inst.learned]]), new Map([['method:uw', { parts: [out.learnedGradient], weights: [1] }]]), 0.05);
        inst.afterUpdate?.(undefined);
      }
      await session.release();
      if (method === 'gradvac') expect(perLayerDiffered).toBe(true);
      for (const [p, v] of params) {
        const got = trainedModel!.graph.initializers.get(p)!.data('float32');
        let worst = 0;
        for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(got[i]! - v[i]!));
        expect(worst, `${method} ${p}`).toBeLessThan(1e-6);
      }
    }
  });

  it('CLI: --method lists every method, --method-opt is validated, element-wise methods are refused', () => {
    const parse = (argv: string[]) =>
      scanConfig(parseArgs(argv, SCAN_OPTIONS, 'scan'), 'm.onnx', 'd.npz', { stdout: () => {}, stderr: () => {}, interactive: false });
    expect(parse(['--method', 'gradnorm', '--method-opt', 'alpha=0.5', '--method-opt', 'layer=fc1']).methodOptions).toEqual({ alpha: 0.5, layer: 'fc1' });
    expect(parse(['--method', 'nash-mtl', '--method-opt', 'max_norm=0,update_weights_every=2']).methodOptions).toEqual({
      max_norm: 0,
      update_weights_every: 2,
    });
    expect(parse(['--method', 'ew']).methodOptions).toBeUndefined();
    expect(() => parse(['--method', 'graddrop'])).toThrow(/--method graddrop is not available: GradDrop needs the element-wise signs/);
    expect(() => parse(['--method', 'sgd'])).toThrow(
      /--method must be one of ew, uw, dwa, rlw, gls, famo, gradnorm, mgda, pcgrad, cagrad, imtl-g, nash-mtl, aligned-mtl, upgrad, dualproj, gradvac, fairgrad; got "sgd"/,
    );
    expect(() => parse(['--method', 'dwa', '--method-opt', 'temperature'])).toThrow(/--method-opt must be key=value, got "temperature"/);
    expect(() => parse(['--method', 'dwa', '--method-opt', 'temp=2'])).toThrow(/dwa has no option "temp" \(options: temperature\)/);
    expect(() => parse(['--method', 'cagrad', '--cagrad-alpha', '-1'])).toThrow(/alpha must be ≥ 0/);
  });
});
