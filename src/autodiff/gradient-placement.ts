/**
 * The placement forecast of a gradient graph exactly as `--device cuda` builds it, and the
 * synthetic batch that fixes its shapes (used by `recon doctor --graph` and the audit tests).
 */
import type { Model } from '../onnx/model.js';
import { ReconError } from '../util/errors.js';
import { targetDType, type TaskSpec } from '../analysis/task-spec.js';
import { analyzeModel } from '../analysis/analyze.js';
import { inferShapes } from '../analysis/shapes.js';
import { planFeeds } from '../analysis/model-feeds.js';
import { cudaPlacementReport, type PlacementReport } from '../analysis/placement.js';
import type { HostTensor } from '../data/host-tensor.js';
import { buildGradientGraph } from './gradient-graph.js';
import { createDefaultRegistry } from './register-all.js';
import { loweringFor } from './lowering.js';

export interface GradientPlacementOptions {
  batchNorm: 'train' | 'eval';
  /** One batch: model inputs and task targets (see syntheticBatch). */
  feeds: Record<string, HostTensor>;
  trainableParams?: readonly string[];
  rawGradients?: boolean;
}

/**
 * Builds the gradient graph exactly as GradientSession does for `--device cuda` (same options;
 * cuDNN keeps the Convs, so no convolution lowering), runs the shape probe on the built graph to
 * learn every value's element type (the backward nodes' values are not in the forward probe) and
 * forecasts its placement.
 */
export async function forecastGradientGraph(model: Model, tasks: readonly TaskSpec[], options: GradientPlacementOptions): Promise<PlacementReport> {
  const analysis = analyzeModel(model, [...tasks]);
  const sharedParams = [...new Set(analysis.sharedLayers.flatMap((l) => l.params))];
  const graph = await buildGradientGraph(model, {
    tasks,
    gramParams: sharedParams,
    trainableParams: options.trainableParams,
    rawGradients: options.rawGradients,
    batchNorm: options.batchNorm,
    registry: createDefaultRegistry(),
    feeds: options.feeds,
    lowerConvolutions: false,
    lowerForCuda: true,
    lowering: loweringFor('cuda'),
  });
  const feeds: Record<string, HostTensor> = { ...options.feeds };
  for (const p of options.trainableParams ?? []) {
    const t = model.graph.initializers.get(p);
    if (t && !feeds[p]) feeds[p] = { dtype: 'float32', dims: t.dims.slice(), data: t.data('float32') };
  }
  const shapes = await inferShapes(graph.model, { feeds });
  return cudaPlacementReport(graph.model, shapes);
}

/** A small deterministic generator (mulberry32): batches must be reproducible across runs. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A batch shaped like the model's inputs and the tasks' targets: symbolic batch dims become
 * `batchSize`, other symbolic dims 1 (as the shape probe); float inputs random, integer inputs
 * zero (valid token indices), class targets random in [0, classes). Placement only needs shapes
 * and element types; the values just have to be valid.
 */
export async function syntheticBatch(
  model: Model,
  tasks: readonly TaskSpec[],
  options: { batchSize?: number; seed?: number } = {},
): Promise<Record<string, HostTensor>> {
  const batchSize = options.batchSize ?? 2;
  const next = random(options.seed ?? 0);
  const plan = planFeeds(model, tasks);
  const feeds: Record<string, HostTensor> = {};
  for (const input of plan.inputs) {
    const dims = input.dims.map((d, i) => d ?? (i === 0 ? batchSize : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    switch (input.dtype) {
      case 'float32':
        feeds[input.name] = { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => next() * 2 - 1) };
        break;
      case 'float64':
        feeds[input.name] = { dtype: 'float64', dims, data: Float64Array.from({ length: n }, () => next() * 2 - 1) };
        break;
      case 'int64':
        feeds[input.name] = { dtype: 'int64', dims, data: new BigInt64Array(n) };
        break;
      case 'int32':
        feeds[input.name] = { dtype: 'int32', dims, data: new Int32Array(n) };
        break;
      case 'uint8':
        feeds[input.name] = { dtype: 'uint8', dims, data: new Uint8Array(n) };
        break;
      case 'bool':
        feeds[input.name] = { dtype: 'bool', dims, data: new Uint8Array(n) };
        break;
    }
  }
  const withTargets = tasks.filter((task) => targetDType(task.loss) !== undefined);
  if (withTargets.length === 0) return feeds;
  const predictions = await inferShapes(model, { feeds, only: withTargets.map((task) => task.output) });
  for (const task of withTargets) {
    const p = predictions.values.get(task.output)?.dims;
    if (!p) throw new ReconError(`task "${task.name}": output "${task.output}" is not computed by the model`);
    if (task.loss === 'cross_entropy') {
      if (p.length < 2)
        throw new ReconError(`task "${task.name}": cross_entropy needs an output with a class axis, "${task.output}" has shape [${p.join(',')}]`);
      const dims = [p[0]!, ...p.slice(2)];
      const classes = p[1]!;
      feeds[task.target] = {
        dtype: 'int64',
        dims,
        data: BigInt64Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => BigInt(Math.floor(next() * classes))),
      };
    } else {
      const binary = task.loss === 'bce_with_logits';
      feeds[task.target] = {
        dtype: 'float32',
        dims: p.slice(),
        data: Float32Array.from({ length: p.reduce((a, b) => a * b, 1) }, () => (binary ? Math.round(next()) : next())),
      };
    }
  }
  return feeds;
}
