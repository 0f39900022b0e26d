import { writeTextFileAtomic } from '../../util/atomic-write.js';
import { ReconError } from '../../onnx/errors.js';
import { saveModel } from '../../onnx/save.js';
import { loadDataset } from '../../data/dataset.js';
import { analyzeModel } from '../../analysis/analyze.js';
import { cloneModel } from '../../autodiff/gradient-graph.js';
import { evaluateModel, formatMetrics, type TaskMetrics } from '../../train/evaluate.js';
import { reinitialize } from '../../train/reinit.js';
import { deltaMOrWarn, readMetricsFile } from '../../train/delta-m.js';
import { writeConflictReport } from '../../report/io.js';
import { runScan } from '../../conflict/scan.js';
import { optionValue } from '../args.js';
import type { Command } from '../command.js';
import { modelTasksAndData, RUNTIME_OPTIONS, TASK_OPTIONS } from './common.js';
import { runWithInterrupts, SCAN_OPTIONS, scanConfig } from './scan.js';

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train every parameter of a multi-task model (e.g. original vs rewritten, same method) and report per-task test metrics.',
  usage:
    'recon train model.onnx --tasks spec.json --data train.npz --eval test.npz [--epochs E] [--method NAME [--method-opt key=value]] [--reinit] -o trained.onnx',
  options: [
    ...TASK_OPTIONS,
    ...SCAN_OPTIONS,
    { name: 'eval', value: 'test.npz', description: 'test data for per-task metrics' },
    { name: 'eval-every', value: 'N', description: 'evaluate every N epochs (default: at the end only)' },
    { name: 'reinit', description: 'start from fresh PyTorch-style initial values (Recon retrains from scratch)' },
    { name: 'output', value: 'trained.onnx', description: 'inference-ready trained model (-o works too)' },
    { name: 'metrics', value: 'file', description: 'metrics JSON (default <output>.metrics.json)' },
    { name: 'report', value: 'file', description: 'also keep the conflict report of the training run' },
    { name: 'baseline', value: 'metrics.json', description: "another training's metrics (e.g. the original model's): adds Δm% against it" },
    ...RUNTIME_OPTIONS,
  ],
  async run(args, io) {
    const { path, model: loaded, tasks, dataPath } = modelTasksAndData(args, io, this.usage);
    const output = optionValue(args, 'output');
    if (!output) throw new ReconError('-o trained.onnx is required');
    if (optionValue(args, 'method') === 'graddrop') {
      throw new ReconError(
        'graddrop is not available: it needs element-wise access to the gradient of the shared representation, which the per-layer Gram design does not provide (see README)',
      );
    }
    const config = scanConfig(args, path, dataPath);
    if (config.optimizer.kind === 'none') throw new ReconError('training needs --optimizer sgd or adam');
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
      const metrics = await evaluateModel(current(), tasks, test, { device: config.device });
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
    saveModel(trained, output);
    const metricsPath = optionValue(args, 'metrics') ?? `${output}.metrics.json`;
    const final = history[history.length - 1]?.metrics;
    const delta = final && baseline ? deltaMOrWarn(final, baseline, (m) => io.stderr(`warning: ${m}\n`)) : undefined;
    writeTextFileAtomic(
      metricsPath,
      `${JSON.stringify({ schemaVersion: 1, model: path, output, settings: result.report.settings, reinit: args.flags.has('reinit'), partial: result.report.partial, history, final: final ?? null, ...(delta ? { baseline: baselinePath, deltaM: delta } : {}), losses: result.report.losses }, null, 2)}\n`,
    );
    const reportPath = optionValue(args, 'report');
    if (reportPath) writeConflictReport(reportPath, result.report);
    io.stdout(
      `wrote ${output}\nmetrics: ${metricsPath}${final ? `\nfinal: ${formatMetrics(final)}` : ''}${delta ? `\nΔm% against ${baselinePath}: ${delta.deltaPct.toFixed(2)} (negative = better)` : ''}\n`,
    );
    return result.report.partial ? 130 : 0;
  },
};
