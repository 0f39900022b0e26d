import { writeTextFileAtomic } from '../../util/atomic-write.js';
import { ReconError } from '../../util/errors.js';
import { saveModel } from '../../onnx/save.js';
import { loadDataset } from '../../data/dataset.js';
import { analyzeModel } from '../../analysis/analyze.js';
import { cloneModel } from '../../autodiff/gradient-graph.js';
import { evaluateModel, formatMetrics, type TaskMetrics } from '../../train/evaluate.js';
import { reinitialize } from '../../train/reinit.js';
import { deltaMOrWarn, readMetricsFile } from '../../train/delta-m.js';
import { writeConflictReport } from '../../report/io.js';
import { runScan } from '../../conflict/scan.js';
import { optionValue, type ParsedArgs } from '../args.js';
import { resolve } from 'node:path';
import { inferenceForm, trainingForm, type FormChange } from '../../train/model-forms.js';
import type { Command } from '../command.js';
import { modelTasksAndData, RUNTIME_OPTIONS, TASK_OPTIONS } from './common.js';
import { runWithInterrupts, SCAN_OPTIONS, scanConfig } from './scan.js';

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train every parameter of a multi-task model (e.g. original vs rewritten, same method) and report per-task test metrics.',
  usage:
    'recon train model.onnx --tasks spec.json --data train.npz --eval test.npz [--epochs E] [--method NAME [--method-opt key=value]] [--reinit] -o trained.onnx [--keep-training-form [--training-output f]]',
  positionals: [{ name: 'the model', kind: 'input' }],
  options: [
    ...TASK_OPTIONS,
    ...SCAN_OPTIONS,
    { name: 'eval', check: { kind: 'input' }, value: 'test.npz', description: 'test data for per-task metrics' },
    { name: 'eval-every', check: { kind: 'number', integer: true, min: 1 }, value: 'N', description: 'evaluate every N epochs (default: at the end only)' },
    { name: 'reinit', description: 'start from fresh PyTorch-style initial values (Recon retrains from scratch)' },
    {
      name: 'output',
      check: { kind: 'output' },
      value: 'trained.onnx',
      description: 'inference-ready trained model: BN with running statistics, no Dropout (-o works too)',
    },
    {
      name: 'keep-training-form',
      description: 'also write the trained model in training form (BN in training mode, Dropout kept) to <output>.training.onnx',
    },
    { name: 'training-output', check: { kind: 'output' }, value: 'file', description: 'where --keep-training-form writes (default <output>.training.onnx)' },
    { name: 'metrics', check: { kind: 'output' }, value: 'file', description: 'metrics JSON (default <output>.metrics.json)' },
    { name: 'report', check: { kind: 'output' }, value: 'file', description: 'also keep the conflict report of the training run' },
    {
      name: 'baseline',
      check: { kind: 'input' },
      value: 'metrics.json',
      description: "another training's metrics (e.g. the original model's): adds Δm% against it",
    },
    ...RUNTIME_OPTIONS,
  ],
  lockedOutput: (args) => optionValue(args, 'output'),
  async run(args, io) {
    const { path, model: loaded, tasks, dataPath } = modelTasksAndData(args, io, this.usage);
    const output = optionValue(args, 'output');
    if (!output) throw new ReconError('-o trained.onnx is required');
    if (optionValue(args, 'method') === 'graddrop') {
      throw new ReconError(
        'graddrop is not available: it needs element-wise access to the gradient of the shared representation, which the per-layer Gram design does not provide (see README)',
      );
    }
    const config = scanConfig(args, path, dataPath, io);
    if (config.optimizer.kind === 'none') throw new ReconError('training needs --optimizer sgd or adam');
    const outputs = trainOutputs(args, path, output);
    if (outputs.trainingForm && config.batchNorm === 'eval' && loaded.graph.nodes.some((n) => n.opType === 'BatchNormalization')) {
      throw new ReconError(
        '--keep-training-form writes BatchNormalization in training mode, but --bn eval trains with frozen running statistics; drop one of them',
      );
    }
    // Both forms are derived before training, so a model that cannot take them fails before the work.
    inferenceForm(loaded);
    if (outputs.trainingForm) trainingForm(loaded);
    const model = cloneModel(loaded);
    if (args.flags.has('reinit')) reinitialize(model, analyzeModel(model, tasks), config.seed);
    const train = loadDataset(dataPath);
    const evalPath = optionValue(args, 'eval');
    const test = evalPath ? loadDataset(evalPath) : undefined;
    const every = Number(optionValue(args, 'eval-every') ?? 0);
    const baselinePath = optionValue(args, 'baseline');
    if (baselinePath && !test) throw new ReconError('--baseline needs --eval: Δm compares test metrics');
    const baseline = baselinePath ? readMetricsFile(baselinePath) : undefined;
    const otherTasks = baseline?.filter((m) => !tasks.some((t) => t.name === m.task)).map((m) => m.task) ?? [];
    if (otherTasks.length > 0) throw new ReconError(`--baseline ${baselinePath} has task ${otherTasks.join(', ')}, which this model does not`);
    const history: { epoch: number; metrics: TaskMetrics[] }[] = [];
    const evaluate = async (epoch: number, current: () => typeof model): Promise<void> => {
      if (!test) return;
      const metrics = await evaluateModel(current(), tasks, test, { ...config.sessionOptions, device: config.device });
      history.push({ epoch: epoch + 1, metrics });
      io.stderr(`\nepoch ${epoch + 1}: ${formatMetrics(metrics)}\n`);
    };
    const totalEpochs = config.steps ? Math.ceil(config.steps / Math.floor(train.length / config.batchSize)) : config.epochs!;
    const result = await runWithInterrupts(
      io,
      (hooks) =>
        runScan(model, tasks, train, config, {
          ...hooks,
          onEpochEnd: (epoch, current) =>
            (every > 0 && (epoch + 1) % every === 0) || epoch + 1 === totalEpochs ? evaluate(epoch, current) : Promise.resolve(),
        }),
      undefined,
      0,
      'train',
    );
    const trained = result.trainedModel!;
    const inference = inferenceForm(trained);
    saveModel(inference.model, output);
    io.stderr(`${describeForm('inference form', inference.changes, 'no BatchNormalization in training mode, no Dropout')}\n`);
    if (outputs.trainingForm) {
      const training = trainingForm(trained);
      saveModel(training.model, outputs.trainingForm);
      io.stderr(`${describeForm('training form', training.changes, 'every BatchNormalization already in training mode')}\n`);
      if (inference.changes.length === 0 && training.changes.length === 0) {
        io.stderr(`warning: the model has no BatchNormalization or Dropout, so ${outputs.trainingForm} equals ${output}\n`);
      }
    }
    const metricsPath = outputs.metrics;
    const final = history[history.length - 1]?.metrics;
    const delta = final && baseline ? deltaMOrWarn(final, baseline, (m) => io.stderr(`warning: ${m}\n`)) : undefined;
    writeTextFileAtomic(
      metricsPath,
      `${JSON.stringify({ schemaVersion: 1, model: path, output, trainingForm: outputs.trainingForm ?? null, settings: result.report.settings, reinit: args.flags.has('reinit'), partial: result.report.partial, history, final: final ?? null, ...(delta ? { baseline: baselinePath, deltaM: delta } : {}), losses: result.report.losses }, null, 2)}\n`,
    );
    if (outputs.report) writeConflictReport(outputs.report, result.report);
    io.stdout(
      `wrote ${output}${outputs.trainingForm ? `\ntraining form: ${outputs.trainingForm}` : ''}\nmetrics: ${metricsPath}${final ? `\nfinal: ${formatMetrics(final)}` : ''}${delta ? `\nΔm% against ${baselinePath}: ${delta.deltaPct.toFixed(2)} (negative = better)` : ''}\n`,
    );
    return result.report.partial ? 130 : 0;
  },
};

/** Output paths of `recon train`, validated before any work: none may be the input or another output. */
function trainOutputs(args: ParsedArgs, input: string, output: string): { metrics: string; trainingForm: string | undefined; report: string | undefined } {
  const keep = args.flags.has('keep-training-form');
  const trainingOutput = optionValue(args, 'training-output');
  if (trainingOutput !== undefined && !keep) throw new ReconError('--training-output needs --keep-training-form');
  const trainingForm = keep ? (trainingOutput ?? `${output.replace(/\.onnx$/i, '')}.training.onnx`) : undefined;
  const metrics = optionValue(args, 'metrics') ?? `${output}.metrics.json`;
  const report = optionValue(args, 'report');
  const named: [string, string | undefined][] = [
    ['-o', output],
    ['--training-output', trainingForm],
    ['--metrics', metrics],
    ['--report', report],
  ];
  const seen = new Map<string, string>([[resolve(input), 'the input model']]);
  for (const [flag, file] of named) {
    if (file === undefined) continue;
    const other = seen.get(resolve(file));
    if (other) throw new ReconError(`${flag} ${file} is also ${other}; choose another path`);
    seen.set(resolve(file), `${flag}'s output`);
  }
  return { metrics, trainingForm, report };
}

/** One line: what a form conversion changed, by op and kind of change. */
function describeForm(label: string, changes: readonly FormChange[], whyNone: string): string {
  if (changes.length === 0) return `${label}: nothing to change (${whyNone})`;
  const counts = new Map<string, number>();
  for (const c of changes) counts.set(`${c.op}: ${c.change}`, (counts.get(`${c.op}: ${c.change}`) ?? 0) + 1);
  return `${label}: ${[...counts].map(([what, n]) => `${n} × ${what}`).join('; ')}`;
}
