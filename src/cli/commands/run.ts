import { ReconError } from '../../util/errors.js';
import { loadDataset } from '../../data/dataset.js';
import type { ScanConfig } from '../../conflict/scan.js';
import { renderCompareText } from '../../report/compare.js';
import { formatMetrics } from '../../train/evaluate.js';
import { numberOption, optionValue, type ParsedArgs } from '../args.js';
import type { Command, CommandIO } from '../command.js';
import { modelTasksAndData, RUNTIME_OPTIONS, TASK_OPTIONS } from './common.js';
import { runPipeline } from '../../pipeline/run.js';
import { selectionRule } from '../../pipeline/choose-layers.js';
import { runWithInterrupts, SCAN_OPTIONS, scanConfig } from './scan.js';

export const runCommand: Command = {
  name: 'run',
  summary: 'The whole Recon pipeline: scan → select → rewrite → verify → scan the rewritten model → compare → report (re-runs reuse finished stages).',
  usage:
    'recon run model.onnx --tasks spec.json --data train.npz [--eval test.npz] [--search-steps N | --search-epochs E] [--S s] [--top-k K | --max-param-increase P% | --max-flop-increase P%] -o out/',
  positionals: [{ name: 'the model', kind: 'input' }],
  options: [
    ...TASK_OPTIONS,
    ...SCAN_OPTIONS.filter((o) => o.name !== 'epochs' && o.name !== 'steps'),
    { name: 'search-steps', check: { kind: 'number', integer: true, min: 1 }, value: 'N', description: 'steps of each conflict scan' },
    { name: 'search-epochs', check: { kind: 'number', min: 0, above: true }, value: 'E', description: 'epochs of each conflict scan (default 1)' },
    {
      name: 'S',
      check: { kind: 'number', min: -1, max: 1 },
      value: 's',
      description: 'S of the S-conflict score that ranks layers (default -0.02); the scans also record 0,-0.02,-0.05,-0.1',
    },
    {
      name: 'top-k',
      check: { kind: 'number', integer: true, min: 1 },
      value: 'K',
      description: 'branch the K highest-scoring layers (default 25 when no budget is given)',
    },
    { name: 'max-param-increase', value: 'P%', description: 'budget: parameters grow by at most P%' },
    { name: 'max-flop-increase', value: 'P%', description: 'budget: multiply-accumulates grow by at most P%' },
    {
      name: 'eval',
      check: { kind: 'input' },
      value: 'test.npz',
      description: 'also train the original and the rewritten model from scratch and compare test metrics',
    },
    { name: 'train-epochs', check: { kind: 'number', min: 0, above: true }, value: 'E', description: 'epochs of that training (default 1)' },
    { name: 'output', check: { kind: 'output-dir' }, value: 'dir', description: 'output folder (-o works too)' },
    {
      name: 'record-steps',
      description: "the scans also store every per-step cosine (<report>.cosines.f32); report.html's graph tooltips then chart each layer's cosine per step",
    },
    ...RUNTIME_OPTIONS,
  ],
  lockedOutput: (args) => optionValue(args, 'output'),
  async run(args, io) {
    const { path, model, tasks, dataPath } = modelTasksAndData(args, io, this.usage);
    const out = optionValue(args, 'output');
    if (!out) throw new ReconError('-o out/ is required');
    const S = Number(optionValue(args, 'S') ?? -0.02);
    const config = searchConfig(args, path, dataPath, S, io);
    const rule = selectionRule(
      {
        topK: optionValue(args, 'top-k'),
        maxParamIncrease: optionValue(args, 'max-param-increase'),
        maxFlopIncrease: optionValue(args, 'max-flop-increase'),
      },
      25,
    );
    const evalPath = optionValue(args, 'eval');
    const result = await runPipeline(
      {
        model,
        tasks,
        dataset: loadDataset(dataPath),
        config,
        S,
        rule,
        out,
        ...(evalPath ? { evaluation: { test: loadDataset(evalPath), epochs: numberOption(args, 'train-epochs', 1, 'run') } } : {}),
      },
      {
        log: (m) => io.stderr(`${m}\n`),
        warn: (m) => io.stderr(`warning: ${m}\n`),
        scan: (label, run, reportPath, every) => runWithInterrupts(io, run, reportPath, every, label),
      },
    );
    const n = (v: number): string => v.toLocaleString('en-US');
    const cost = result.rewritten.cost;
    const lines = [
      '',
      `Recon on ${path}: ${tasks.map((t) => t.name).join(', ')}`,
      `chosen ${result.layers.length} layer(s) at S=${S}: ${result.layers.join(', ')}`,
      `parameters  ${n(cost.paramsBefore)} → ${n(cost.paramsAfter)} (+${cost.paramIncreasePct.toFixed(2)}%)`,
      `MACs/sample ${n(cost.macsBefore)} → ${n(cost.macsAfter)} (+${cost.macIncreasePct.toFixed(2)}%)`,
      renderCompareText(result.comparison),
      ...(result.metrics
        ? [`test metrics, original:  ${formatMetrics(result.metrics.original)}`, `test metrics, rewritten: ${formatMetrics(result.metrics.recon)}`]
        : []),
      ...(result.delta ? [`Δm% of the rewritten model against the original: ${result.delta.deltaPct.toFixed(2)} (negative = better)`] : []),
      '',
      `outputs in ${out}: ${result.outputs.join(', ')} (report.html with the conflict graph)`,
    ];
    io.stdout(`${lines.join('\n')}\n`);
    return 0;
  },
};

function searchConfig(args: ParsedArgs, path: string, dataPath: string, S: number, io: CommandIO): ScanConfig {
  const base = scanConfig(args, path, dataPath, io);
  const steps = optionValue(args, 'search-steps');
  const epochs = optionValue(args, 'search-epochs');
  const S4 = [0, -0.02, -0.05, -0.1];
  const config: ScanConfig = { ...base, S: S4.includes(S) ? S4 : [S, ...S4] };
  if (steps !== undefined) config.steps = numberOption(args, 'search-steps', 1, 'run');
  if (epochs !== undefined) config.epochs = numberOption(args, 'search-epochs', 1, 'run');
  return config;
}
