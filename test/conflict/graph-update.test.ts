/**
 * The training step's update inside the graph (src/autodiff/update-graph.ts, the scan's `graph`
 * and `two-phase` paths) against the host path and against SGD / momentum / Adam steps computed
 * by hand in float64 from the per-task gradients.
 */
import { describe, expect, it } from 'vitest';
import { makeDataset, type Dataset } from '../../src/data/dataset.js';
import type { HostTensor } from '../../src/data/host-tensor.js';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { runScan, type ScanCheckpoint, type ScanConfig } from '../../src/conflict/scan.js';
import { createGradientSession } from '../../src/conflict/gradient-session.js';
import { chooseUpdatePath } from '../../src/conflict/graph-update.js';
import { createMethod, type MethodName } from '../../src/conflict/method-registry.js';
import type { Model } from '../../src/onnx/model.js';
import { Random } from '../../src/util/random.js';
import { referenceModel } from '../../models/reference-models.js';

const TASKS = parseTaskSpec({ tasks: [{ name: 'T1' }, { name: 'T2' }] }, 'test');

/** Random inputs and labels in {0, 1} (valid for every head of the reference models). */
function randomData(rows: number, inputDims: number[], seed: number): Dataset {
  const rng = new Random(seed);
  const per = inputDims.reduce((a, b) => a * b, 1);
  const label = () => BigInt(rng.int(2));
  return makeDataset(
    {
      input: { dtype: 'float32', dims: [rows, ...inputDims], data: rng.fillNormal(new Float32Array(rows * per)) },
      T1_target: { dtype: 'int64', dims: [rows], data: BigInt64Array.from({ length: rows }, label) },
      T2_target: { dtype: 'int64', dims: [rows], data: BigInt64Array.from({ length: rows }, label) },
    },
    'random',
  );
}

const config = (over: Partial<ScanConfig>): ScanConfig => ({
  modelPath: 'm',
  dataPath: 'random',
  steps: 4,
  batchSize: 8,
  seed: 5,
  shuffle: false,
  optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-3, milestones: [2], gamma: 0.5 },
  method: 'ew',
  S: [0],
  batchNorm: 'train',
  device: 'cpu',
  intraOpThreads: 1,
  ...over,
});

/**
 * Both scans' parameters agree to float32 rounding: each element within 2e-6·max|θ| of the other,
 * and the update θ − θ₀ itself within 1e-4 of its size (so the test sees the update, not only the
 * unchanged bulk of the weights).
 */
function expectSameParams(a: ScanCheckpoint, b: ScanCheckpoint, model: Model): void {
  expect(Object.keys(b.params).sort()).toEqual(Object.keys(a.params).sort());
  for (const [p, va] of Object.entries(a.params)) {
    const vb = b.params[p]!;
    const v0 = model.graph.initializers.get(p)!.data('float32');
    let scale = 0;
    let moved = 0;
    let diff = 0;
    for (let i = 0; i < va.length; i++) {
      scale = Math.max(scale, Math.abs(va[i]!));
      moved = Math.max(moved, Math.abs(va[i]! - v0[i]!));
      diff = Math.max(diff, Math.abs(va[i]! - vb[i]!));
    }
    expect(moved, `${p} did not move`).toBeGreaterThan(0);
    expect(diff, `${p}: max |Δ| ${diff}, max |θ − θ₀| ${moved}`).toBeLessThanOrEqual(Math.max(2e-6 * scale, 1e-4 * moved));
  }
}

describe('in-graph training update', () => {
  const cases: { model: 'mlp' | 'cnn_trainbn'; method: MethodName; optimizer: Partial<ScanConfig['optimizer']>; path: string }[] = [
    { model: 'mlp', method: 'ew', optimizer: {}, path: 'graph' },
    { model: 'mlp', method: 'ew', optimizer: { momentum: 0, weightDecay: 0 }, path: 'graph' },
    { model: 'mlp', method: 'rlw', optimizer: { kind: 'adam', lr: 1e-3, weightDecay: 1e-2 }, path: 'graph' },
    { model: 'mlp', method: 'ew', optimizer: { kind: 'adam', lr: 1e-2, weightDecay: 0 }, path: 'graph' },
    { model: 'mlp', method: 'pcgrad', optimizer: {}, path: 'two-phase' },
    { model: 'mlp', method: 'gradvac', optimizer: { kind: 'adam', lr: 1e-3 }, path: 'two-phase' },
    { model: 'mlp', method: 'uw', optimizer: {}, path: 'two-phase' },
    { model: 'mlp', method: 'famo', optimizer: {}, path: 'two-phase' },
    { model: 'cnn_trainbn', method: 'ew', optimizer: {}, path: 'graph' },
    { model: 'cnn_trainbn', method: 'mgda', optimizer: { kind: 'adam', lr: 1e-3 }, path: 'two-phase' },
  ];
  for (const c of cases) {
    const label = `${c.model}, ${c.method}, ${c.optimizer.kind ?? 'sgd'}${c.optimizer.momentum === 0 ? ' plain' : ''}`;
    it(`${label}: the ${c.path} path equals the host path`, async () => {
      const seed = c.method.length * 7 + (c.model === 'mlp' ? 1 : 2);
      const model = referenceModel(c.model).build({ opset: 17, seed });
      const data = c.model === 'mlp' ? randomData(32, [16], seed) : randomData(32, [1, 36, 36], seed);
      const base = config({ method: c.method, optimizer: { ...config({}).optimizer, ...c.optimizer } });
      const host = await runScan(model, TASKS, data, { ...base, update: 'host' });
      const graph = await runScan(model, TASKS, data, { ...base, update: 'graph' });
      expect(host.updatePath).toBe('host');
      expect(graph.updatePath).toBe(c.path);
      host.checkpoint.losses.forEach((row, s) =>
        row.forEach((l, t) => expect(Math.abs(graph.checkpoint.losses[s]![t]! - l), `step ${s} task ${t}`).toBeLessThanOrEqual(1e-5 * Math.abs(l))),
      );
      expectSameParams(host.checkpoint, graph.checkpoint, model);
      // The optimizer state (momentum buffers, Adam moments, step counts) in the checkpoint format.
      const hs = host.checkpoint.optimizer!;
      const gs = graph.checkpoint.optimizer!;
      expect(gs.header).toEqual(hs.header);
      expect(Object.keys(gs.buffers).sort()).toEqual(Object.keys(hs.buffers).sort());
      for (const [k, v] of Object.entries(hs.buffers)) {
        let scale = 0;
        let diff = 0;
        for (let i = 0; i < v.length; i++) {
          scale = Math.max(scale, Math.abs(v[i]!));
          diff = Math.max(diff, Math.abs(v[i]! - gs.buffers[k]![i]!));
        }
        expect(diff, `buffer ${k}`).toBeLessThanOrEqual(1e-4 * scale);
      }
      // BN running statistics travel the same way on both paths.
      for (const [k, v] of Object.entries(host.checkpoint.runningStats)) {
        const w = graph.checkpoint.runningStats[k]!;
        v.forEach((x, i) => expect(Math.abs(w[i]! - x)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(x))));
      }
    });
  }

  /**
   * Two steps by hand in float64 from the per-task gradients at θ₀ and θ₁ (each from a gradient
   * session fed those parameters): the combination g = g_T1 + g_T2 on shared parameters, the task's
   * own gradient on its head, weight decay, then torch's SGD-momentum or Adam formulas.
   */
  for (const kind of ['sgd', 'adam'] as const) {
    it(`two ${kind} steps equal the hand-computed update`, async () => {
      const model = referenceModel('mlp').build({ opset: 17, seed: 11 });
      const data = randomData(16, [16], 12);
      const lr = kind === 'sgd' ? 0.1 : 0.01;
      const [momentum, weightDecay, beta1, beta2, eps] = [0.9, 0.01, 0.9, 0.999, 1e-8];
      const cfg = config({ steps: 2, optimizer: { kind, lr, momentum, weightDecay, milestones: [], gamma: 1 } });
      const one = await runScan(model, TASKS, data, { ...cfg, steps: 1, update: 'graph' });
      const two = await runScan(model, TASKS, data, { ...cfg, update: 'graph' });
      expect(two.updatePath).toBe('graph');
      const trainable = Object.keys(two.checkpoint.params);
      const session = createGradientSession(model, TASKS, { trainableParams: trainable, batchNorm: 'train' });
      const batch = (k: number): Record<string, HostTensor> => {
        const out: Record<string, HostTensor> = {};
        for (const [name, v] of data.arrays) {
          const per = v.data.length / data.length;
          out[name] = { ...v, dims: [8, ...v.dims.slice(1)], data: v.data.slice(k * 8 * per, (k + 1) * 8 * per) } as HostTensor;
        }
        return out;
      };
      const feedsOf = (params: Record<string, Float32Array | Float64Array>): Record<string, HostTensor> =>
        Object.fromEntries(
          trainable.map((p) => [p, { dtype: 'float32', dims: model.graph.initializers.get(p)!.dims.slice(), data: Float32Array.from(params[p]!) }]),
        );
      const theta0 = Object.fromEntries(trainable.map((p) => [p, Float64Array.from(model.graph.initializers.get(p)!.data('float32'))]));
      const buf: Record<string, Float64Array> = {};
      const m: Record<string, Float64Array> = {};
      const v: Record<string, Float64Array> = {};
      const handStep = async (theta: Record<string, Float64Array>, k: number): Promise<Record<string, Float64Array>> => {
        const step = await session.run(batch(k), feedsOf(theta));
        const next: Record<string, Float64Array> = {};
        for (const p of trainable) {
          const n = theta[p]!.length;
          const g = new Float64Array(n);
          for (const t of ['T1', 'T2']) {
            const gt = step.gradients.get(t)!.get(p);
            if (gt) for (let i = 0; i < n; i++) g[i]! += gt[i]!;
          }
          for (let i = 0; i < n; i++) g[i]! += weightDecay * theta[p]![i]!;
          const out = new Float64Array(n);
          if (kind === 'sgd') {
            const b = (buf[p] ??= new Float64Array(n));
            for (let i = 0; i < n; i++) {
              b[i] = k === 0 ? g[i]! : momentum * b[i]! + g[i]!;
              out[i] = theta[p]![i]! - lr * b[i]!;
            }
          } else {
            const mm = (m[p] ??= new Float64Array(n));
            const vv = (v[p] ??= new Float64Array(n));
            const t = k + 1;
            for (let i = 0; i < n; i++) {
              mm[i] = beta1 * mm[i]! + (1 - beta1) * g[i]!;
              vv[i] = beta2 * vv[i]! + (1 - beta2) * g[i]! * g[i]!;
              const mHat = mm[i]! / (1 - beta1 ** t);
              const vHat = vv[i]! / (1 - beta2 ** t);
              out[i] = theta[p]![i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
            }
          }
          next[p] = out;
        }
        return next;
      };
      const theta1 = await handStep(theta0, 0);
      // The second hand step starts from the scan's own θ₁ (float32), so the comparison of step two
      // does not inherit step one's rounding differences twice.
      const theta1Scan = Object.fromEntries(trainable.map((p) => [p, Float64Array.from(one.checkpoint.params[p]!)]));
      const theta2 = await handStep(theta1Scan, 1);
      await session.release();
      for (const [theta, got, what] of [
        [theta1, one.checkpoint.params, 'step 1'],
        [theta2, two.checkpoint.params, 'step 2'],
      ] as const) {
        for (const p of trainable) {
          const ref = theta[p]!;
          const start = what === 'step 1' ? theta0[p]! : theta1Scan[p]!;
          let moved = 0;
          let diff = 0;
          let scale = 0;
          for (let i = 0; i < ref.length; i++) {
            moved = Math.max(moved, Math.abs(ref[i]! - start[i]!));
            diff = Math.max(diff, Math.abs(ref[i]! - got[p]![i]!));
            scale = Math.max(scale, Math.abs(ref[i]!));
          }
          expect(moved, `${what} ${p} did not move`).toBeGreaterThan(0);
          expect(diff, `${what} ${p}: max |Δ| ${diff} vs update ${moved}`).toBeLessThanOrEqual(Math.max(4e-7 * scale, 1e-4 * moved));
        }
      }
    });
  }

  it('an interrupted graph-path scan resumes bit for bit, and a host-path checkpoint resumes on the graph path', async () => {
    const model = referenceModel('mlp').build({ opset: 17, seed: 21 });
    const data = randomData(64, [16], 22);
    const cfg = config({ steps: 6, optimizer: { kind: 'adam', lr: 1e-3, momentum: 0, weightDecay: 1e-4, milestones: [], gamma: 1 } });
    const whole = await runScan(model, TASKS, data, { ...cfg, update: 'graph' });
    const interrupted = async (update: 'host' | 'graph'): Promise<ScanCheckpoint> => {
      let steps = 0;
      let saved: ScanCheckpoint | undefined;
      await runScan(model, TASKS, data, { ...cfg, update }, { shouldStop: () => ++steps >= 3, onCheckpoint: (c) => (saved = c) });
      return saved!;
    };
    const fromGraph = await runScan(model, TASKS, data, { ...cfg, update: 'graph' }, {}, await interrupted('graph'));
    for (const [p, v] of Object.entries(whole.checkpoint.params)) expect(Array.from(fromGraph.checkpoint.params[p]!)).toEqual(Array.from(v));
    const fromHost = await runScan(model, TASKS, data, { ...cfg, update: 'graph' }, {}, await interrupted('host'));
    expect(fromHost.checkpoint.optimizer!.header.steps).toEqual(whole.checkpoint.optimizer!.header.steps);
    expectSameParams(whole.checkpoint, fromHost.checkpoint, model);
  });

  it('path choice: single run for weights known before the step, two phases on CUDA, host on CPU', () => {
    const ctx = { tasks: 2, groups: ['a'] };
    const path = (m: MethodName, mode: 'auto' | 'host' | 'graph', device: 'cpu' | 'cuda') => chooseUpdatePath(mode, createMethod(m, ctx, {}), device);
    expect(path('ew', 'auto', 'cpu')).toBe('graph');
    expect(path('rlw', 'auto', 'cuda')).toBe('graph');
    expect(path('cagrad', 'auto', 'cpu')).toBe('host');
    expect(path('cagrad', 'auto', 'cuda')).toBe('two-phase');
    expect(path('dwa', 'graph', 'cpu')).toBe('two-phase');
    expect(path('ew', 'host', 'cuda')).toBe('host');
  });
});
