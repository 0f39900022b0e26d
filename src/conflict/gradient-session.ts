import type { Model } from '../onnx/model.js';
import { serializeModel } from '../onnx/save.js';
import type { TaskSpec } from '../analysis/task-spec.js';
import { analyzeModel, type ModelAnalysis } from '../analysis/analyze.js';
import { buildGradientGraph, type GradientGraph } from '../autodiff/gradient-graph.js';
import type { InGraphUpdate } from '../autodiff/update-graph.js';
import { createDefaultRegistry } from '../autodiff/register-all.js';
import type { GradientRegistry } from '../autodiff/registry.js';
import { loweringFor, type LoweringOverrides } from '../autodiff/lowering.js';
import { cudaStatus } from '../runtime/cuda.js';
import { sumGrams } from './gram.js';
import type { HostTensor } from '../runtime/ort-tensor.js';
import { RuntimeSession, type DeviceSpec, type SessionOptions } from '../runtime/session.js';

export interface GradientSessionOptions extends SessionOptions {
  batchNorm?: 'train' | 'eval';
  /** Return each task's raw gradient of every shared parameter too. */
  rawGradients?: boolean;
  /** Feed these parameters as inputs and return their per-task gradients (for training). */
  trainableParams?: readonly string[];
  /** Gradient rules (default: `createDefaultRegistry()`); register your own rules on a copy. */
  registry?: GradientRegistry;
  /**
   * Combine the trainable parameters' task gradients and update them in the graph
   * (src/autodiff/update-graph.ts): runs then return updated parameters and optimizer state
   * instead of per-task gradients.
   */
  update?: InGraphUpdate;
  /** With `trainableParams` and no `update`: return their per-task gradients (default true). */
  exportTrainableGradients?: boolean;
  /**
   * Formulation overrides (tests, benchmarks): by default the rules emit the fastest measured
   * formulations for the device the session actually lands on (`loweringFor`).
   */
  lowering?: LoweringOverrides;
}

export interface GradientStep {
  losses: Record<string, number>;
  /** Shared parameter → row-major T×T Gram matrix of the task gradients. */
  paramGrams: Map<string, Float64Array>;
  /** Shared layer → Gram of the layer's concatenated (weight, bias) task gradients. */
  layerGrams: Map<string, Float64Array>;
  /** task → parameter → gradient (raw gradients and trainable parameters). */
  gradients: Map<string, Map<string, Float32Array>>;
  /** Batch statistics of train-mode BN layers (for running-stat updates), in model order. */
  batchStats: { runningMean: string; runningVar: string; mean: Float32Array; unbiasedVar: Float32Array }[];
  /** With `update`: parameter → its updated value. */
  updatedParams: Map<string, Float32Array>;
  /** With `update`: optimizer buffer key (`momentum_buffer:<p>`, …) → its updated value. */
  updatedState: Map<string, Float32Array>;
}

/**
 * Per-task gradients of a multi-task model on onnxruntime: one session run per batch computes the
 * forward pass, every task loss, and per shared layer the Gram matrix of the task gradients.
 * Sessions are built lazily and cached per input shape.
 */
export class GradientSession {
  readonly analysis: ModelAnalysis;
  readonly sharedParams: string[];
  private readonly sessions = new Map<string, Promise<{ graph: GradientGraph; session: RuntimeSession }>>();

  constructor(
    readonly model: Model,
    readonly tasks: readonly TaskSpec[],
    readonly options: GradientSessionOptions = {},
  ) {
    this.analysis = analyzeModel(model, [...tasks]);
    this.sharedParams = [...new Set(this.analysis.sharedLayers.flatMap((l) => l.params))];
  }

  get device(): Promise<string> {
    const first = this.sessions.values().next().value;
    return first ? first.then((s) => s.session.device) : Promise.resolve(this.options.device ?? 'cpu');
  }

  /**
   * One step on `batch`. `params` feeds the trainable parameters (default: the model's values)
   * and, with `update`, the optimizer state and the update inputs by their graph input names
   * (`graphFor(batch)` gives them).
   */
  async run(batch: Record<string, HostTensor>, params?: Record<string, HostTensor>): Promise<GradientStep> {
    const { graph, session } = await this.sessionFor(batch);
    const feeds: Record<string, HostTensor> = {};
    for (const name of session.inputNames) {
      const v = batch[name] ?? params?.[name] ?? this.paramFeed(name);
      if (v) feeds[name] = v;
    }
    const out = await session.run(feeds);
    const T = this.tasks.length;
    const lossData = out[graph.lossesOutput]!.data as Float32Array;
    const losses = Object.fromEntries(this.tasks.map((t, i) => [t.name, lossData[i]!]));
    const paramGrams = new Map<string, Float64Array>();
    if (graph.gramsOutput) {
      const grams = out[graph.gramsOutput]!.data as Float32Array;
      this.sharedParams.forEach((p, k) => paramGrams.set(p, Float64Array.from(grams.subarray(k * T * T, (k + 1) * T * T))));
    }
    const layerGrams = new Map<string, Float64Array>();
    for (const l of this.analysis.sharedLayers) {
      layerGrams.set(
        l.name,
        sumGrams(
          [...new Set(l.params)].map((p) => paramGrams.get(p)!),
          T,
        ),
      );
    }
    const gradients = new Map<string, Map<string, Float32Array>>();
    for (const [task, m] of graph.gradientOutputs) {
      const tm = new Map<string, Float32Array>();
      for (const [p, name] of m) tm.set(p, out[name]!.data as Float32Array);
      gradients.set(task, tm);
    }
    const batchStats = graph.batchStats.map((s) => ({
      runningMean: s.runningMean,
      runningVar: s.runningVar,
      mean: out[s.mean]!.data as Float32Array,
      unbiasedVar: out[s.unbiasedVar]!.data as Float32Array,
    }));
    const updatedParams = new Map<string, Float32Array>();
    const updatedState = new Map<string, Float32Array>();
    if (graph.update) {
      for (const [p, name] of graph.update.params) updatedParams.set(p, out[name]!.data as Float32Array);
      for (const [key, { output }] of graph.update.state) updatedState.set(key, out[output]!.data as Float32Array);
    }
    return { losses, paramGrams, layerGrams, gradients, batchStats, updatedParams, updatedState };
  }

  /** The graph (and its input and output names) a batch of this shape runs. */
  async graphFor(batch: Record<string, HostTensor>): Promise<GradientGraph> {
    return (await this.sessionFor(batch)).graph;
  }

  async release(): Promise<void> {
    // A session whose graph failed to build has nothing to release (its error went to run()).
    for (const s of this.sessions.values())
      await s.then(
        (x) => x.session.release(),
        () => undefined,
      );
    this.sessions.clear();
  }

  private paramFeed(name: string): HostTensor | undefined {
    if (!this.options.trainableParams?.includes(name)) return undefined;
    const t = this.model.graph.initializers.get(name)!;
    return { dtype: 'float32', dims: t.dims.slice(), data: t.data('float32') };
  }

  /** The device the session will run on, decided before building the graph (see `resolveDevice`). */
  private get effectiveDevice(): 'cpu' | 'cuda' {
    return resolveDevice(this.options.device ?? 'cpu');
  }

  private sessionFor(batch: Record<string, HostTensor>): Promise<{ graph: GradientGraph; session: RuntimeSession }> {
    const key = Object.entries(batch)
      .map(([k, v]) => `${k}:${v.dtype}[${v.dims.join(',')}]`)
      .sort()
      .join(';');
    let entry = this.sessions.get(key);
    if (!entry) {
      entry = (async () => {
        const graph = await buildGradientGraph(this.model, {
          tasks: this.tasks,
          gramParams: this.sharedParams,
          trainableParams: this.options.trainableParams,
          ...(this.options.update ? { update: this.options.update } : {}),
          ...(this.options.exportTrainableGradients !== undefined ? { exportTrainableGradients: this.options.exportTrainableGradients } : {}),
          rawGradients: this.options.rawGradients,
          batchNorm: this.options.batchNorm ?? 'train',
          registry: this.options.registry ?? createDefaultRegistry(),
          feeds: batch,
          // The convolution lowering is tuned for onnxruntime's CPU kernels (the CUDA EP keeps
          // cuDNN's Conv); the CUDA lowering replaces ops the CUDA EP has no kernel for.
          lowerConvolutions: this.effectiveDevice === 'cpu',
          lowerForCuda: this.effectiveDevice === 'cuda',
          lowering: loweringFor(this.effectiveDevice, this.options.lowering),
        });
        const session = await RuntimeSession.create(serializeModel(graph.model), this.options);
        return { graph, session };
      })();
      this.sessions.set(key, entry);
    }
    return entry;
  }
}

/**
 * The provider a device spec lands on: `auto` lands on CPU when the CUDA provider's files or
 * libraries are missing (what RuntimeSession checks first).
 */
export function resolveDevice(d: DeviceSpec): 'cpu' | 'cuda' {
  if (d === 'cpu') return 'cpu';
  if (d === 'auto') {
    const status = cudaStatus();
    return status.missingProviderFiles.length > 0 || status.missingLibraries.length > 0 ? 'cpu' : 'cuda';
  }
  return 'cuda';
}

/** Library entry point: `createGradientSession(model, tasks, options).run(batch)`. */
export function createGradientSession(model: Model, tasks: readonly TaskSpec[], options: GradientSessionOptions = {}): GradientSession {
  return new GradientSession(model, tasks, options);
}
