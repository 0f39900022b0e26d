import { createHash } from 'node:crypto';
import type { Model } from '../onnx/model.js';
import { Tensor } from '../onnx/tensor.js';
import { ReconError } from '../util/errors.js';
import type { TaskSpec } from '../analysis/task-spec.js';
import { analyzeModel } from '../analysis/analyze.js';
import type { Dataset } from '../data/dataset.js';
import { batchIndices } from '../data/dataset.js';
import { checkDataset, feedsFor, planFeeds } from '../analysis/model-feeds.js';
import type { HostTensor } from '../data/host-tensor.js';
import { serializeModel } from '../onnx/save.js';
import { cloneModel } from '../autodiff/gradient-graph.js';
import { createGradientSession, resolveDevice, type GradientSession, type GradientStep } from './gradient-session.js';
import type { DeviceSpec, SessionOptions } from '../runtime/session.js';
import { ConflictReportBuilder } from '../report/report-builder.js';
import type { ConflictReport, CostPoint, SearchMethod } from '../report/schema.js';
import { Random } from '../util/random.js';
import { cosineFromGram, sumGrams, taskPairs } from './gram.js';
import { createMethod, learnedParamName, type MethodInstance, type MethodOptionValues, type MethodState, type MethodStepResult } from './method-registry.js';
import { chooseUpdatePath, GraphUpdateState, weightRows, weightsInput, type UpdateMode, type UpdatePath } from './graph-update.js';
import { createOptimizer, type CombinedGradient, type OptimizerState } from './optimizer.js';
import { learningRateAt } from './schedule.js';
import { updateRunningStats } from './running-stats.js';
import { VERSION } from '../util/version.js';

export interface OptimizerConfig {
  kind: 'sgd' | 'adam' | 'none';
  lr: number;
  momentum: number;
  weightDecay: number;
  milestones: number[];
  gamma: number;
}

export interface ScanConfig {
  /** Shown in the report. */
  modelPath: string;
  dataPath: string;
  epochs?: number;
  /** Total steps (overrides epochs). */
  steps?: number;
  batchSize: number;
  seed: number;
  shuffle: boolean;
  optimizer: OptimizerConfig;
  method: SearchMethod;
  S: number[];
  batchNorm: 'train' | 'eval';
  device: DeviceSpec;
  intraOpThreads?: number;
  /** The rest of the onnxruntime session settings (optimisation level, warnings such as `--device auto` falling back to the CPU), passed through unchanged. */
  sessionOptions?: Omit<SessionOptions, 'device' | 'intraOpThreads'>;
  /** Static scans only: this process covers shard `index` (0-based) of `count`. */
  shard?: { index: number; count: number };
  /** Keep every per-step cosine (returned in the result for the sidecar file). */
  recordSteps?: boolean;
  /** CAGrad's c (the same as methodOptions.alpha for cagrad). */
  cagradAlpha?: number;
  /** Options of the combination method, as given (defaults are filled in by the registry). */
  methodOptions?: MethodOptionValues;
  /**
   * Where a training step combines the task gradients and updates the parameters (default
   * `auto`; see graph-update.ts): `host` in JavaScript from every task's gradient, `graph` inside
   * the session run (two runs per step for methods that need this step's Grams or losses).
   */
  update?: UpdateMode;
  /** Costs of making the top-k layers task-specific, for the report's cost curve. */
  cost?: (layers: string[]) => { params: number; paramIncreasePct: number; macs: number; macIncreasePct: number };
}

/** Everything needed to continue a scan exactly where it stopped. */
export interface ScanCheckpoint {
  version: 1;
  configHash: string;
  stepsDone: number;
  /** Per step: cosines [layers × pairs], whole-trunk cosines [pairs], losses [tasks]. */
  cosines: number[][];
  wholeTrunk: number[][];
  losses: number[][];
  params: Record<string, Float32Array>;
  runningStats: Record<string, Float32Array>;
  optimizer: OptimizerState | undefined;
  /** State of the combination method (absent in checkpoints of older versions). */
  method?: MethodState;
}

export interface ScanHooks {
  onStep?: (p: { step: number; totalSteps: number; epoch: number; losses: Record<string, number>; conflictRate: number }) => void;
  /** After the last step of each epoch, with the model as trained so far (training scans). */
  onEpochEnd?: (epoch: number, model: () => Model) => Promise<void>;
  /** Polled after every step; true stops the scan (the report is then marked partial). */
  shouldStop?: () => boolean;
  /** Called every `checkpointEvery` steps and at the end with the state to persist. */
  onCheckpoint?: (c: ScanCheckpoint) => void;
  checkpointEvery?: number;
}

export interface ScanResult {
  report: ConflictReport;
  checkpoint: ScanCheckpoint;
  /** The model with trained weights and updated BN running statistics (training scans). */
  trainedModel: Model | undefined;
  /** Per-step cosines, float32 [steps, layers, pairs], when `recordSteps`. */
  recorded: Float32Array | undefined;
  /** Where the training steps combined and updated (`host` for static scans). */
  updatePath: UpdatePath;
}

/**
 * Recon's search phase: trains (or, with optimizer none, just evaluates) the model and records at
 * every step the cosine between every pair of task gradients in every shared layer.
 */
export async function runScan(
  model: Model,
  tasks: readonly TaskSpec[],
  dataset: Dataset,
  config: ScanConfig,
  hooks: ScanHooks = {},
  resume?: ScanCheckpoint,
): Promise<ScanResult> {
  if (tasks.length < 2) throw new ReconError('a conflict scan needs at least two tasks');
  const plan = planFeeds(model, tasks);
  checkDataset(dataset, plan);
  const training = config.optimizer.kind !== 'none';
  if (config.shard && training) throw new ReconError('--shard splits static scans only (--optimizer none): training steps depend on each other');
  if (dataset.length < config.batchSize) throw new ReconError(`${dataset.source}: ${dataset.length} rows, fewer than one batch of ${config.batchSize}`);
  const stepsPerEpoch = Math.floor(dataset.length / config.batchSize);
  const plannedSteps = config.steps ?? (config.epochs ?? 1) * stepsPerEpoch;
  const [first, last] = config.shard ? shardRange(plannedSteps, config.shard) : [0, plannedSteps];

  const trainable = training ? [...new Set(analyzeParams(model, tasks))] : [];
  const analysis = analyzeModel(model, [...tasks]);
  const layers = analysis.sharedLayers;
  if (layers.length === 0) throw new ReconError('the model has no layer shared by two or more tasks');
  const taskNames = tasks.map((t) => t.name);
  const pairs = taskPairs(taskNames);
  const T = tasks.length;

  const configHash = hashConfig(model, config);
  if (resume && resume.configHash !== configHash) {
    throw new ReconError('cannot resume: the model, data or settings differ from the interrupted scan');
  }
  const params = new Map<string, Float32Array>();
  for (const p of trainable) params.set(p, resume?.params[p]?.slice() ?? model.graph.initializers.get(p)!.data('float32').slice());
  const running = new Map<string, Float32Array>();
  const optimizer = training
    ? createOptimizer({
        kind: config.optimizer.kind as 'sgd' | 'adam',
        lr: config.optimizer.lr,
        momentum: config.optimizer.momentum,
        weightDecay: config.optimizer.weightDecay,
      })
    : undefined;
  if (optimizer && resume?.optimizer) optimizer.load(resume.optimizer);
  const groups = layerGroups(layers);
  const method = training ? createScanMethod(config, T, groups) : undefined;
  if (method && resume) {
    if (resume.method) method.load(resume.method);
    else if (method.spec.stateful && resume.stepsDone > 0)
      throw new ReconError(`cannot resume: the checkpoint has no state for method ${config.method} (written by an older version)`);
  }
  for (const [k, v] of Object.entries(resume?.runningStats ?? {})) running.set(k, v.slice());

  const updatePath: UpdatePath = optimizer && method ? chooseUpdatePath(config.update ?? 'auto', method, resolveDevice(config.device)) : 'host';
  let graphState: GraphUpdateState | undefined;
  if (optimizer && updatePath !== 'host') {
    const header = optimizer.state().header;
    const rows = weightRows(trainable, analysis.paramTasks, groups);
    const kind = optimizer.kind as 'sgd' | 'adam';
    graphState = new GraphUpdateState(
      {
        ...rows,
        optimizer: { kind, momentum: header.momentum, weightDecay: header.weightDecay, betas: header.betas, eps: header.eps },
        unitWeights: config.method === 'ew',
      },
      new Map(trainable.map((p) => [p, model.graph.initializers.get(p)!.dims.slice()])),
    );
    if (resume?.optimizer) {
      graphState.load(resume.optimizer);
      optimizer.load(withoutParams(resume.optimizer, new Set(trainable)));
    }
  }
  const sessionOptions = {
    device: config.device,
    batchNorm: config.batchNorm,
    trainableParams: trainable,
    ...config.sessionOptions,
    ...(config.intraOpThreads ? { intraOpThreads: config.intraOpThreads } : {}),
  };
  // host: one session returning every task's gradient; graph: one session updating in the graph;
  // two-phase: a first session for losses and Grams, then the updating one.
  const session: GradientSession = createGradientSession(
    model,
    tasks,
    updatePath === 'host'
      ? sessionOptions
      : updatePath === 'graph'
        ? { ...sessionOptions, update: graphState!.spec }
        : { ...sessionOptions, exportTrainableGradients: false },
  );
  const updateSession = updatePath === 'two-phase' ? createGradientSession(model, tasks, { ...sessionOptions, update: graphState!.spec }) : session;

  const builder = new ConflictReportBuilder({
    layers: layers.map((l) => ({ name: l.name, op: l.op, nodes: l.nodes.map((n) => n.label), params: l.numel })),
    tasks: tasks.map((t) => ({ name: t.name, output: t.output, loss: t.loss, weight: t.weight })),
    settings: {
      data: config.dataPath,
      seed: config.seed,
      S: config.S,
      steps: plannedSteps,
      epochs: Math.ceil(plannedSteps / stepsPerEpoch),
      batchSize: config.batchSize,
      shuffle: config.shuffle,
      optimizer: {
        name: config.optimizer.kind,
        lr: config.optimizer.lr,
        momentum: config.optimizer.momentum,
        weightDecay: config.optimizer.weightDecay,
        milestones: config.optimizer.milestones,
        gamma: config.optimizer.gamma,
      },
      method: config.method,
      bn: config.batchNorm,
      device: config.device,
      ...(config.shard ? { shard: config.shard } : {}),
    },
  });
  const record = {
    cosines: resume?.cosines.slice() ?? ([] as number[][]),
    wholeTrunk: resume?.wholeTrunk.slice() ?? ([] as number[][]),
    losses: resume?.losses.slice() ?? ([] as number[][]),
  };
  // Replaying the recorded steps rebuilds the accumulators exactly as an uninterrupted run had them.
  record.cosines.forEach((c, i) => {
    const step = first + i;
    builder.pushStep(Math.floor(step / stepsPerEpoch), c, record.wholeTrunk[i]);
    builder.recordLosses(step, record.losses[i]!);
  });

  const checkpoint = (): ScanCheckpoint => ({
    version: 1,
    configHash,
    stepsDone: record.cosines.length,
    cosines: record.cosines,
    wholeTrunk: record.wholeTrunk,
    losses: record.losses,
    params: Object.fromEntries(params),
    runningStats: Object.fromEntries(running),
    optimizer: graphState && optimizer ? graphState.merged(optimizer.state()) : optimizer?.state(),
    ...(method ? { method: method.state() } : {}),
  });

  let partialReason: string | undefined;
  /** A non-finite loss or gradient stopped the scan: an error carrying the partial report. */
  let diverged = false;
  let epochOrder: { epoch: number; batches: Int32Array[] } | undefined;
  try {
    for (let step = first + record.cosines.length; step < last; step++) {
      const epoch = Math.floor(step / stepsPerEpoch);
      if (!epochOrder || epochOrder.epoch !== epoch) {
        epochOrder = { epoch, batches: batchIndices(dataset.length, config.batchSize, { shuffle: config.shuffle, seed: config.seed, epoch, dropLast: true }) };
      }
      const rows = epochOrder.batches[step % stepsPerEpoch]!;
      const feeds = feedsFor(dataset, plan, rows);
      const paramFeeds: Record<string, HostTensor> = {};
      for (const [p, v] of params) paramFeeds[p] = { dtype: 'float32', dims: model.graph.initializers.get(p)!.dims.slice(), data: v };
      const lr = learningRateAt(epoch, { lr: config.optimizer.lr, milestones: config.optimizer.milestones, gamma: config.optimizer.gamma });
      // graph path: the method's weights are known before the run (they read nothing of it).
      const before = updatePath === 'graph' ? methodStep(method!, undefined, undefined, { config, step, epoch, taskNames, groups }) : undefined;
      const result =
        updatePath === 'graph'
          ? await session.run(feeds, {
              ...paramFeeds,
              ...graphState!.feeds((await session.graphFor(feeds)).update!, lr, weightsInput(before!, T, groups.length)),
            })
          : await session.run(feeds, paramFeeds);
      const lossRow = taskNames.map((t) => result.losses[t]!);
      const bad = lossRow.findIndex((l) => !Number.isFinite(l));
      if (bad >= 0) {
        partialReason = `loss of task "${taskNames[bad]}" is ${lossRow[bad]} at step ${step}`;
        diverged = true;
        break;
      }
      const cosines: number[] = [];
      for (const l of layers) {
        const g = result.layerGrams.get(l.name)!;
        for (const p of pairs) cosines.push(cosineFromGram(g, T, p.i, p.j));
      }
      const whole = sumGrams([...result.paramGrams.values()], T);
      const wholeCos = pairs.map((p) => cosineFromGram(whole, T, p.i, p.j));
      // Finite losses can still come with non-finite gradients (an overflowing weight, a NaN in a
      // layer no loss reads directly): the scan stops there, as for a non-finite loss.
      const badCos = cosines.findIndex((c) => !Number.isFinite(c));
      if (badCos >= 0 || wholeCos.some((c) => !Number.isFinite(c))) {
        const where = badCos >= 0 ? `layer "${layers[Math.floor(badCos / pairs.length)]!.name}"` : 'the shared layers';
        partialReason = `the task gradients of ${where} are not finite at step ${step}`;
        diverged = true;
        break;
      }
      builder.pushStep(epoch, cosines, wholeCos);
      builder.recordLosses(step, lossRow);
      record.cosines.push(cosines);
      record.wholeTrunk.push(wholeCos);
      record.losses.push(lossRow);
      if (optimizer && method) {
        const ctx = { config, step, epoch, taskNames, groups };
        const out = before ?? methodStep(method, result, whole, ctx);
        if (updatePath === 'host') applyHostUpdate(result, out, { params, analysisParamTasks: analysis.paramTasks, taskNames, optimizer, groups, lr });
        else {
          const updated =
            updatePath === 'graph'
              ? result
              : await updateSession.run(feeds, {
                  ...paramFeeds,
                  ...graphState!.feeds((await updateSession.graphFor(feeds)).update!, lr, weightsInput(out, T, groups.length)),
                });
          for (const [p, v] of updated.updatedParams) params.set(p, v);
          graphState!.commit(updated.updatedState);
        }
        stepLearned(method, out, optimizer, lr);
        if (method.afterUpdate) {
          // FAMO: the losses of the same batch under the updated weights (an extra session run, as
          // the reference trainers' extra forward pass); its BN batch statistics are not used.
          const updatedFeeds: Record<string, HostTensor> = {};
          for (const [p, v] of params) updatedFeeds[p] = { dtype: 'float32', dims: model.graph.initializers.get(p)!.dims.slice(), data: v };
          const after = method.spec.needs.includes('losses-after-update') ? await session.run(feeds, updatedFeeds) : undefined;
          method.afterUpdate(after ? taskNames.map((t) => after.losses[t]!) : undefined);
        }
        for (const s of result.batchStats) {
          updateRunningStats(runningOf(running, model, s.runningMean), s.mean);
          updateRunningStats(runningOf(running, model, s.runningVar), s.unbiasedVar);
        }
      }
      hooks.onStep?.({
        step: step + 1 - first,
        totalSteps: last - first,
        epoch,
        losses: result.losses,
        conflictRate: cosines.filter((c) => c < 0).length / cosines.length,
      });
      if (hooks.onCheckpoint && hooks.checkpointEvery && (step + 1 - first) % hooks.checkpointEvery === 0) hooks.onCheckpoint(checkpoint());
      if (hooks.onEpochEnd && ((step + 1) % stepsPerEpoch === 0 || step + 1 === last)) await hooks.onEpochEnd(epoch, () => withWeights(model, params, running));
      if (hooks.shouldStop?.() && step + 1 < last) {
        partialReason = `interrupted after ${step + 1 - first} of ${last - first} steps`;
        break;
      }
    }
  } finally {
    await session.release();
    if (updateSession !== session) await updateSession.release();
  }

  const cost: CostPoint[] | undefined = config.cost
    ? costCurve(
        builder,
        layers.map((l) => l.name),
        config.cost,
      )
    : undefined;
  const report = builder.build({
    tool: { name: 'recon-onnx', version: VERSION },
    createdAt: new Date().toISOString(),
    model: { path: config.modelPath, opset: model.opset(''), sha256: createHash('sha256').update(serializeModel(model)).digest('hex') },
    partial: partialReason !== undefined,
    ...(partialReason ? { partialReason } : {}),
    totalSteps: last - first,
    ...(cost ? { cost } : {}),
  });
  const trainedModel = training ? withWeights(model, params, running) : undefined;
  let recorded: Float32Array | undefined;
  if (config.recordSteps) recorded = Float32Array.from(record.cosines.flat());
  const state = checkpoint();
  hooks.onCheckpoint?.(state);
  if (diverged) {
    throw Object.assign(new ReconError(`${partialReason}; the partial report keeps the ${record.cosines.length} finished steps`), {
      partial: { report, checkpoint: state, trainedModel, recorded, updatePath },
    });
  }
  return { report, checkpoint: state, trainedModel, recorded, updatePath };
}

/**
 * Shared parameters partitioned by shared layer, in network order: each parameter belongs to the
 * first shared layer that uses it, so per-layer methods (GradVac, GradNorm) see every shared
 * parameter exactly once.
 */
function layerGroups(layers: readonly { name: string; params: string[] }[]): { name: string; params: string[] }[] {
  const seen = new Set<string>();
  const out: { name: string; params: string[] }[] = [];
  for (const l of layers) {
    const params = [...new Set(l.params)].filter((p) => !seen.has(p));
    for (const p of params) seen.add(p);
    if (params.length > 0) out.push({ name: l.name, params });
  }
  return out;
}

function createScanMethod(config: ScanConfig, T: number, groups: readonly { name: string }[]): MethodInstance {
  const options: MethodOptionValues = { ...(config.methodOptions ?? {}) };
  if (config.method === 'cagrad' && config.cagradAlpha !== undefined && options['alpha'] === undefined) options['alpha'] = config.cagradAlpha;
  return createMethod(config.method, { tasks: T, groups: groups.map((g) => g.name) }, options);
}

interface StepContext {
  config: ScanConfig;
  step: number;
  epoch: number;
  taskNames: string[];
  groups: readonly { name: string; params: string[] }[];
}

/**
 * The method's coefficients for this step. Without `result` (the graph path, for methods that
 * read nothing of the step) the losses and Gram are NaN, so a method that did read them would
 * give NaN weights and stop the scan rather than train on made-up values.
 */
function methodStep(method: MethodInstance, result: GradientStep | undefined, wholeGram: Float64Array | undefined, ctx: StepContext): MethodStepResult {
  const T = ctx.taskNames.length;
  const needsGroups = method.spec.needs.includes('layer-grams');
  return method.step({
    step: ctx.step,
    epoch: ctx.epoch,
    losses: result ? ctx.taskNames.map((t) => result.losses[t]!) : new Float64Array(T).fill(Number.NaN),
    gram: wholeGram ?? new Float64Array(T * T).fill(Number.NaN),
    groupGrams:
      needsGroups && result
        ? ctx.groups.map((g) =>
            sumGrams(
              g.params.map((p) => result.paramGrams.get(p)!),
              T,
            ),
          )
        : [],
    rng: new Random(ctx.config.seed * 1_000_003 + ctx.step),
  });
}

function applyHostUpdate(
  result: GradientStep,
  out: MethodStepResult,
  ctx: {
    params: Map<string, Float32Array>;
    analysisParamTasks: Map<string, number[]>;
    taskNames: string[];
    optimizer: ReturnType<typeof createOptimizer>;
    groups: readonly { name: string; params: string[] }[];
    lr: number;
  },
): void {
  const groupOf = new Map<string, number>();
  if (out.perGroup) ctx.groups.forEach((g, k) => g.params.forEach((p) => groupOf.set(p, k)));
  // Each parameter's gradient is the weighted sum of its task gradients, combined by the
  // optimizer chunk by chunk inside its update sweep (no gradient-sized buffers per step).
  const grads = new Map<string, CombinedGradient>();
  for (const p of ctx.params.keys()) {
    const reaching = ctx.analysisParamTasks.get(p) ?? [];
    const group = groupOf.get(p);
    // Shared parameters get the method's combination (per layer group when it gives one); a
    // task's own parameters its own gradient, times the method's loss weight if it has one.
    const weights = reaching.length >= 2 ? (group !== undefined ? out.perGroup![group]! : out.shared) : out.taskSpecific;
    const parts: Float32Array[] = [];
    const partWeights: number[] = [];
    for (const t of reaching) {
      const gt = result.gradients.get(ctx.taskNames[t]!)?.get(p);
      if (!gt) continue;
      parts.push(gt);
      partWeights.push(weights[t]!);
    }
    grads.set(p, { parts, weights: partWeights });
  }
  ctx.optimizer.stepCombined(ctx.params, grads, ctx.lr);
}

/**
 * UW's log-variances and GradNorm's weights: trained by the same optimizer and schedule, like the
 * reference implementations' nn.Parameters (weight decay included).
 */
function stepLearned(method: MethodInstance, out: MethodStepResult, optimizer: ReturnType<typeof createOptimizer>, lr: number): void {
  if (!method.learned || !out.learnedGradient) return;
  const name = learnedParamName(method.spec.name);
  optimizer.stepCombined(new Map([[name, method.learned]]), new Map([[name, { parts: [out.learnedGradient], weights: [1] }]]), lr);
}

/** An optimizer state without the buffers and step counts of `params` (kept by the graph path). */
function withoutParams(state: OptimizerState, params: ReadonlySet<string>): OptimizerState {
  const ofParam = (key: string): boolean => params.has(key.slice(key.indexOf(':') + 1));
  return {
    header: { ...state.header, steps: Object.fromEntries(Object.entries(state.header.steps).filter(([p]) => !params.has(p))) },
    buffers: Object.fromEntries(Object.entries(state.buffers).filter(([k]) => !ofParam(k))),
  };
}

function runningOf(running: Map<string, Float32Array>, model: Model, name: string): Float32Array {
  let r = running.get(name);
  if (!r) running.set(name, (r = model.graph.initializers.get(name)!.data('float32').slice()));
  return r;
}

/** Every parameter some task's loss reaches (trained by training scans). */
function analyzeParams(model: Model, tasks: readonly TaskSpec[]): string[] {
  return [...analyzeModel(model, [...tasks]).paramTasks].filter(([, t]) => t.length > 0).map(([p]) => p);
}

/** A copy of the model with trained parameters and running statistics. */
export function withWeights(model: Model, params: ReadonlyMap<string, Float32Array>, running: ReadonlyMap<string, Float32Array>): Model {
  const copy = cloneModel(model);
  for (const [name, data] of [...params, ...running]) {
    const t = copy.graph.initializers.get(name)!;
    copy.graph.initializers.set(name, Tensor.fromArray(name, 'float32', t.dims, data.slice()));
  }
  return copy;
}

function shardRange(total: number, shard: { index: number; count: number }): [number, number] {
  if (!(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count)) throw new ReconError(`bad shard ${shard.index}/${shard.count}`);
  return [Math.floor((shard.index * total) / shard.count), Math.floor(((shard.index + 1) * total) / shard.count)];
}

function costCurve(builder: ConflictReportBuilder, names: string[], cost: NonNullable<ScanConfig['cost']>): CostPoint[] {
  const provisional = builder.build({
    tool: { name: '', version: '' },
    createdAt: new Date(0).toISOString(),
    model: { path: '', opset: 0 },
    partial: false,
    totalSteps: 0,
  });
  const ranked = provisional.layers
    .map((l, i) => ({ name: names[i]!, rank: l.scores[0]!.rank }))
    .sort((a, b) => a.rank - b.rank)
    .map((l) => l.name);
  return ranked.map((_, k) => {
    const chosen = ranked.slice(0, k + 1);
    return { k: k + 1, layers: chosen, ...cost(chosen) };
  });
}

function hashConfig(model: Model, config: ScanConfig): string {
  // The update path does not change the results beyond float32 rounding: a scan may resume on another.
  const { cost: _cost, update: _update, ...rest } = config;
  void _cost;
  void _update;
  return createHash('sha256').update(serializeModel(model)).update(JSON.stringify(rest)).digest('hex');
}
