/**
 * Recon's ablation as one call: from a scan report and a budget, Recon's selection and its controls
 * are each rewritten, trained from scratch with identical settings and seeds, evaluated, and
 * tabulated with their cost, Δm% against joint training and the conflicts left in the shared layers.
 */
import { makeDirectory } from '../util/make-directory.js';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReconError, isReconError } from '../util/errors.js';
import type { Model } from '../onnx/model.js';
import { saveModel, serializeModel } from '../onnx/save.js';
import type { TaskSpec } from '../analysis/task-spec.js';
import { analyzeModel, type ModelAnalysis } from '../analysis/analyze.js';
import type { Dataset } from '../data/dataset.js';
import { checkDataset, planFeeds } from '../analysis/model-feeds.js';
import { cloneModel } from '../autodiff/gradient-graph.js';
import { runScan, type ScanConfig, type ScanResult } from '../conflict/scan.js';
import { CostModel, reconRewrite } from '../rewrite/recon.js';
import type { ConflictReport } from '../report/schema.js';
import { PAPER_BINS } from '../report/bins.js';
import { writeConflictReport } from '../report/io.js';
import { writePartsAtomic, writeTextFileAtomic } from '../util/atomic-write.js';
import { evaluateModel, type TaskMetrics } from '../train/evaluate.js';
import { reinitialize } from '../train/reinit.js';
import { deltaM, meanMetrics, taskMetricNames } from '../train/delta-m.js';
import { buildAblationVariants, type AblationBudget, type AblationVariant, type ControlKind } from './selections.js';
import {
  ABLATION_KIND,
  ABLATION_SCHEMA_VERSION,
  metricColumns,
  renderAblationCsv,
  type AblationRow,
  type AblationSummaryRow,
  type AblationTable,
  type RemainingConflict,
  type VariantCost,
} from './table.js';

/** Severe conflict as in the paper's Table 6 (and `recon compare`'s default): cos < −0.01. */
export const SEVERE_THRESHOLD = -0.01;

export interface AblationOptions {
  model: Model;
  /** Shown in the table. */
  modelPath: string;
  tasks: readonly TaskSpec[];
  /** The scan of `model` (or of another export with the same layer names) that ranks the layers. */
  report: ConflictReport;
  reportPath: string;
  train: Dataset;
  evalData: Dataset;
  budgets: readonly AblationBudget[];
  /** S values whose rankings choose Recon's layers (each must be in the report); default its first. */
  S?: readonly number[];
  controls: readonly ControlKind[];
  /** Training seeds: shuffling, initial values and stochastic methods. */
  seeds: readonly number[];
  /** Seeds the random controls' draws (default 0). */
  selectionSeed?: number;
  /** Training settings every run shares; `seed` is replaced by each seed of `seeds`. */
  training: ScanConfig;
  /** Results, per-run files (for resuming) and the table go here. */
  outDir: string;
  /** Also keep every trained model (models/<variant>.seed<n>.onnx). */
  saveModels?: boolean;
}

export interface AblationRunInfo {
  /** 1-based position among all (variant, seed) runs. */
  index: number;
  total: number;
  variant: string;
  seed: number;
  /** Whether a saved result with the same fingerprint is reused instead of training. */
  reused: boolean;
  /** Estimated seconds left for the runs still to train (null until one has finished). */
  etaSeconds: number | null;
}

export interface AblationHooks {
  log?: (message: string) => void;
  warn?: (message: string) => void;
  /** Trains one model (the CLI adds a progress bar and Ctrl-C handling); default `runScan`. */
  train?: (model: Model, tasks: readonly TaskSpec[], data: Dataset, config: ScanConfig, label: string) => Promise<ScanResult>;
  onRunStart?: (info: AblationRunInfo) => void;
}

export interface AblationPlan {
  variants: AblationVariant[];
  costs: Map<string, VariantCost>;
  analysis: ModelAnalysis;
  modelSha256: string;
  S: number[];
}

/** Saved per (variant, seed) so a rerun with the same output folder skips it. */
interface RunRecord {
  fingerprint: string;
  variant: string;
  seed: number;
  layers: string[];
  metrics: TaskMetrics[];
  conflict: Omit<RemainingConflict, 'severeReductionPct'>;
  steps: number;
  seconds: number;
}

/**
 * Checks every input and builds every variant's selection and cost before any training, so a
 * mistake surfaces in seconds, not after hours.
 */
export async function planAblation(options: AblationOptions, warn: (message: string) => void = () => {}): Promise<AblationPlan> {
  const { model, tasks, report } = options;
  if (tasks.length < 2) throw new ReconError('an ablation needs at least two tasks');
  if (options.training.optimizer.kind === 'none') throw new ReconError('the ablation trains every variant: use --optimizer sgd or adam');
  if (options.seeds.length === 0) throw new ReconError('give at least one training seed');
  for (const s of options.seeds) if (!Number.isInteger(s) || s < 0) throw new ReconError(`seeds must be non-negative integers, got ${s}`);
  if (new Set(options.seeds).size !== options.seeds.length) throw new ReconError(`a seed is repeated in ${options.seeds.join(',')}`);
  if (options.budgets.length === 0) throw new ReconError('give a budget: --top-k K, --k K1,K2 or --param-budget N');
  const controls = new Set(options.controls);
  if (controls.size !== options.controls.length) throw new ReconError(`a control is repeated in ${options.controls.join(',')}`);

  const S = options.S && options.S.length > 0 ? [...options.S] : [report.settings.S[0]!];
  for (const s of S) {
    if (!report.settings.S.includes(s)) {
      throw new ReconError(`${options.reportPath} has no scores for S=${s} (it has S=${report.settings.S.join(', ')}); scan with --S to add it`);
    }
  }
  if (report.partial)
    warn(`${options.reportPath} is a partial scan (${report.progress.stepsDone} of ${report.progress.totalSteps} steps); its scores rank the layers anyway`);

  const analysis = analyzeModel(model, [...tasks]);
  const shared = analysis.sharedLayers;
  const reported = new Set(report.layers.map((l) => l.name));
  const unscored = shared.filter((l) => !reported.has(l.name)).map((l) => l.name);
  if (unscored.length > 0) {
    throw new ReconError(
      `${options.reportPath} has no score for shared layer${unscored.length > 1 ? 's' : ''} ${unscored.slice(0, 3).join(', ')}${unscored.length > 3 ? ', ...' : ''}: was it made on another model?`,
    );
  }
  const unknown = report.layers.filter((l) => !shared.some((s) => s.name === l.name)).map((l) => l.name);
  if (unknown.length > 0) throw new ReconError(`${options.reportPath} ranks layer ${unknown[0]}, which is not a shared layer of this model`);

  const plan = planFeeds(model, tasks);
  for (const data of [options.train, options.evalData]) checkDataset(data, plan);
  if (options.train.length < options.training.batchSize) {
    throw new ReconError(`${options.train.source}: ${options.train.length} rows, fewer than one batch of ${options.training.batchSize}`);
  }

  const costModel = await CostModel.create(model, analysis);
  const scores = new Map(
    S.map((s) => {
      const index = report.settings.S.indexOf(s);
      return [s, new Map(report.layers.map((l) => [l.name, l.scores[index]!.score]))] as const;
    }),
  );
  const variants = buildAblationVariants(
    {
      layers: shared.map((l) => ({ name: l.name, addedParams: (l.tasks.length - 1) * l.numel })),
      baseParams: costModel.cost([]).paramsBefore,
      scores,
      budgets: options.budgets,
      controls: options.controls,
      selectionSeed: options.selectionSeed ?? 0,
    },
    warn,
  );
  const costs = new Map(
    variants.map((v) => {
      const c = costModel.cost(v.layers);
      return [v.id, { params: c.paramsAfter, paramIncreasePct: c.paramIncreasePct, macs: c.macsAfter, macIncreasePct: c.macIncreasePct }] as const;
    }),
  );
  const modelSha256 = createHash('sha256').update(serializeModel(model)).digest('hex');
  return { variants, costs, analysis, modelSha256, S };
}

/** The settings that change a training's result (device and threads do not, up to rounding). */
function trainingSettings(config: ScanConfig): Record<string, unknown> {
  return {
    epochs: config.steps === undefined ? (config.epochs ?? 1) : null,
    steps: config.steps ?? null,
    batchSize: config.batchSize,
    shuffle: config.shuffle,
    optimizer: config.optimizer,
    method: config.method,
    methodOptions: config.methodOptions ?? {},
    cagradAlpha: config.cagradAlpha ?? null,
    batchNorm: config.batchNorm,
  };
}

/**
 * Runs the ablation: for every seed, every variant (joint first) is rewritten, reinitialised with
 * the seed, trained, evaluated on `evalData`, and saved under outDir/runs; a rerun reuses every
 * saved run whose fingerprint (model, tasks, layers, seed, data, training settings) matches.
 * Writes ablation.json and ablation.csv (also when interrupted, marked partial) and returns the table.
 */
export async function runAblation(options: AblationOptions, hooks: AblationHooks = {}): Promise<AblationTable> {
  const log = hooks.log ?? (() => {});
  const warn = hooks.warn ?? (() => {});
  const train = hooks.train ?? ((model, tasks, data, config) => runScan(model, tasks, data, config));
  const plan = await planAblation(options, warn);
  const { outDir } = options;
  const runsDir = join(outDir, 'runs');
  makeDirectory(runsDir);
  if (options.saveModels) makeDirectory(join(outDir, 'models'));
  writeTextFileAtomic(join(outDir, 'selections.json'), `${JSON.stringify({ variants: plan.variants }, null, 2)}\n`);

  const settings = trainingSettings(options.training);
  const fingerprint = (layers: readonly string[], seed: number): string =>
    createHash('sha256')
      .update(
        JSON.stringify({
          model: plan.modelSha256,
          tasks: options.tasks,
          layers: [...layers].sort(),
          seed,
          train: [options.train.source, options.train.length],
          eval: [options.evalData.source, options.evalData.length],
          settings,
        }),
      )
      .digest('hex');
  const runPath = (variant: string, seed: number): string => join(runsDir, `${variant}.seed${seed}.json`);
  const readRecord = (path: string): RunRecord | undefined => {
    if (!existsSync(path)) return undefined;
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
    } catch {
      warn(`${path} is unreadable; training that run again`);
      return undefined;
    }
  };

  const runs = options.seeds.flatMap((seed) => plan.variants.map((variant) => ({ variant, seed, fingerprint: fingerprint(variant.layers, seed) })));
  const records = new Map<string, RunRecord>();
  const key = (variant: string, seed: number): string => `${variant}\n${seed}`;
  // Runs with equal layer sets and seed (e.g. first-K equal to Recon's choice) train once.
  const byFingerprint = new Map<string, RunRecord>();
  let toTrain = runs.filter((r) => readRecord(runPath(r.variant.id, r.seed))?.fingerprint !== r.fingerprint).length;
  const trainedSeconds: number[] = [];
  let stopped: ReconError | undefined;

  for (const [i, run] of runs.entries()) {
    const { variant, seed } = run;
    const path = runPath(variant.id, seed);
    const saved = readRecord(path);
    const same = byFingerprint.get(run.fingerprint);
    const reused = saved?.fingerprint === run.fingerprint || same !== undefined;
    const mean = trainedSeconds.length > 0 ? trainedSeconds.reduce((a, b) => a + b, 0) / trainedSeconds.length : null;
    hooks.onRunStart?.({ index: i + 1, total: runs.length, variant: variant.id, seed, reused, etaSeconds: mean === null ? null : mean * toTrain });
    const modelPath = (id: string): string => join(outDir, 'models', `${id}.seed${seed}.onnx`);
    if (saved?.fingerprint === run.fingerprint) {
      log(`reusing ${variant.id} seed ${seed}: ${path}`);
      if (options.saveModels && !existsSync(modelPath(variant.id))) {
        warn(`--save-models: ${variant.id} seed ${seed} was trained by an earlier run without it; no model file (delete ${path} to retrain)`);
      }
      records.set(key(variant.id, seed), saved);
      byFingerprint.set(run.fingerprint, saved);
      continue;
    }
    if (saved) log(`${path} was made with other settings, layers or data; training ${variant.id} seed ${seed} again`);
    if (same) {
      log(`${variant.id} seed ${seed} branches the same layers as ${same.variant}; reusing its training`);
      const copy = { ...same, variant: variant.id };
      writeTextFileAtomic(path, `${JSON.stringify(copy, null, 2)}\n`);
      // Its files are the other variant's: a copy keeps every variant's files where the README says.
      const reportOf = (id: string): string => join(runsDir, `${id}.seed${seed}.report.json`);
      if (existsSync(reportOf(same.variant))) writePartsAtomic(reportOf(variant.id), [readFileSync(reportOf(same.variant))]);
      if (options.saveModels && existsSync(modelPath(same.variant))) writePartsAtomic(modelPath(variant.id), [readFileSync(modelPath(same.variant))]);
      records.set(key(variant.id, seed), copy);
      toTrain--;
      continue;
    }
    try {
      const record = await trainVariant(options, plan, variant, seed, run.fingerprint, train, log);
      writeTextFileAtomic(path, `${JSON.stringify(record.record, null, 2)}\n`);
      writeConflictReport(join(runsDir, `${variant.id}.seed${seed}.report.json`), record.report);
      if (options.saveModels) saveModel(record.model, modelPath(variant.id));
      records.set(key(variant.id, seed), record.record);
      byFingerprint.set(run.fingerprint, record.record);
      trainedSeconds.push(record.record.seconds);
      toTrain--;
    } catch (error) {
      if (isReconError(error) && (error as ReconError & { stopped?: boolean }).stopped) {
        stopped = error;
        break;
      }
      throw error;
    }
  }

  const table = buildTable(options, plan, records, warn);
  table.partial = stopped !== undefined || table.rows.length < runs.length;
  writeTextFileAtomic(join(outDir, 'ablation.json'), `${JSON.stringify(table, null, 2)}\n`);
  writeTextFileAtomic(join(outDir, 'ablation.csv'), renderAblationCsv(table));
  if (stopped) throw stopped;
  return table;
}

async function trainVariant(
  options: AblationOptions,
  plan: AblationPlan,
  variant: AblationVariant,
  seed: number,
  fingerprint: string,
  train: NonNullable<AblationHooks['train']>,
  log: (message: string) => void,
): Promise<{ record: RunRecord; report: ConflictReport; model: Model }> {
  const started = Date.now();
  const { tasks } = options;
  const model =
    variant.layers.length === 0
      ? cloneModel(options.model)
      : (
          await reconRewrite(options.model, tasks, variant.layers, {
            analysis: plan.analysis,
            provenance: { ablation: { variant: variant.id, layers: variant.layers } },
          })
        ).model;
  reinitialize(model, analyzeModel(model, [...tasks]), seed);
  log(`training ${variant.id} seed ${seed} from scratch (${variant.layers.length} layer(s) branched)`);
  const config: ScanConfig = { ...options.training, seed, modelPath: `${options.modelPath} [${variant.id}]`, recordSteps: false };
  delete config.shard;
  delete config.cost;
  const result = await train(model, tasks, options.train, config, `${variant.id} seed ${seed}`);
  if (result.report.partial || !result.trainedModel) {
    const error = new ReconError(
      `training of ${variant.id} seed ${seed} stopped (${result.report.partialReason ?? 'no trained model'}); finished runs are kept in ${options.outDir}: run the same command again to continue`,
    );
    (error as ReconError & { stopped?: boolean }).stopped = true;
    throw error;
  }
  const metrics = await evaluateModel(result.trainedModel, tasks, options.evalData, { device: options.training.device });
  const record: RunRecord = {
    fingerprint,
    variant: variant.id,
    seed,
    layers: variant.layers,
    metrics,
    conflict: remainingConflict(result.report),
    steps: result.report.progress.stepsDone,
    seconds: (Date.now() - started) / 1000,
  };
  return { record, report: result.report, model: result.trainedModel };
}

/** Conflict occurrence over the shared layers of a training run, from its pooled paper histogram. */
export function remainingConflict(report: ConflictReport): Omit<RemainingConflict, 'severeReductionPct'> {
  const histogram = report.trunk.histogram;
  const observations = report.trunk.observations;
  // Paper bin b + 1 holds the cosines below edges[b]; severe bins are those below the threshold.
  const severeFrom = PAPER_BINS.edges.indexOf(SEVERE_THRESHOLD) + 1;
  const pct = (from: number): number => (observations === 0 ? 0 : (100 * histogram.slice(from).reduce((a, b) => a + b, 0)) / observations);
  return { sharedLayers: report.layers.length, observations, conflictPct: pct(1), severePct: pct(severeFrom) };
}

function buildTable(options: AblationOptions, plan: AblationPlan, records: Map<string, RunRecord>, warn: (message: string) => void): AblationTable {
  const get = (variant: string, seed: number): RunRecord | undefined => records.get(`${variant}\n${seed}`);
  const safeDeltaM = (metrics: TaskMetrics[], baseline: TaskMetrics[], what: string): number | null => {
    try {
      return deltaM(metrics, baseline).deltaPct;
    } catch (error) {
      if (!isReconError(error)) throw error;
      warn(`${what}: Δm left empty: ${error.message}`);
      return null;
    }
  };
  const reduction = (joint: number | undefined, value: number): number | null => (joint === undefined || joint === 0 ? null : (100 * (joint - value)) / joint);

  const rows: AblationRow[] = [];
  for (const seed of options.seeds) {
    const joint = get('joint', seed);
    for (const variant of plan.variants) {
      const r = get(variant.id, seed);
      if (!r) continue;
      const isJoint = variant.kind === 'joint';
      rows.push({
        variant: variant.id,
        kind: variant.kind,
        budget: variant.budget,
        S: variant.S,
        seed,
        layers: variant.layers,
        ...plan.costs.get(variant.id)!,
        metrics: r.metrics,
        deltaMPct: joint ? safeDeltaM(r.metrics, joint.metrics, `${variant.id} seed ${seed}`) : null,
        conflict: { ...r.conflict, severeReductionPct: isJoint ? null : reduction(joint?.conflict.severePct, r.conflict.severePct) },
        steps: r.steps,
        seconds: r.seconds,
      });
    }
  }

  const summary: AblationSummaryRow[] = [];
  const jointRows = rows.filter((r) => r.kind === 'joint');
  const jointMean = jointRows.length > 0 ? meanMetrics(jointRows.map((r) => r.metrics)) : undefined;
  const jointSevere = jointRows.length > 0 ? mean(jointRows.map((r) => r.conflict.severePct)) : undefined;
  for (const variant of plan.variants) {
    const mine = rows.filter((r) => r.variant === variant.id);
    if (mine.length === 0) continue;
    const metrics = meanMetrics(mine.map((r) => r.metrics));
    const perSeedDelta = mine.map((r) => r.deltaMPct).filter((d): d is number => d !== null);
    const severePct = mean(mine.map((r) => r.conflict.severePct));
    summary.push({
      variant: variant.id,
      kind: variant.kind,
      budget: variant.budget,
      S: variant.S,
      seeds: mine.map((r) => r.seed),
      layers: variant.layers,
      ...plan.costs.get(variant.id)!,
      metrics,
      metricsStd: mine.length > 1 ? stdMetrics(mine.map((r) => r.metrics)) : null,
      deltaMPct: jointMean ? safeDeltaM(metrics, jointMean, `${variant.id} (mean over seeds)`) : null,
      deltaMStd: perSeedDelta.length > 1 ? sampleStd(perSeedDelta) : null,
      conflictPct: mean(mine.map((r) => r.conflict.conflictPct)),
      severePct,
      severeReductionPct: variant.kind === 'joint' ? null : reduction(jointSevere, severePct),
    });
  }

  const firstMetrics = rows[0]?.metrics ?? [];
  return {
    schemaVersion: ABLATION_SCHEMA_VERSION,
    kind: ABLATION_KIND,
    createdAt: new Date().toISOString(),
    model: { path: options.modelPath, sha256: plan.modelSha256 },
    report: options.reportPath,
    data: { train: options.train.source, eval: options.evalData.source },
    tasks: options.tasks.map((t) => t.name),
    metricColumns: metricColumns(firstMetrics),
    settings: {
      seeds: [...options.seeds],
      selectionSeed: options.selectionSeed ?? 0,
      controls: [...options.controls],
      severeThreshold: SEVERE_THRESHOLD,
      training: { ...trainingSettings(options.training), device: options.training.device },
    },
    variants: plan.variants,
    rows,
    summary,
    partial: false,
  };
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function sampleStd(values: readonly number[]): number {
  const m = mean(values);
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1));
}

function stdMetrics(runs: readonly TaskMetrics[][]): TaskMetrics[] {
  return runs[0]!.map((template) => {
    const out: TaskMetrics = { task: template.task, count: template.count };
    for (const name of taskMetricNames(template)) out[name] = sampleStd(runs.map((r) => r.find((m) => m.task === template.task)![name]!));
    return out;
  });
}
