import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ReconError } from '../../util/errors.js';
import { loadModel } from '../../onnx/load.js';
import type { Model } from '../../onnx/model.js';
import { saveModel, serializeModel } from '../../onnx/save.js';
import { loadDataset, type Dataset } from '../../data/dataset.js';
import type { TaskSpec } from '../../analysis/task-spec.js';
import { analyzeModel } from '../../analysis/analyze.js';
import { CostModel, reconRewrite, type ReconRewriteResult } from '../../rewrite/recon.js';
import { selectLayers, type SelectionRule } from '../../rewrite/select.js';
import { verify } from '../../rewrite/verify.js';
import { readProvenance } from '../../rewrite/provenance.js';
import { runScan, type ScanConfig } from '../../conflict/scan.js';
import { loadCheckpoint, checkpointPaths } from '../../conflict/checkpoint.js';
import { readConflictReport, writeTextFileAtomic } from '../../report/io.js';
import type { ConflictReport } from '../../report/schema.js';
import { compareReports, renderCompareText } from '../../report/compare.js';
import { renderHtmlReport, type HtmlReportOptions } from '../../report/html.js';
import { graphViewOf, readStepCosines } from '../../report/graph/load.js';
import { cloneModel } from '../../autodiff/gradient-graph.js';
import { reinitialize } from '../../train/reinit.js';
import { evaluateModel, formatMetrics, type TaskMetrics } from '../../train/evaluate.js';
import { deltaMOrWarn, type DeltaM } from '../../train/delta-m.js';
import { numberOption, optionValue, type ParsedArgs } from '../args.js';
import type { Command, CommandIO } from '../command.js';
import { modelTasksAndData, RUNTIME_OPTIONS, TASK_OPTIONS } from './common.js';
import { runWithInterrupts, SCAN_OPTIONS, scanConfig, writeScanOutputs } from './scan.js';

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
    mkdirSync(out, { recursive: true });
    const S = Number(optionValue(args, 'S') ?? -0.02);
    const config = searchConfig(args, path, dataPath, S, io);
    const dataset = loadDataset(dataPath);
    const log = (m: string): void => io.stderr(`${m}\n`);

    // 1. Conflict scan of the original model.
    const reportPath = join(out, 'report.json');
    const before = await scanStage(io, log, 'scan of the original model', model, tasks, dataset, config, reportPath);

    // 2–3. Select, rewrite, verify.
    const analysis = analyzeModel(model, tasks);
    const costModel = await CostModel.create(model, analysis);
    const sIndex = before.settings.S.indexOf(S);
    const rule = selectionRule(args);
    const ranked = before.layers.map((l) => ({ name: l.name, score: l.scores[sIndex]!.score, params: l.params }));
    const selection = selectLayers(ranked, rule, (names) => costModel.cost(names));
    const rewrittenPath = join(out, 'model.recon.onnx');
    const rewritten = await rewriteStage(log, model, tasks, selection.layers, rewrittenPath, {
      S,
      rule,
      report: reportPath,
      layers: selection.layers.map((n) => ({ name: n, score: ranked.find((r) => r.name === n)!.score })),
    });

    // 4. Scan of the rewritten model, same data, seed and settings.
    const afterPath = join(out, 'report-rewritten.json');
    const after = await scanStage(io, log, 'scan of the rewritten model', rewritten.model, tasks, dataset, { ...config, modelPath: rewrittenPath }, afterPath);

    // 5. Compare and report.
    const comparison = compareReports(before, after);
    writeTextFileAtomic(join(out, 'compare.json'), `${JSON.stringify(comparison, null, 2)}\n`);
    const topK = selection.layers.length;
    writeTextFileAtomic(
      join(out, 'report.html'),
      renderHtmlReport(before, { top: topK, S, compare: comparison, ...graphOptions(log, model, rewritten.model, rewrittenPath, before, reportPath) }),
    );

    // 6. Optional: does it help? Train both from scratch with the same settings.
    let metrics: { original: TaskMetrics[]; recon: TaskMetrics[] } | undefined;
    let delta: DeltaM | undefined;
    const evalPath = optionValue(args, 'eval');
    if (evalPath) {
      const test = loadDataset(evalPath);
      const epochs = numberOption(args, 'train-epochs', 1, 'run');
      const trainConfig: ScanConfig = { ...config, epochs, steps: undefined, S: [S], recordSteps: false } as ScanConfig;
      delete (trainConfig as { steps?: number }).steps;
      const original = await trainStage(io, log, 'original', model, tasks, dataset, test, trainConfig, join(out, 'train-original.json'));
      const recon = await trainStage(
        io,
        log,
        'rewritten',
        rewritten.model,
        tasks,
        dataset,
        test,
        { ...trainConfig, modelPath: rewrittenPath },
        join(out, 'train-recon.json'),
      );
      metrics = { original, recon };
      delta = deltaMOrWarn(recon, original, (m) => io.stderr(`warning: ${m}\n`));
      if (delta)
        writeTextFileAtomic(
          join(out, 'delta-m.json'),
          `${JSON.stringify({ baseline: 'train-original.json', model: 'train-recon.json', ...delta }, null, 2)}\n`,
        );
    }

    const n = (v: number): string => v.toLocaleString('en-US');
    const cost = rewritten.cost;
    const lines = [
      '',
      `Recon on ${path}: ${tasks.map((t) => t.name).join(', ')}`,
      `chosen ${selection.layers.length} layer(s) at S=${S}: ${selection.layers.join(', ')}`,
      `parameters  ${n(cost.paramsBefore)} → ${n(cost.paramsAfter)} (+${cost.paramIncreasePct.toFixed(2)}%)`,
      `MACs/sample ${n(cost.macsBefore)} → ${n(cost.macsAfter)} (+${cost.macIncreasePct.toFixed(2)}%)`,
      renderCompareText(comparison),
      ...(metrics ? [`test metrics, original:  ${formatMetrics(metrics.original)}`, `test metrics, rewritten: ${formatMetrics(metrics.recon)}`] : []),
      ...(delta ? [`Δm% of the rewritten model against the original: ${delta.deltaPct.toFixed(2)} (negative = better)`] : []),
      '',
      `outputs in ${out}: model.recon.onnx, report.json, report-rewritten.json, compare.json, report.html (with the conflict graph)`,
    ];
    io.stdout(`${lines.join('\n')}\n`);
    return 0;
  },
};

/** The report's graph views: the original model coloured by its scan, and the rewritten one with its branches. */
function graphOptions(
  log: (m: string) => void,
  original: Model,
  rewritten: Model,
  rewrittenPath: string,
  before: ConflictReport,
  reportPath: string,
): Pick<HtmlReportOptions, 'graph' | 'graphMissing' | 'rewrittenGraph' | 'rewrittenPath' | 'stepCosines'> {
  const stepCosines = readStepCosines(before, reportPath);
  try {
    return {
      graph: graphViewOf(original, before),
      rewrittenGraph: graphViewOf(rewritten, before),
      rewrittenPath,
      ...(stepCosines ? { stepCosines } : {}),
    };
  } catch (e) {
    const why = `drawing the model graph failed: ${e instanceof Error ? e.message : String(e)}`;
    log(`warning: ${why}`);
    return { graphMissing: why };
  }
}

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

function selectionRule(args: ParsedArgs): SelectionRule {
  const params = optionValue(args, 'max-param-increase');
  const flops = optionValue(args, 'max-flop-increase');
  const topK = optionValue(args, 'top-k');
  if ([params, flops, topK].filter((v) => v !== undefined).length > 1) throw new ReconError('give one of --top-k, --max-param-increase, --max-flop-increase');
  if (params !== undefined) return { maxParamIncreasePct: Number(params.replace(/%$/, '')) };
  if (flops !== undefined) return { maxMacIncreasePct: Number(flops.replace(/%$/, '')) };
  return { topK: Number(topK ?? 25) };
}

function modelHash(model: Model): string {
  return createHash('sha256').update(serializeModel(model)).digest('hex');
}

/** A finished scan with the same model and settings is reused; an interrupted one is resumed. */
async function scanStage(
  io: CommandIO,
  log: (m: string) => void,
  what: string,
  model: Model,
  tasks: readonly TaskSpec[],
  dataset: Dataset,
  config: ScanConfig,
  reportPath: string,
): Promise<ConflictReport> {
  if (existsSync(reportPath)) {
    const existing = readConflictReport(reportPath);
    const same =
      existing.model.sha256 === modelHash(model) && JSON.stringify(existing.settings.S) === JSON.stringify(config.S) && existing.settings.seed === config.seed;
    if (same && !existing.partial) {
      log(`reusing ${what}: ${reportPath}`);
      return existing;
    }
  }
  const resume = existsSync(checkpointPaths(reportPath).json) ? loadCheckpoint(reportPath) : undefined;
  log(`${resume ? 'resuming' : 'running'} ${what}`);
  const result = await runWithInterrupts(io, (hooks) => runScan(model, tasks, dataset, config, hooks, resume), reportPath, 25);
  writeScanOutputs(result, reportPath, undefined);
  if (result.report.partial) throw new ReconError(`${what} stopped: ${result.report.partialReason}; run the same command again to continue`);
  return result.report;
}

async function rewriteStage(
  log: (m: string) => void,
  model: Model,
  tasks: readonly TaskSpec[],
  layers: string[],
  path: string,
  provenance: Record<string, unknown>,
): Promise<ReconRewriteResult> {
  const result = await reconRewrite(model, tasks, layers, { provenance: { selection: provenance } });
  if (existsSync(path)) {
    const existing = loadModel(path);
    const last = readProvenance(existing).at(-1) as { selection?: { layers?: { name: string }[] } } | undefined;
    const same = JSON.stringify(last?.selection?.layers?.map((l) => l.name)) === JSON.stringify(layers) && modelHash(existing) === modelHash(result.model);
    if (same) {
      log(`reusing the rewritten model: ${path}`);
      return { ...result, model: existing };
    }
  }
  const v = await verify(model, result.model, { outputs: tasks.map((t) => t.output) });
  if (!v.ok) throw new ReconError(`verification failed: output "${v.worst.output}" differs by ${v.worst.maxAbsDiff}`);
  log(`rewrote ${layers.length} layer(s), outputs verified equal; wrote ${path}`);
  saveModel(result.model, path);
  return result;
}

async function trainStage(
  io: CommandIO,
  log: (m: string) => void,
  what: string,
  model: Model,
  tasks: readonly TaskSpec[],
  train: Dataset,
  test: Dataset,
  config: ScanConfig,
  metricsPath: string,
): Promise<TaskMetrics[]> {
  if (existsSync(metricsPath)) {
    log(`reusing training of the ${what} model: ${metricsPath}`);
    return (JSON.parse(readFileSync(metricsPath, 'utf8')) as { metrics: TaskMetrics[] }).metrics;
  }
  const fresh = cloneModel(model);
  reinitialize(fresh, analyzeModel(fresh, [...tasks]), config.seed);
  log(`training the ${what} model from scratch`);
  const result = await runWithInterrupts(io, (hooks) => runScan(fresh, tasks, train, config, hooks), undefined, 0, `train ${what}`);
  if (result.report.partial) throw new ReconError(`training of the ${what} model stopped: ${result.report.partialReason}`);
  const metrics = await evaluateModel(result.trainedModel!, tasks, test, { ...config.sessionOptions, device: config.device });
  writeTextFileAtomic(metricsPath, `${JSON.stringify({ model: config.modelPath, epochs: config.epochs, metrics }, null, 2)}\n`);
  return metrics;
}
