import { makeDirectory } from '../util/make-directory.js';
/**
 * The whole Recon pipeline as one library call: scan the original model → select layers → rewrite
 * → verify → scan the rewritten model → compare → HTML report, optionally training both from
 * scratch and evaluating them. Every stage writes its output into `out` and is reused on a re-run
 * with the same inputs (an interrupted scan resumes from its checkpoint).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTextFileAtomic } from '../util/atomic-write.js';
import { ReconError } from '../util/errors.js';
import { loadModel } from '../onnx/load.js';
import type { Model } from '../onnx/model.js';
import { saveModel, serializeModel } from '../onnx/save.js';
import type { Dataset } from '../data/dataset.js';
import { analyzeModel } from '../analysis/analyze.js';
import type { TaskSpec } from '../analysis/task-spec.js';
import { cloneModel } from '../autodiff/gradient-graph.js';
import { evaluateModel, type TaskMetrics } from '../train/evaluate.js';
import { deltaMOrWarn, type DeltaM } from '../train/delta-m.js';
import { reinitialize } from '../train/reinit.js';
import { reconRewrite, type ReconRewriteResult } from '../rewrite/recon.js';
import type { SelectionRule } from '../rewrite/select.js';
import { readProvenance } from '../rewrite/provenance.js';
import { verify } from '../rewrite/verify.js';
import { compareReports, type CompareResult } from '../report/compare.js';
import { graphViewOf, readStepCosines } from '../report/graph/load.js';
import { renderHtmlReport, type HtmlReportOptions } from '../report/html.js';
import { readConflictReport } from '../report/io.js';
import type { ConflictReport } from '../report/schema.js';
import { checkpointPaths, loadCheckpoint } from '../conflict/checkpoint.js';
import { runScan, type ScanConfig, type ScanHooks, type ScanResult } from '../conflict/scan.js';
import { writeScanOutputs } from './scan-outputs.js';
import { chooseRankedLayers } from './choose-layers.js';

export interface PipelineInput {
  model: Model;
  tasks: readonly TaskSpec[];
  /** Training data of the scans (and of the optional training). */
  dataset: Dataset;
  /** Settings of both scans; `config.modelPath` names the original model in the reports. */
  config: ScanConfig;
  /** The S whose ranking selects the layers. */
  S: number;
  rule: SelectionRule;
  /** Output folder (created if missing). */
  out: string;
  /** Train the original and the rewritten model from scratch with the scan's settings, and evaluate both. */
  evaluation?: { test: Dataset; epochs: number };
}

export interface PipelineHooks {
  log?: (message: string) => void;
  warn?: (message: string) => void;
  /**
   * Runs one scan or training (the CLI adds a progress bar and Ctrl-C handling); checkpoints go
   * next to `reportPath` when it is given. Default: run it as is.
   */
  scan?: (label: string, run: (hooks?: ScanHooks) => Promise<ScanResult>, reportPath: string | undefined, checkpointEvery: number) => Promise<ScanResult>;
}

export interface PipelineResult {
  before: ConflictReport;
  after: ConflictReport;
  comparison: CompareResult;
  layers: string[];
  rewritten: ReconRewriteResult;
  metrics?: { original: TaskMetrics[]; recon: TaskMetrics[] };
  delta?: DeltaM;
  /** The files written into `out`. */
  outputs: string[];
}

export async function runPipeline(input: PipelineInput, hooks: PipelineHooks = {}): Promise<PipelineResult> {
  const { model, tasks, dataset, config, S, out } = input;
  const log = hooks.log ?? (() => {});
  const warn = hooks.warn ?? log;
  const scan = hooks.scan ?? ((_label, run) => run({}));
  makeDirectory(out);
  const outputs: string[] = [];

  // 1. Conflict scan of the original model.
  const reportPath = join(out, 'report.json');
  const before = await scanStage(scan, log, 'scan of the original model', model, tasks, dataset, config, reportPath);
  outputs.push('report.json');

  // 2–3. Select (the same chooser as `recon rewrite --scores`), rewrite, verify.
  const sIndex = before.settings.S.indexOf(S);
  if (sIndex < 0) throw new ReconError(`the scan has no scores for S=${S} (it has S=${before.settings.S.join(', ')})`);
  const ranking = { source: reportPath, scored: before.layers.map((l) => ({ name: l.name, score: l.scores[sIndex]!.score })), S };
  const choice = await chooseRankedLayers(model, analyzeModel(model, [...tasks]), ranking, input.rule);
  const rewrittenPath = join(out, 'model.recon.onnx');
  const rewritten = await rewriteStage(log, model, tasks, choice.layers, rewrittenPath, choice.provenance);
  outputs.push('model.recon.onnx');

  // 4. Scan of the rewritten model, same data, seed and settings.
  const afterPath = join(out, 'report-rewritten.json');
  const after = await scanStage(scan, log, 'scan of the rewritten model', rewritten.model, tasks, dataset, { ...config, modelPath: rewrittenPath }, afterPath);
  outputs.push('report-rewritten.json');

  // 5. Compare and report.
  const comparison = compareReports(before, after);
  writeTextFileAtomic(join(out, 'compare.json'), `${JSON.stringify(comparison, null, 2)}\n`);
  writeTextFileAtomic(
    join(out, 'report.html'),
    renderHtmlReport(before, {
      top: choice.layers.length,
      S,
      compare: comparison,
      ...graphOptions(warn, model, rewritten.model, rewrittenPath, before, reportPath),
    }),
  );
  outputs.push('compare.json', 'report.html');

  // 6. Optional: does it help? Train both from scratch with the same settings.
  let metrics: PipelineResult['metrics'];
  let delta: DeltaM | undefined;
  if (input.evaluation) {
    const { test, epochs } = input.evaluation;
    const { steps: _steps, ...rest } = config;
    const trainConfig: ScanConfig = { ...rest, epochs, S: [S], recordSteps: false };
    const original = await trainStage(scan, log, 'original', model, tasks, dataset, test, trainConfig, join(out, 'train-original.json'));
    const recon = await trainStage(
      scan,
      log,
      'rewritten',
      rewritten.model,
      tasks,
      dataset,
      test,
      { ...trainConfig, modelPath: rewrittenPath },
      join(out, 'train-recon.json'),
    );
    outputs.push('train-original.json', 'train-recon.json');
    metrics = { original, recon };
    delta = deltaMOrWarn(recon, original, warn);
    if (delta) {
      writeTextFileAtomic(join(out, 'delta-m.json'), `${JSON.stringify({ baseline: 'train-original.json', model: 'train-recon.json', ...delta }, null, 2)}\n`);
      outputs.push('delta-m.json');
    }
  }
  return { before, after, comparison, layers: choice.layers, rewritten, ...(metrics ? { metrics } : {}), ...(delta ? { delta } : {}), outputs };
}

/** The report's graph views: the original model coloured by its scan, and the rewritten one with its branches. */
function graphOptions(
  warn: (m: string) => void,
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
    warn(why);
    return { graphMissing: why };
  }
}

function modelHash(model: Model): string {
  return createHash('sha256').update(serializeModel(model)).digest('hex');
}

type ScanRunner = NonNullable<PipelineHooks['scan']>;

/** A finished scan with the same model and settings is reused; an interrupted one is resumed. */
async function scanStage(
  scan: ScanRunner,
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
  const result = await scan('scan', (hooks) => runScan(model, tasks, dataset, config, hooks, resume), reportPath, 25);
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
  const result = await reconRewrite(model, tasks, layers, { provenance });
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
  scan: ScanRunner,
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
  const result = await scan(`train ${what}`, (hooks) => runScan(fresh, tasks, train, config, hooks), undefined, 0);
  if (result.report.partial) throw new ReconError(`training of the ${what} model stopped: ${result.report.partialReason}`);
  const metrics = await evaluateModel(result.trainedModel!, tasks, test, { ...config.sessionOptions, device: config.device });
  writeTextFileAtomic(metricsPath, `${JSON.stringify({ model: config.modelPath, epochs: config.epochs, metrics }, null, 2)}\n`);
  return metrics;
}
