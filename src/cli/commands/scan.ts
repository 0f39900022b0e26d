import { ReconError } from '../../util/errors.js';
import { loadDataset } from '../../data/dataset.js';
import { analyzeModel } from '../../analysis/analyze.js';
import { CostModel } from '../../rewrite/recon.js';
import { runScan, type ScanCheckpoint, type ScanConfig, type ScanResult } from '../../conflict/scan.js';
import { writeScanOutputs } from '../../pipeline/scan-outputs.js';
import type { UpdateMode } from '../../conflict/graph-update.js';
import { loadCheckpoint, saveCheckpoint } from '../../conflict/checkpoint.js';
import { ELEMENTWISE_METHODS, isMethodName, METHOD_NAMES, parseMethodOptions, type MethodOptionValues } from '../../conflict/method-registry.js';
import { renderRankingTable } from '../../report/table.js';
import { listOption, numberOption, optionValue, type OptionSpec, type ParsedArgs } from '../args.js';
import type { Command, CommandIO } from '../command.js';
import { ProgressBar } from '../progress.js';
import { bnArg, checkDerivedOutput, modelTasksAndData, RUNTIME_OPTIONS, runtimeArgs, TASK_OPTIONS } from './common.js';
import { checkOutputFile } from '../validate.js';
import { acquireOutputLock } from '../../util/lock.js';
import type { Model } from '../../onnx/model.js';
import type { TaskSpec } from '../../analysis/task-spec.js';

export const DEFAULT_S = [0, -0.02, -0.05, -0.1];

export const SCAN_OPTIONS: OptionSpec[] = [
  { name: 'data', check: { kind: 'input' }, value: 'train.npz', description: 'training data: model inputs and task targets, batch on axis 0' },
  { name: 'epochs', check: { kind: 'number', min: 0, above: true }, value: 'E', description: 'epochs to run (default 1)' },
  { name: 'steps', check: { kind: 'number', integer: true, min: 1 }, value: 'N', description: 'total steps (overrides --epochs)' },
  { name: 'batch-size', check: { kind: 'number', integer: true, min: 1 }, value: 'B', description: "batch size (default 256, the paper's)" },
  {
    name: 'seed',
    check: { kind: 'number', integer: true, min: 0, max: 4294967295 },
    value: 'n',
    description: "seed for shuffling and PCGrad's order (default 0)",
  },
  { name: 'no-shuffle', description: 'keep the data order' },
  { name: 'optimizer', value: 'sgd|adam|none', description: 'training update; none = static scan with fixed weights (default sgd)' },
  { name: 'lr', check: { kind: 'number', min: 0 }, value: 'x', description: 'learning rate (default 0.1 for sgd, 1e-4 for adam)' },
  { name: 'momentum', check: { kind: 'number', min: 0, max: 1 }, value: 'x', description: 'SGD momentum (default 0.9)' },
  { name: 'weight-decay', check: { kind: 'number', min: 0 }, value: 'x', description: 'L2 weight decay (default 0)' },
  {
    name: 'milestones',
    check: { kind: 'numbers', min: 0, above: true },
    value: 'e1,e2',
    description: 'epochs at which the learning rate is multiplied by --gamma',
  },
  { name: 'gamma', check: { kind: 'number', min: 0, above: true }, value: 'x', description: 'learning-rate decay factor (default 0.1)' },
  { name: 'method', value: 'NAME', description: `how task gradients are combined (default ew): ${METHOD_NAMES.join(', ')} (README: recon scan)` },
  {
    name: 'method-opt',
    value: 'key=value',
    description: 'a hyper-parameter of --method, e.g. alpha=1.5 for gradnorm (repeatable; README lists them)',
    repeatable: true,
  },
  {
    name: 'update',
    value: 'auto|host|graph',
    description:
      'where the training update runs: in the graph (parameters and optimizer state in and out once per step), on the host (every task gradient out), or auto (README: recon scan)',
  },
  { name: 'cagrad-alpha', check: { kind: 'number', min: 0 }, value: 'c', description: "CAGrad's c (default 0.2; same as --method-opt alpha=c)" },
];

export const scanCommand: Command = {
  name: 'scan',
  summary: "Recon's search: train or evaluate the model and score every shared layer by how often task gradients conflict.",
  usage: 'recon scan model.onnx --tasks spec.json --data train.npz [--epochs E | --steps N] [--optimizer sgd|adam|none] [--S 0,-0.02] -o report.json',
  positionals: [{ name: 'the model', kind: 'input' }],
  options: [
    ...TASK_OPTIONS,
    ...SCAN_OPTIONS,
    {
      name: 'S',
      check: { kind: 'numbers', min: -1, max: 1 },
      value: 's1,s2',
      description: 'S thresholds of the S-conflict score (default 0,-0.02,-0.05,-0.1)',
    },
    { name: 'output', check: { kind: 'output' }, value: 'report.json', description: 'report file (default <model>.report.json); -o works too' },
    {
      name: 'save-trained',
      check: { kind: 'output' },
      value: 'out.onnx',
      description: 'write the trained model (BN running statistics updated, momentum 0.1)',
    },
    { name: 'record-steps', description: 'also store every per-step cosine in <report>.cosines.f32' },
    { name: 'resume', check: { kind: 'input' }, value: 'report.json', description: 'continue an interrupted scan from its checkpoint' },
    { name: 'shard', value: 'i/n', description: 'static scans: run shard i (1-based) of n; join with recon merge' },
    {
      name: 'checkpoint-every',
      check: { kind: 'number', integer: true, min: 1 },
      value: 'N',
      description: 'write a resumable checkpoint every N steps (default 50)',
    },
    ...RUNTIME_OPTIONS,
  ],
  async run(args, io) {
    const { path, model, tasks, dataPath } = modelTasksAndData(args, io, this.usage);
    const resumeFrom = optionValue(args, 'resume');
    const reportPath = optionValue(args, 'output') ?? resumeFrom ?? `${path.replace(/\.onnx$/i, '')}.report.json`;
    // A resumed scan continues its own report; any other report path must not be an input.
    if (resumeFrom !== undefined && reportPath === resumeFrom) checkOutputFile(reportPath, '--resume');
    else if (optionValue(args, 'output') === undefined) checkDerivedOutput(args, 'the report', reportPath);
    const config = scanConfig(args, path, dataPath, io);
    const release = acquireOutputLock(reportPath, 'recon scan', (m) => io.stderr(`warning: ${m}\n`));
    try {
      return await scanWithLock(args, io, { path, model, tasks, dataPath, reportPath, resumeFrom, config });
    } finally {
      release();
    }
  },
};

async function scanWithLock(
  args: ParsedArgs,
  io: CommandIO,
  c: { path: string; model: Model; tasks: TaskSpec[]; dataPath: string; reportPath: string; resumeFrom: string | undefined; config: ScanConfig },
): Promise<number> {
  const { model, tasks, dataPath, reportPath, resumeFrom, config } = c;
  const dataset = loadDataset(dataPath);
  const analysis = analyzeModel(model, tasks);
  const costModel = await CostModel.create(model, analysis);
  config.cost = (layers) => {
    const c = costModel.cost(layers);
    return { params: c.paramsAfter, paramIncreasePct: c.paramIncreasePct, macs: c.macsAfter, macIncreasePct: c.macIncreasePct };
  };
  const resume = resumeFrom ? loadCheckpoint(resumeFrom) : undefined;
  const result = await runWithInterrupts(
    io,
    (hooks) => runScan(model, tasks, dataset, config, hooks, resume),
    reportPath,
    Number(optionValue(args, 'checkpoint-every') ?? 50),
  );
  writeScanOutputs(result, reportPath, optionValue(args, 'save-trained'));
  io.stdout(
    `${renderRankingTable(result.report, { top: 25 })}\n\nreport: ${reportPath}${result.report.partial ? ` (PARTIAL: ${result.report.partialReason}; continue with --resume ${reportPath})` : ''}\n`,
  );
  return result.report.partial ? 130 : 0;
}

/** Settings shared by scan, train and run. */
export function scanConfig(args: ParsedArgs, modelPath: string, dataPath: string, io: CommandIO): ScanConfig {
  const cmd = 'scan';
  const optimizer = (optionValue(args, 'optimizer') ?? 'sgd') as ScanConfig['optimizer']['kind'];
  if (!['sgd', 'adam', 'none'].includes(optimizer)) throw new ReconError(`--optimizer must be sgd, adam or none, got "${optimizer}"`);
  const method = optionValue(args, 'method') ?? 'ew';
  const elementwise = ELEMENTWISE_METHODS[method.toLowerCase()];
  if (elementwise)
    throw new ReconError(`--method ${method} is not available: ${elementwise}, which the per-layer Gram design does not provide (see README Limitations)`);
  if (!isMethodName(method)) throw new ReconError(`--method must be one of ${METHOD_NAMES.join(', ')}; got "${method}"`);
  const methodOptions = methodOptionsArg(args, method);
  const cagradAlpha = optionValue(args, 'cagrad-alpha');
  if (cagradAlpha !== undefined && method === 'cagrad') parseMethodOptions('cagrad', { alpha: cagradAlpha });
  const S = listOption(args, 'S').map(Number);
  if (S.some((s) => !(s >= -1 && s <= 1))) throw new ReconError('--S values must lie in [-1, 1]');
  const shardText = optionValue(args, 'shard');
  let shard: ScanConfig['shard'];
  if (shardText) {
    const m = /^(\d+)\/(\d+)$/.exec(shardText);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) throw new ReconError(`--shard must be i/n with 1 <= i <= n, got "${shardText}"`);
    shard = { index: Number(m[1]) - 1, count: Number(m[2]) };
  }
  const steps = optionValue(args, 'steps');
  const positiveInt = (name: string, fallback: number): number => {
    const v = numberOption(args, name, fallback, cmd);
    if (!Number.isInteger(v) || v < 1) throw new ReconError(`--${name} must be a positive integer`);
    return v;
  };
  const threads = optionValue(args, 'threads');
  const runtime = runtimeArgs(args, io);
  return {
    modelPath,
    dataPath,
    epochs: positiveInt('epochs', 1),
    ...(steps !== undefined ? { steps: positiveInt('steps', 1) } : {}),
    batchSize: positiveInt('batch-size', 256),
    seed: numberOption(args, 'seed', 0, cmd),
    shuffle: !args.flags.has('no-shuffle'),
    optimizer: {
      kind: optimizer,
      lr: numberOption(args, 'lr', optimizer === 'adam' ? 1e-4 : 0.1, cmd),
      momentum: numberOption(args, 'momentum', optimizer === 'sgd' ? 0.9 : 0, cmd),
      weightDecay: numberOption(args, 'weight-decay', 0, cmd),
      milestones: listOption(args, 'milestones').map(Number),
      gamma: numberOption(args, 'gamma', 0.1, cmd),
    },
    method,
    ...(Object.keys(methodOptions).length > 0 ? { methodOptions } : {}),
    S: S.length > 0 ? S : DEFAULT_S,
    batchNorm: bnArg(args, 'train'),
    device: runtime.device,
    ...(threads ? { intraOpThreads: Number(threads) } : {}),
    sessionOptions: {
      onWarning: runtime.onWarning,
      ...(runtime.graphOptimizationLevel ? { graphOptimizationLevel: runtime.graphOptimizationLevel } : {}),
    },
    ...(shard ? { shard } : {}),
    recordSteps: args.flags.has('record-steps'),
    update: updateModeArg(args),
    ...(optionValue(args, 'cagrad-alpha') !== undefined ? { cagradAlpha: numberOption(args, 'cagrad-alpha', 0.2, cmd) } : {}),
  };
}

/** `--method-opt key=value` (repeatable, or comma-separated), validated against the method's options. */
function methodOptionsArg(args: ParsedArgs, method: Parameters<typeof parseMethodOptions>[0]): MethodOptionValues {
  const given: Record<string, string> = {};
  for (const item of listOption(args, 'method-opt')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ReconError(`--method-opt must be key=value, got "${item}"`);
    given[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return parseMethodOptions(method, given);
}

/**
 * Runs a scan with a progress bar; Ctrl-C asks it to stop after the current step, and it keeps a
 * resumable checkpoint next to the report while it runs.
 */
export async function runWithInterrupts(
  io: CommandIO,
  scan: (hooks: Parameters<typeof runScan>[4]) => Promise<ScanResult>,
  /** Where checkpoints go (next to this report); undefined: no checkpoints. */
  reportPath: string | undefined,
  checkpointEvery: number,
  label = 'scan',
): Promise<ScanResult> {
  let stop = false;
  const onSignal = (): void => {
    if (stop) process.exit(130);
    stop = true;
    io.stderr('\ninterrupt: finishing the current step and writing a partial report (Ctrl-C again to quit at once)\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const bar = new ProgressBar(io.stderr, io.interactive, label);
  try {
    const result = await scan({
      shouldStop: () => stop,
      ...(reportPath ? { checkpointEvery, onCheckpoint: (c: ScanCheckpoint) => saveCheckpoint(reportPath, c) } : {}),
      onStep: (p) => {
        const losses = Object.entries(p.losses)
          .map(([t, l]) => `${t} ${l.toFixed(3)}`)
          .join(' ');
        bar.update(p.step, p.totalSteps, `epoch ${p.epoch + 1}  loss ${losses}  conflicts ${(100 * p.conflictRate).toFixed(1)}%`);
      },
    });
    bar.finish();
    if (result.report.settings.optimizer.name !== 'none')
      io.stderr(
        `${label}: training update ran ${result.updatePath === 'host' ? 'on the host' : result.updatePath === 'graph' ? 'in the graph' : 'in the graph after a first run for the Grams (two-phase)'}\n`,
      );
    return result;
  } catch (e) {
    bar.finish();
    const partial = (e as { partial?: ScanResult }).partial;
    if (partial && reportPath) writeScanOutputs(partial, reportPath, undefined);
    throw e;
  } finally {
    bar.finish();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function updateModeArg(args: ParsedArgs): UpdateMode {
  const v = optionValue(args, 'update') ?? 'auto';
  if (v !== 'auto' && v !== 'host' && v !== 'graph') throw new ReconError(`--update must be auto, host or graph, got "${v}"`);
  return v;
}
