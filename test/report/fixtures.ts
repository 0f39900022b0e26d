/**
 * Synthetic but realistic conflict reports: the 41 rankable layers of the paper's MNIST ResNet18
 * (with their true parameter counts), 2 or 3 tasks, and seeded random cosines that look like
 * real ones (centred near 0, BN layers more conflicting, correlated across layers, heavy tail).
 */
import { ConflictReportBuilder, type LayerDescriptor } from '../../src/report/report-builder.js';
import type { ConflictReport, CostPoint, ScanSettings, TaskInfo } from '../../src/report/schema.js';
import { Random } from '../../src/util/random.js';

export interface ScanOptions {
  seed?: number;
  taskCount?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  S?: number[];
  /** Replace one layer name by one full of HTML/CSV metacharacters. */
  hostileName?: boolean;
  /** Also produce whole-trunk cosines. */
  wholeTrunk?: boolean;
  /** Keep only these layers (by index), e.g. the layers left shared after a rewrite. */
  keepLayers?: readonly number[];
  /** Shift every cosine, e.g. positive to mimic a model with fewer conflicts. */
  cosineShift?: number;
  modelPath?: string;
}

export interface ScanStep {
  epoch: number;
  /** cosines[layer * pairs + pair] */
  cosines: Float64Array;
  wholeTrunk: Float64Array | undefined;
  losses: number[];
}

export interface SyntheticScan {
  layers: LayerDescriptor[];
  /** MACs per image of each layer, for the cost curve. */
  macs: number[];
  tasks: TaskInfo[];
  settings: ScanSettings;
  pairCount: number;
  steps: ScanStep[];
  modelPath: string;
}

export const HOSTILE_NAME = 'layer3.<script>alert("x")</script>&amp;, "quoted"\nname';

interface ConvSpec {
  name: string;
  cin: number;
  cout: number;
  k: number;
  out: number;
}

/** The 41 rankable layers of MnistResNet (paper §3.1): 20 conv, 20 BN, 1 fc, network order. */
export function resnetLayers(): { layers: LayerDescriptor[]; macs: number[] } {
  const convs: ConvSpec[] = [{ name: 'conv1', cin: 1, cout: 64, k: 7, out: 18 }];
  const stages = [
    { name: 'layer1', cin: 64, cout: 64, out: 9 },
    { name: 'layer2', cin: 64, cout: 128, out: 5 },
    { name: 'layer3', cin: 128, cout: 256, out: 3 },
    { name: 'layer4', cin: 256, cout: 512, out: 2 },
  ];
  const layers: LayerDescriptor[] = [];
  const macs: number[] = [];
  const conv = (c: ConvSpec, bnName: string): void => {
    layers.push({ name: c.name, op: 'Conv', nodes: [`/${c.name.replace(/\./g, '/')}/Conv`], params: c.cin * c.cout * c.k * c.k });
    macs.push(c.cin * c.cout * c.k * c.k * c.out * c.out);
    layers.push({ name: bnName, op: 'BatchNormalization', nodes: [`/${bnName.replace(/\./g, '/')}/BatchNormalization`], params: 2 * c.cout });
    macs.push(2 * c.cout * c.out * c.out);
  };
  conv(convs[0]!, 'bn1');
  for (const stage of stages) {
    for (let block = 0; block < 2; block++) {
      const prefix = `${stage.name}.${block}`;
      const cin = block === 0 ? stage.cin : stage.cout;
      conv({ name: `${prefix}.conv1`, cin, cout: stage.cout, k: 3, out: stage.out }, `${prefix}.bn1`);
      conv({ name: `${prefix}.conv2`, cin: stage.cout, cout: stage.cout, k: 3, out: stage.out }, `${prefix}.bn2`);
      if (block === 0 && stage.cin !== stage.cout)
        conv({ name: `${prefix}.downsample.0`, cin, cout: stage.cout, k: 1, out: stage.out }, `${prefix}.downsample.1`);
    }
  }
  layers.push({ name: 'fc', op: 'Gemm', nodes: ['/fc/Gemm'], params: 512 * 100 + 100 });
  macs.push(512 * 100);
  return { layers, macs };
}

const TASK_NAMES = ['digit', 'fashion', 'parity', 'size', 'rotation'];

export function makeScan(options: ScanOptions = {}): SyntheticScan {
  const rng = new Random(options.seed ?? 7);
  const taskCount = options.taskCount ?? 2;
  const epochs = options.epochs ?? 6;
  const stepsPerEpoch = options.stepsPerEpoch ?? 60;
  const base = resnetLayers();
  if (options.hostileName) base.layers[12]!.name = HOSTILE_NAME;
  const keep = options.keepLayers ?? base.layers.map((_, i) => i);
  const layers = keep.map((i) => ({ ...base.layers[i]! }));
  const macs = keep.map((i) => base.macs[i]!);
  const tasks: TaskInfo[] = TASK_NAMES.slice(0, taskCount).map((name, t) => ({ name, output: `logits_${t}`, loss: 'cross-entropy', weight: 1 }));
  const pairCount = (taskCount * (taskCount - 1)) / 2;
  const settings: ScanSettings = {
    data: 'multi-fashion-mnist (synthetic)',
    seed: options.seed ?? 7,
    S: options.S ?? [-0.02, 0],
    steps: stepsPerEpoch,
    epochs,
    batchSize: 256,
    shuffle: true,
    optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0, milestones: [60, 90], gamma: 0.1 },
    method: 'ew',
    bn: 'train',
    device: 'cpu',
  };

  // Per-layer character: BN layers conflict more (as in the paper's rankings), deep convs less.
  const layerMean = layers.map((l, i) => (l.op === 'BatchNormalization' ? -0.006 : 0.004) + 0.004 * Math.sin(i * 1.7) - (i < 4 ? 0.004 : 0));
  const layerStd = layers.map((l, i) => 0.008 + 0.006 * Math.abs(Math.cos(i * 0.9)) + (l.op === 'Gemm' ? 0.01 : 0));
  const pairShift = Array.from({ length: pairCount }, (_, p) => [-0.004, 0.003, -0.001][p % 3]!);
  const shift = options.cosineShift ?? 0;

  const steps: ScanStep[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let s = 0; s < stepsPerEpoch; s++) {
      const step = steps.length;
      const common = rng.normal() * 0.006;
      const drift = 0.003 * (epoch / Math.max(1, epochs - 1));
      const cosines = new Float64Array(layers.length * pairCount);
      for (let l = 0; l < layers.length; l++) {
        for (let p = 0; p < pairCount; p++) {
          let c = layerMean[l]! + pairShift[p]! + drift + common + shift + rng.normal() * layerStd[l]!;
          if (rng.uniform() < 0.02) c -= 0.06 * Math.abs(rng.normal());
          cosines[l * pairCount + p] = Math.max(-1, Math.min(1, c));
        }
      }
      const wholeTrunk = options.wholeTrunk
        ? Float64Array.from({ length: pairCount }, (_, p) => Math.max(-1, Math.min(1, 0.002 + pairShift[p]! + shift + common + rng.normal() * 0.01)))
        : undefined;
      const losses = tasks.map((_, t) => (2.3 - 0.4 * t) * Math.exp(-step / (80 + 30 * t)) + 0.25 + 0.08 * t + Math.abs(rng.normal()) * 0.05);
      steps.push({ epoch, cosines, wholeTrunk, losses });
    }
  }
  return { layers, macs, tasks, settings, pairCount, steps, modelPath: options.modelPath ?? 'models/mnist-resnet18.onnx' };
}

export interface BuildOptions {
  /** Steps [from, to) of the scan to include (default all). */
  from?: number;
  to?: number;
  shard?: { index: number; count: number };
  withCost?: boolean;
  partialReason?: string;
  exactQuantileLimit?: number;
}

export function buildReport(scan: SyntheticScan, options: BuildOptions = {}): ConflictReport {
  const from = options.from ?? 0;
  const to = options.to ?? scan.steps.length;
  const settings: ScanSettings = structuredClone(scan.settings);
  if (options.shard) settings.shard = options.shard;
  const builder = new ConflictReportBuilder({
    layers: scan.layers,
    tasks: scan.tasks,
    settings,
    ...(options.exactQuantileLimit !== undefined ? { exactQuantileLimit: options.exactQuantileLimit } : {}),
  });
  for (let i = from; i < to; i++) {
    const step = scan.steps[i]!;
    builder.pushStep(step.epoch, step.cosines, step.wholeTrunk);
    builder.recordLosses(i - from, step.losses);
  }
  const report = builder.build({
    tool: { name: 'recon-onnx', version: '0.1.0' },
    createdAt: '2025-01-02T03:04:05.000Z',
    model: { path: scan.modelPath, opset: 17, sha256: 'ab'.repeat(32) },
    partial: options.partialReason !== undefined,
    ...(options.partialReason !== undefined ? { partialReason: options.partialReason } : {}),
    totalSteps: options.partialReason !== undefined ? scan.steps.length : to - from,
  });
  if (options.withCost) report.cost = costCurve(report, scan);
  return report;
}

/** Cost of the top-k layers at S[0]: every layer from the first branched one on runs per task. */
export function costCurve(report: ConflictReport, scan: SyntheticScan): CostPoint[] {
  const T = report.tasks.length;
  const order = report.layers.map((_, i) => i).sort((a, b) => report.layers[a]!.scores[0]!.rank - report.layers[b]!.scores[0]!.rank);
  const totalParams = report.layers.reduce((a, l) => a + l.params, 0) + 2 * 1010;
  const totalMacs = scan.macs.reduce((a, b) => a + b, 0);
  const points: CostPoint[] = [];
  for (let k = 1; k <= order.length; k++) {
    const chosen = order.slice(0, k);
    const extraParams = (T - 1) * chosen.reduce((a, i) => a + report.layers[i]!.params, 0);
    const first = Math.min(...chosen);
    const extraMacs = (T - 1) * scan.macs.slice(first).reduce((a, b) => a + b, 0);
    points.push({
      k,
      params: totalParams + extraParams,
      paramIncreasePct: (100 * extraParams) / totalParams,
      macs: totalMacs + extraMacs,
      macIncreasePct: (100 * extraMacs) / totalMacs,
      layers: chosen.map((i) => report.layers[i]!.name),
    });
  }
  return points;
}
