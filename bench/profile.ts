/**
 * Where the time of one gradient step goes: runs the `recon grads` graph of a reference model with
 * onnxruntime's profiler on and prints the kernel time per op type and the slowest nodes.
 * Usage: npx tsx bench/profile.ts [resnet18|transformer] [batch] [--dw swapped-conv|per-tap-matmul|im2col-gemm] [--top N] [--group REGEX]... [--train] [--lower]
 */
import * as ort from 'onnxruntime-node';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { serializeModel } from '../src/onnx/index.js';
import { buildGradientGraph } from '../src/autodiff/gradient-graph.js';
import { createDefaultRegistry } from '../src/autodiff/register-all.js';
import { analyzeModel } from '../src/analysis/analyze.js';
import { loweringFor, type ConvWeightGradient } from '../src/autodiff/lowering.js';
import { lowerConvolution } from '../src/autodiff/lower/im2col.js';
import { Emitter } from '../src/autodiff/emitter.js';
import { benchLowering, benchModel } from './bench-util.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const positional = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const modelName = (positional[0] ?? 'resnet18') as 'resnet18' | 'transformer';
const batch = Number(positional[1] ?? 64);
const dw = flag('--dw') as ConvWeightGradient | undefined;
const overrides = benchLowering();
const lowering = loweringFor('cpu', { conv: { ...overrides.conv, ...(dw ? { weightGradient: dw } : {}) } });
const top = Number(flag('--top') ?? 25);
/** Node-name patterns whose total time is reported (e.g. --group 'BatchNormalization|bn'). */
const groups = args.flatMap((a, i) => (args[i - 1] === '--group' ? [new RegExp(a)] : []));

const { model, tasks, feeds } = benchModel(modelName, batch);
const analysis = analyzeModel(model, [...tasks]);
// --train: parameters fed as inputs and per-task gradients returned, as a training scan runs.
const trainable = args.includes('--train') ? [...analysis.paramTasks].filter(([, t]) => t.length > 0).map(([p]) => p) : [];
for (const p of trainable) {
  const t = model.graph.initializers.get(p)!;
  feeds[p] = { dtype: 'float32', dims: t.dims.slice(), data: t.data('float32').slice() };
}
const graph = await buildGradientGraph(model, {
  tasks,
  trainableParams: trainable,
  gramParams: [...new Set(analysis.sharedLayers.flatMap((l) => l.params))],
  batchNorm: 'train',
  registry: createDefaultRegistry(),
  feeds,
  lowering,
});
// --lower: forward Convs replaced by the im2col + GEMM form (what gradient-graph.ts would do with
// `lowerConvolution` wired in after the backward; here with a fresh Emitter, so the forward does
// not share the backward's im2col).
if (args.includes('--lower')) {
  const e = new Emitter(graph.model.graph, graph.model.opset(''), lowering);
  let lowered = 0;
  for (const node of graph.model.graph.nodes.filter((n) => n.opType === 'Conv')) {
    if (lowerConvolution(e, node, (v) => graph.shapes.values.get(v)?.dims)) lowered++;
  }
  graph.model.graph.toposort();
  console.log(`lowered ${lowered} forward Convs`);
}
console.log(`${modelName} batch ${batch}: ${graph.model.graph.nodes.length} nodes`);
const prefix = `/tmp/recon-prof-${process.pid}`;
const session = await ort.InferenceSession.create(serializeModel(graph.model), {
  enableProfiling: true,
  profileFilePrefix: prefix,
  graphOptimizationLevel: 'all',
  intraOpNumThreads: 2,
  extra: { session: { intra_op: { allow_spinning: process.env['RECON_BENCH_SPIN'] === '0' ? '0' : '1' } } },
});
const ortFeeds: Record<string, ort.Tensor> = {};
for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = new ort.Tensor(v.dtype, v.data, v.dims);
const runs = 4;
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  await session.run(ortFeeds);
  console.log(`run ${i}: ${(performance.now() - t).toFixed(0)} ms`);
}
session.endProfiling();
await session.release();
const file = readdirSync('/tmp')
  .map((f) => `/tmp/${f}`)
  .filter((f) => f.startsWith(prefix))
  .sort()
  .pop()!;
interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args: { op_name?: string };
}
const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
rmSync(file);
const byOp = new Map<string, number>();
const byNode = new Map<string, { op: string; dur: number }>();
for (const e of events) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
  const op = e.args.op_name ?? '?';
  byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
  const name = e.name.slice(0, -'_kernel_time'.length);
  const entry = byNode.get(name) ?? { op, dur: 0 };
  entry.dur += e.dur;
  byNode.set(name, entry);
}
const total = [...byOp.values()].reduce((a, b) => a + b, 0);
console.log(`kernel time per run: ${(total / runs / 1000).toFixed(1)} ms`);
for (const [op, dur] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 16)) {
  console.log(`  ${op.padEnd(22)} ${(dur / runs / 1000).toFixed(1).padStart(7)} ms ${((100 * dur) / total).toFixed(1).padStart(5)}%`);
}
for (const re of groups) {
  const matched = [...byNode].filter(([name]) => re.test(name));
  const sum = matched.reduce((acc, [, v]) => acc + v.dur, 0);
  console.log(`group /${re.source}/: ${matched.length} nodes, ${(sum / runs / 1000).toFixed(1)} ms (${((100 * sum) / total).toFixed(1)}%)`);
}
console.log('slowest nodes:');
for (const [name, { op, dur }] of [...byNode].sort((a, b) => b[1].dur - a[1].dur).slice(0, top)) {
  console.log(`  ${(dur / runs / 1000).toFixed(2).padStart(7)} ms  ${op.padEnd(16)} ${name}`);
}
