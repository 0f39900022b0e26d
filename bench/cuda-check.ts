/**
 * CUDA execution provider check, for a machine with a GPU (issue 16): for each model, the same
 * batch through `recon grads`' gradient graph on the CPU provider and on the CUDA provider, the
 * losses, per-layer task-gradient norms and pairwise cosines compared, and onnxruntime's own
 * verbose placement log ("Node placements") read back and compared with `recon doctor --graph`'s
 * forecast: a node the log puts on the CPU that the forecast does not is an unexpected fallback.
 *
 * Usage: npx tsx bench/cuda-check.ts [--dry-run] [--json FILE] [--logs DIR] [MODEL.onnx:TASKS.json[:BATCH.npz] ...]
 * (default: every reference model in models/ and a few corpus exports). Exit 1 on any mismatch
 * beyond tolerance or any unexpected CPU node. Internally: --worker MODEL TASKS [BATCH].
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readTaskSpecFile } from '../src/analysis/task-spec.js';
import { cosineFromGram, normsFromGram } from '../src/conflict/gram.js';
import { loadDataset } from '../src/data/dataset.js';
import { feedsFor, planFeeds } from '../src/analysis/model-feeds.js';
import { loadModel } from '../src/onnx/index.js';
import { createGradientSession, type GradientStep } from '../src/conflict/gradient-session.js';
import type { HostTensor } from '../src/runtime/ort-tensor.js';
import { forecastGradientGraph, syntheticBatch } from '../src/autodiff/gradient-placement.js';
import { benchLowering } from './bench-util.js';

/**
 * Tolerances. The two providers sum in different orders (cuDNN and cuBLAS pick their own
 * algorithms), and onnxruntime's CUDA provider lets cuDNN and cuBLAS use TF32 tensor-core math for
 * float32 Conv and MatMul by default (inputs rounded to a 10-bit mantissa; the Node binding passes
 * no provider options, so only NVIDIA_TF32_OVERRIDE=0 in the environment turns it off). Measured on
 * an H200 (bench/RESULTS.md § CUDA): with TF32, the per-layer gradient norms of ResNet-18's
 * BatchNorm layers at batch 16 differ by up to 2.9% (dScale = Σ dY·x̂ cancels, and x̂ inherits the
 * convolutions' TF32 error), cosines by up to 0.016; with NVIDIA_TF32_OVERRIDE=0 the same model
 * agrees to 4e-4 / 8e-4, and MobileNetV2 to 5e-7. Cosines are compared in absolute terms: a
 * cosine near 0 has no meaningful relative error.
 */
const TF32 = process.env['NVIDIA_TF32_OVERRIDE'] !== '0';
const LOSS_REL = TF32 ? 5e-3 : 1e-4;
const NORM_REL = TF32 ? 5e-2 : 2e-3;
const COS_ABS = TF32 ? 3e-2 : 2e-3;

interface LayerComparison {
  layer: string;
  normRel: number;
  cosAbs: number;
}

interface WorkerResult {
  model: string;
  device: string;
  losses: { task: string; cpu: number; cuda: number }[];
  layers: LayerComparison[];
  forecastCpu: string[];
  forecastFallbacks: string[];
  nodes: number;
  cpuMs: number;
  cudaMs: number;
}

const args = process.argv.slice(2);

function gramSummary(gram: Float64Array, t: number): { norms: number[]; cos: number[] } {
  const cos: number[] = [];
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) cos.push(cosineFromGram(gram, t, i, j));
  return { norms: normsFromGram(gram, t), cos };
}

async function timedRun(run: () => Promise<GradientStep>): Promise<{ step: GradientStep; ms: number }> {
  await run(); // the first run builds the graph and the session
  const t = performance.now();
  const step = await run();
  return { step, ms: performance.now() - t };
}

async function worker(modelPath: string, tasksPath: string, batchPath?: string): Promise<WorkerResult> {
  const model = loadModel(modelPath);
  const tasks = readTaskSpecFile(tasksPath);
  let feeds: Record<string, HostTensor>;
  if (batchPath) {
    const dataset = loadDataset(batchPath);
    feeds = feedsFor(
      dataset,
      planFeeds(model, tasks),
      Array.from({ length: dataset.length }, (_, i) => i),
    );
  } else {
    feeds = await syntheticBatch(model, tasks, { batchSize: 16, seed: 1 });
  }
  const cpu = createGradientSession(model, tasks, { device: 'cpu', batchNorm: 'train' });
  // --dry-run (no GPU): the plumbing only, both sides on the CPU provider.
  const device = process.env['RECON_CUDA_CHECK_DRY'] === '1' ? 'cpu' : 'cuda';
  // RECON_BENCH_DW / RECON_BENCH_DX: check another convolution formulation on the GPU.
  const cuda = createGradientSession(model, tasks, { device, batchNorm: 'train', logSeverityLevel: 0, lowering: benchLowering() });
  const a = await timedRun(() => cpu.run(feeds));
  const b = await timedRun(() => cuda.run(feeds));
  const t = tasks.length;
  const layers: LayerComparison[] = [];
  for (const [layer, gram] of a.step.layerGrams) {
    const other = b.step.layerGrams.get(layer);
    if (!other) throw new Error(`${layer}: no Gram on CUDA`);
    const x = gramSummary(gram, t);
    const y = gramSummary(other, t);
    const normRel = Math.max(...x.norms.map((n, i) => Math.abs(n - y.norms[i]!) / Math.max(n, 1e-12)));
    const cosAbs = Math.max(0, ...x.cos.map((c, i) => Math.abs(c - y.cos[i]!)));
    layers.push({ layer, normRel, cosAbs });
  }
  const forecast = await forecastGradientGraph(model, tasks, { batchNorm: 'train', feeds });
  const result: WorkerResult = {
    model: modelPath,
    device: await cuda.device,
    losses: tasks.map((task) => ({ task: task.name, cpu: a.step.losses[task.name]!, cuda: b.step.losses[task.name]! })),
    layers,
    forecastCpu: forecast.expected.map((e) => e.node),
    forecastFallbacks: forecast.fallbacks.map((e) => e.node),
    nodes: forecast.nodes,
    cpuMs: a.ms,
    cudaMs: b.ms,
  };
  await cpu.release();
  await cuda.release();
  return result;
}

/** onnxruntime's "Node placements" block (VERBOSE): provider → the "Op (name)" strings placed there. */
export function parsePlacementLog(log: string): Map<string, string[]> {
  const placements = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of log.split('\n')) {
    if (!line.includes('VerifyEachNodeIsAssignedToAnEp]')) {
      current = undefined;
      continue;
    }
    const message = line.replace(/^.*?VerifyEachNodeIsAssignedToAnEp\] /, '');
    const header = /(?:All nodes|Node\(s\)) placed on \[(\w+)\]/.exec(message);
    if (header) {
      current = placements.get(header[1]!) ?? [];
      placements.set(header[1]!, current);
      continue;
    }
    const node = /^\s+(\S+) \((.*)\)\s*$/.exec(message);
    if (current && node) current.push(node[2]!);
  }
  return placements;
}

if (args[0] === '--worker') {
  const [, modelPath, tasksPath, batchPath] = args;
  const r = await worker(modelPath!, tasksPath!, batchPath);
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}

const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const dryRun = args.includes('--dry-run');
if (dryRun) process.env['RECON_CUDA_CHECK_DRY'] = '1';
const logDir = flag('--logs') ?? join('bench', 'cuda-logs');
mkdirSync(logDir, { recursive: true });
const positional = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const corpus = (arch: string, variant = 'op17_train_nofold'): string => {
  const dir = join('test', 'fixtures', 'corpus', arch);
  return `${join(dir, `${arch}_${variant}.onnx`)}:${join(dir, `${arch}.tasks.json`)}:${join(dir, 'batch.npz')}`;
};
const defaults = [
  ...['mlp', 'cnn', 'cnn_trainbn', 'encdec', 'transformer', 'resnet18'].map((m) => `models/${m}_op17.onnx:models/${m}.tasks.json`),
  ...['unet', 'mobilenetv2', 'resnet_bottleneck', 'densenet', 'bert', 'lstm', 'swin', 'mtan_segnet'].map((a) => corpus(a)),
];
const jobs = (positional.length > 0 ? positional : defaults).filter((spec) => existsSync(spec.split(':')[0]!));

const results: (WorkerResult & { placedOnCpu: string[]; unexpectedCpu: string[]; memcpy: number; ok: boolean })[] = [];
let failed = false;
console.log('| model | layers | nodes | loss rel | norm rel (max) | cos abs (max) | CPU nodes (log) | forecast CPU | unexpected | Memcpy | CPU ms | CUDA ms |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const spec of jobs) {
  const [modelPath, tasksPath, batchPath] = spec.split(':');
  const logPath = join(logDir, `${basename(modelPath!, '.onnx')}.log`);
  const fd = openSync(logPath, 'w');
  const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, '--worker', modelPath!, tasksPath!, ...(batchPath ? [batchPath] : [])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', fd],
    maxBuffer: 1 << 26,
  });
  closeSync(fd);
  const line = r.stdout
    ?.trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (r.status !== 0 || !line) {
    failed = true;
    const tail = readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n');
    console.log(`| ${modelPath} | worker failed (exit ${r.status}) |`);
    console.error(tail);
    continue;
  }
  const w = JSON.parse(line) as WorkerResult;
  const placements = parsePlacementLog(readFileSync(logPath, 'utf8'));
  const placedOnCpu = placements.get('CPUExecutionProvider') ?? [];
  const forecastCpu = new Set([...w.forecastCpu, ...w.forecastFallbacks]);
  // onnxruntime's own Memcpy nodes and nodes its optimizer created are not in our graph.
  const memcpy = placedOnCpu.filter((n) => /^Memcpy/.test(n)).length;
  const unexpectedCpu = placedOnCpu.filter((n) => !forecastCpu.has(n));
  const lossRel = Math.max(...w.losses.map((l) => Math.abs(l.cpu - l.cuda) / Math.max(Math.abs(l.cpu), 1e-12)));
  const normRel = Math.max(0, ...w.layers.map((l) => l.normRel));
  const cosAbs = Math.max(0, ...w.layers.map((l) => l.cosAbs));
  const ok =
    (dryRun || w.device.startsWith('cuda')) &&
    lossRel <= LOSS_REL &&
    normRel <= NORM_REL &&
    cosAbs <= COS_ABS &&
    unexpectedCpu.length === 0 &&
    placements.size > 0;
  failed ||= !ok;
  results.push({ ...w, placedOnCpu, unexpectedCpu, memcpy, ok });
  console.log(
    `| ${basename(modelPath!)}${ok ? '' : ' **FAIL**'} | ${w.layers.length} | ${w.nodes} | ${lossRel.toExponential(1)} | ${normRel.toExponential(1)} | ${cosAbs.toExponential(1)} | ${placedOnCpu.length} | ${forecastCpu.size} | ${unexpectedCpu.length} | ${memcpy} | ${w.cpuMs.toFixed(1)} | ${w.cudaMs.toFixed(1)} |`,
  );
  if (unexpectedCpu.length > 0) console.log(`  unexpected on CPU: ${unexpectedCpu.slice(0, 20).join(', ')}`);
  if (placements.size === 0) console.log(`  no "Node placements" block in ${logPath}`);
}
const json = flag('--json');
if (json) writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
console.log(failed ? 'cuda-check: FAILED' : 'cuda-check: all models within tolerance, no unexpected CPU placement');
process.exitCode = failed ? 1 : 0;
