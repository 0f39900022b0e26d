/**
 * What the training path adds over the Gram-only step (ResNet-18 reference model): one session
 * run with and without the parameters as inputs (and per-task gradients as outputs), then the
 * host-side update as the scan did it before (combine the task gradients into fresh buffers, then
 * `optimizer.step`) and as it does now (`optimizer.stepCombined`). Medians of 5 after warm-up.
 * Usage: npx tsx bench/train-parts.ts [batch]
 */
import { createGradientSession } from '../src/conflict/gradient-session.js';
import { createOptimizer, type CombinedGradient } from '../src/conflict/optimizer.js';
import { analyzeModel } from '../src/analysis/analyze.js';
import type { HostTensor } from '../src/runtime/ort-tensor.js';
import { benchModel, benchSessionOptions, median } from './bench-util.js';

const batch = Number(process.argv[2] ?? 32);
const { model, tasks, feeds } = benchModel('resnet18', batch);
const analysis = analyzeModel(model, tasks);
const trainable = [...analysis.paramTasks].filter(([, t]) => t.length > 0).map(([p]) => p);
const params = new Map(trainable.map((p) => [p, model.graph.initializers.get(p)!.data('float32').slice()]));
const training = createGradientSession(model, tasks, { batchNorm: 'train', trainableParams: trainable, intraOpThreads: 2, ...benchSessionOptions() });
const gramOnly = createGradientSession(model, tasks, { batchNorm: 'train', intraOpThreads: 2, ...benchSessionOptions() });
const before = createOptimizer({ kind: 'sgd', lr: 0.01 });
const after = createOptimizer({ kind: 'sgd', lr: 0.01 });
const times: Record<string, number[]> = {
  'run, Gram only': [],
  'run, params in / grads out': [],
  'update before (combine + step)': [],
  'update now (stepCombined)': [],
};
const time = async (key: string, f: () => unknown): Promise<void> => {
  const t = performance.now();
  await f();
  times[key]!.push(performance.now() - t);
};
for (let i = 0; i < 7; i++) {
  const paramFeeds: Record<string, HostTensor> = {};
  for (const [p, v] of params) paramFeeds[p] = { dtype: 'float32', dims: model.graph.initializers.get(p)!.dims.slice(), data: v };
  await time('run, Gram only', () => gramOnly.run(feeds));
  let result!: Awaited<ReturnType<typeof training.run>>;
  await time('run, params in / grads out', async () => (result = await training.run(feeds, paramFeeds)));
  const partsOf = (p: string): Float32Array[] =>
    (analysis.paramTasks.get(p) ?? []).map((t) => result.gradients.get(tasks[t]!.name)?.get(p)).filter((g): g is Float32Array => g !== undefined);
  await time('update before (combine + step)', () => {
    const grads = new Map<string, Float32Array>();
    for (const [p, value] of params) {
      const g = new Float32Array(value.length);
      for (const gt of partsOf(p)) for (let k = 0; k < g.length; k++) g[k]! += gt[k]!;
      grads.set(p, g);
    }
    before.step(params, grads, 0.01);
  });
  await time('update now (stepCombined)', () => {
    const grads = new Map<string, CombinedGradient>();
    for (const p of params.keys()) {
      const parts = partsOf(p);
      grads.set(p, { parts, weights: parts.map(() => 1) });
    }
    after.stepCombined(params, grads, 0.01);
  });
}
for (const [k, v] of Object.entries(times)) console.log(`${k.padEnd(32)} ${median(v.slice(2)).toFixed(1)} ms`);
await training.release();
await gramOnly.release();
