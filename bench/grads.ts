/**
 * Benchmark of the `recon grads` work (forward + every task's gradient + per-layer Gram matrices)
 * and of one training step (parameters fed as inputs, equal-weight combination, SGD update)
 * against the PyTorch peer (bench/torch_peer.py) doing the same work, each configuration in
 * fresh processes so that peak RSS is the configuration's own.
 *
 * Usage: npx tsx bench/grads.ts [--device cpu|cuda] [--batches 32,128] [--tasks T (resnet18 heads)] [--steps K] [--threads N]
 *          [--models resnet18,transformer,mobilenet,unet (default the first two; --only M = one)] [--no-train] [--no-torch]
 *          [--baseline DIR] [--json FILE]
 * mobilenet and unet are PyTorch exports: `/usr/bin/python3 bench/bench_models.py` writes them.
 * With the PyTorch peer, each row also gives the work's rate in GFLOP/s and as a share of the
 * machine's float32 GEMM rate measured in the same run (the practical peak), for both sides.
 * --baseline DIR also times another checkout of recon-onnx (e.g. `git archive HEAD | tar -x -C DIR`
 * with node_modules, models/*.onnx and this bench/ folder copied in) for a before/after column.
 * (internally: npx tsx bench/grads.ts --worker grads|train MODEL BATCH)
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createGradientSession } from '../src/conflict/gradient-session.js';
import { runScan, type ScanConfig } from '../src/conflict/scan.js';
import type { UpdateMode } from '../src/conflict/graph-update.js';
import type { SearchMethod } from '../src/report/schema.js';
import { makeDataset } from '../src/data/dataset.js';
import { benchLowering, benchModel, benchSessionOptions, BENCH_MODELS, median, type BenchModelName } from './bench-util.js';
import { inferShapes } from '../src/analysis/shapes.js';
import { countMacs } from '../src/rewrite/cost.js';

interface Measurement {
  ms_median: number;
  ms_min: number;
  peak_rss_mb: number;
}

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const steps = Number(flag('--steps') ?? 7);
const threads = Number(flag('--threads') ?? 2);
const device = (flag('--device') ?? 'cpu') as 'cpu' | 'cuda';
/** The PyTorch peer's interpreter: Debian's by default, the GPU machine's `python3` there. */
const python = process.env['RECON_BENCH_PYTHON'] ?? '/usr/bin/python3';
const WARMUP = 2;
/** ResNet-18 heads (default 2): the scaling benchmark runs 2, 5, 10, 40. */
const taskCount = Number(flag('--tasks') ?? 2);

function summary(times: number[]): Measurement {
  return { ms_median: median(times), ms_min: Math.min(...times), peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
}

/** `recon grads`: one session run per batch, then the per-layer Grams on the host. */
async function gradsWorker(name: BenchModelName, batch: number): Promise<Measurement> {
  const { model, tasks, feeds } = benchModel(name, batch, taskCount);
  const session = createGradientSession(model, tasks, {
    batchNorm: 'train',
    device,
    intraOpThreads: threads,
    lowering: benchLowering(),
    ...benchSessionOptions(),
  });
  const times: number[] = [];
  for (let i = 0; i < WARMUP + steps; i++) {
    const t = performance.now();
    await session.run(feeds);
    if (i >= WARMUP) times.push(performance.now() - t);
  }
  await session.release();
  return summary(times);
}

/**
 * The training step's optimizer: SGD lr 0.01 (the published rows); A/B switches RECON_BENCH_OPT=momentum
 * (SGD momentum 0.9, weight decay 1e-4) or adam.
 */
function benchOptimizer(): ScanConfig['optimizer'] {
  const kind = process.env['RECON_BENCH_OPT'] ?? 'sgd';
  if (kind === 'adam') return { kind: 'adam', lr: 1e-3, momentum: 0, weightDecay: 1e-4, milestones: [], gamma: 0.1 };
  return { kind: 'sgd', lr: 0.01, momentum: kind === 'momentum' ? 0.9 : 0, weightDecay: kind === 'momentum' ? 1e-4 : 0, milestones: [], gamma: 0.1 };
}

/**
 * A training scan (SGD, equal weights; RECON_BENCH_METHOD, RECON_BENCH_UPDATE=host|graph|auto switch
 * the method and the update path) on one repeated batch, timed between consecutive steps.
 */
async function trainWorker(name: BenchModelName, batch: number): Promise<Measurement> {
  const { model, tasks, feeds } = benchModel(name, batch, taskCount);
  const stamps: number[] = [];
  const start = performance.now();
  await runScan(
    model,
    tasks,
    makeDataset(feeds),
    {
      modelPath: `models/${name}_op17.onnx`,
      dataPath: '<memory>',
      steps: WARMUP + steps + 1,
      batchSize: batch,
      seed: 0,
      shuffle: false,
      optimizer: benchOptimizer(),
      method: (process.env['RECON_BENCH_METHOD'] ?? 'ew') as SearchMethod,
      ...(process.env['RECON_BENCH_UPDATE'] ? { update: process.env['RECON_BENCH_UPDATE'] as UpdateMode } : {}),
      S: [0.1],
      batchNorm: 'train',
      device,
      intraOpThreads: threads,
    },
    { onStep: () => stamps.push(performance.now()) },
  );
  const times = [start, ...stamps].slice(1 + WARMUP).map((t, i) => t - [start, ...stamps][WARMUP + i]!);
  return summary(times);
}

if (args[0] === '--worker') {
  const [, kind, name, batch] = args;
  const run = kind === 'train' ? trainWorker : gradsWorker;
  const m = await run(name as BenchModelName, Number(batch));
  process.stdout.write(`${JSON.stringify(m)}\n`);
  process.exit(0);
}

function lastJsonLine<T = Measurement>(out: string): T {
  const line = out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (!line) throw new Error(`no result in:\n${out}`);
  return JSON.parse(line) as T;
}

function ours(kind: 'grads' | 'train', name: string, batch: number, root?: string): Measurement {
  const script = root ? `${root}/bench/grads.ts` : process.argv[1]!;
  const r = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      script,
      '--worker',
      kind,
      name,
      String(batch),
      '--steps',
      String(steps),
      '--threads',
      String(threads),
      '--device',
      device,
      '--tasks',
      String(taskCount),
    ],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
      ...(root ? { cwd: root } : {}),
    },
  );
  if (r.status !== 0) throw new Error(`worker ${kind} ${name} ${batch} failed:\n${r.stderr}`);
  return lastJsonLine(r.stdout);
}

/** Forward multiply-adds per sample (Conv, ConvTranspose, Gemm, MatMul, … as `recon` counts them). */
async function macsPerSample(name: BenchModelName): Promise<number> {
  const { model, feeds } = benchModel(name, 1, taskCount);
  const shapes = await inferShapes(model, { feeds });
  return countMacs(model.graph, new Map([...shapes.values].map(([k, v]) => [k, v.dims])));
}

/**
 * FLOPs of one step's work, estimated the usual way: a forward pass costs 2·MACs per sample, and
 * each task's backward pass twice that (input and weight gradients). The Grams, the losses and
 * the update are left out (a few percent at most here).
 */
function workFlops(macs: number, batch: number): number {
  return 2 * macs * batch * (1 + 2 * taskCount);
}

/** The PyTorch peer's float32 GEMM rate on this machine and thread count (GFLOP/s). */
function gemmPeak(): number {
  const r = spawnSync(
    python,
    ['bench/torch_peer.py', 'gemm', device === 'cuda' ? '8192' : '2048', '--threads', String(threads), '--steps', '10', '--device', device],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`torch peer gemm failed:\n${r.stderr}`);
  return lastJsonLine<{ gflops: number }>(r.stdout).gflops;
}

function torch(kind: 'grads' | 'train', name: string, batch: number): Measurement {
  const extra = kind === 'train' ? ['--train'] : [];
  const r = spawnSync(
    python,
    [
      'bench/torch_peer.py',
      name,
      String(batch),
      '--threads',
      String(threads),
      '--steps',
      String(steps),
      '--device',
      device,
      '--tasks',
      String(taskCount),
      ...extra,
    ],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`torch peer ${name} ${batch} failed:\n${r.stderr}`);
  return lastJsonLine(r.stdout);
}

const models = (flag('--models') ?? flag('--only') ?? 'resnet18,transformer').split(',') as BenchModelName[];
for (const m of models) if (!BENCH_MODELS.includes(m)) throw new Error(`unknown bench model "${m}" (${BENCH_MODELS.join(', ')})`);
const batches = (flag('--batches') ?? '32,128').split(',').map(Number);
const configs: [BenchModelName, number][] = models.flatMap((m) => batches.map((b): [BenchModelName, number] => [m, b]));
const kinds: ('grads' | 'train')[] = args.includes('--no-train') ? ['grads'] : ['grads', 'train'];
const withTorch = !args.includes('--no-torch');

interface Row {
  kind: string;
  model: string;
  batch: number;
  ours: Measurement;
  baseline?: Measurement;
  torch?: Measurement;
  /** Estimated FLOPs of the step's work (`workFlops`). */
  flops: number;
}
const baselineDir = flag('--baseline');
const rows: Row[] = [];
const fmt = (v: number, digits = 1): string => v.toFixed(digits);
const macs = new Map<BenchModelName, number>();
for (const m of models) macs.set(m, await macsPerSample(m));
const peak = withTorch ? gemmPeak() : undefined;
console.log(`device ${device}, tasks ${taskCount}, threads ${threads}, ${steps} timed steps after ${WARMUP} warm-up, medians (ms); peak RSS (MB)`);
console.log(`forward MACs per sample: ${models.map((m) => `${m} ${fmt(macs.get(m)! / 1e6)} M`).join(', ')}`);
if (peak !== undefined)
  console.log(
    `float32 GEMM rate of this machine (PyTorch, ${threads} threads): ${fmt(peak, 0)} GFLOP/s = 100 % below; GFLOP/s are the work's nominal FLOPs over the time`,
  );
const before = baselineDir ? ' before ms |' : '';
const rate = (ms: number, flops: number): string => {
  const gflops = flops / ms / 1e6;
  return `${fmt(gflops, 0)}${peak ? ` (${fmt((100 * gflops) / peak, 0)} %)` : ''}`;
};
console.log(`| work | model | batch |${before} ours ms | PyTorch ms | ours/PyTorch | ours RSS | PyTorch RSS | ours GFLOP/s | PyTorch GFLOP/s |`);
console.log(`|---|---|---:|${baselineDir ? '---:|' : ''}---:|---:|---:|---:|---:|---:|---:|`);
for (const kind of kinds) {
  for (const [name, batch] of configs) {
    const b = baselineDir ? ours(kind, name, batch, baselineDir) : undefined;
    const o = ours(kind, name, batch);
    const t = withTorch ? torch(kind, name, batch) : undefined;
    const flops = workFlops(macs.get(name)!, batch);
    rows.push({ kind, model: name, batch, ours: o, flops, ...(b ? { baseline: b } : {}), ...(t ? { torch: t } : {}) });
    console.log(
      `| ${kind} | ${name} | ${batch} |${b ? ` ${fmt(b.ms_median)} |` : ''} ${fmt(o.ms_median)} | ${t ? fmt(t.ms_median) : '–'} | ${t ? fmt(o.ms_median / t.ms_median, 2) : '–'} | ${fmt(o.peak_rss_mb, 0)} | ${t ? fmt(t.peak_rss_mb, 0) : '–'} | ${rate(o.ms_median, flops)} | ${t ? rate(t.ms_median, flops) : '–'} |`,
    );
  }
}
// Measured again after the rows: a GEMM rate disturbed by other load at the start shows here.
const peakAfter = withTorch ? gemmPeak() : undefined;
if (peakAfter !== undefined) console.log(`float32 GEMM rate after the rows: ${fmt(peakAfter, 0)} GFLOP/s`);
const json = flag('--json');
if (json)
  writeFileSync(
    json,
    `${JSON.stringify({ device, threads, taskCount, gemmPeakGflops: peak ?? null, gemmPeakAfterGflops: peakAfter ?? null, macsPerSample: Object.fromEntries(macs), rows }, null, 2)}\n`,
  );
