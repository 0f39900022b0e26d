import type { Model } from '../onnx/model.js';
import { serializeModel } from '../onnx/save.js';
import { tensorTypeOf } from '../onnx/value-info.js';
import { ReconError } from '../util/errors.js';
import { RuntimeSession, type DeviceSpec } from '../runtime/session.js';
import type { HostTensor } from '../runtime/ort-tensor.js';
import { Random } from '../util/random.js';
import type { Node } from '../onnx/node.js';
import { cloneModel } from '../autodiff/gradient-graph.js';
import { decomposeTrainingBatchNorm } from '../autodiff/rules/normalization.js';

export interface VerifyOptions {
  /** Inputs to run; random ones are drawn from the declared inputs of `reference` otherwise. */
  feeds?: Record<string, HostTensor>;
  /** Outputs may differ by at most tolerance · max(1, max |reference|). */
  tolerance?: number;
  /** Outputs to compare (default: every output of `reference`). */
  outputs?: string[];
  seed?: number;
  device?: DeviceSpec;
}

export interface OutputDifference {
  output: string;
  maxAbsDiff: number;
  /** maxAbsDiff / max(1, max |reference|): what is compared with the tolerance. */
  maxRel: number;
}

export interface VerifyResult {
  ok: boolean;
  /** The output with the largest relative difference. */
  worst: OutputDifference;
  all: OutputDifference[];
}

/** Symbolic and unknown dimensions of generated inputs. */
const SYMBOLIC_DIM = 2;

/** Runs both models on the same inputs and compares their outputs. */
export async function verify(reference: Model, candidate: Model, options: VerifyOptions = {}): Promise<VerifyResult> {
  const tolerance = options.tolerance ?? 1e-5;
  const feeds = options.feeds ?? randomFeeds(reference, options.seed ?? 0);
  const outputs = options.outputs ?? reference.graph.outputNames;
  if (outputs.length === 0) throw new ReconError('no outputs to compare');
  const ref = await runModel(reference, feeds, outputs, options.device);
  const cand = await runModel(candidate, feeds, outputs, options.device);
  const all = outputs.map((o) => compare(o, ref[o]!, cand[o]!));
  const worst = all.reduce((w, d) => (d.maxRel > w.maxRel || Number.isNaN(d.maxRel) ? d : w));
  return { ok: all.every((d) => d.maxRel <= tolerance), worst, all };
}

async function runModel(model: Model, feeds: Record<string, HostTensor>, outputs: string[], device?: DeviceSpec): Promise<Record<string, HostTensor>> {
  const session = await RuntimeSession.create(serializeModel(withBatchStatistics(model)), device ? { device } : {});
  try {
    const missing = outputs.find((o) => !session.outputNames.includes(o));
    if (missing !== undefined) throw new ReconError(`model has no output "${missing}"`);
    return await session.run(feeds, outputs);
  } finally {
    await session.release();
  }
}

/**
 * The model with every training-mode BatchNormalization written as batch statistics. onnxruntime
 * cannot be trusted to run the node itself: its optimizer folds a preceding Conv into it as if it
 * used running statistics, and unoptimized its kernel writes the running statistics into the
 * buffers of inputs 3 and 4 — initializers that it may share with others (a scale of ones with a
 * running variance of ones) — so outputs drift from run to run.
 */
function withBatchStatistics(model: Model): Model {
  if (!hasTrainingModeBatchNorm(model)) return model;
  const copy = cloneModel(model);
  const g = copy.graph;
  const consumed = new Set([...g.nodes.flatMap((n) => n.inputs), ...g.outputNames]);
  for (const node of g.nodes.slice()) {
    if (!isTrainingModeBatchNorm(node)) continue;
    // Running-statistics outputs nobody reads are dropped; the decomposition refuses them before opset 14.
    const outputs = node.outputs.map((o, i) => (i === 0 || consumed.has(o) ? o : ''));
    while (outputs.length > 1 && outputs[outputs.length - 1] === '') outputs.pop();
    node.outputs = outputs;
    decomposeTrainingBatchNorm(g, node, copy.opset(''));
  }
  g.toposort();
  return copy;
}

function isTrainingModeBatchNorm(n: Node): boolean {
  return (
    n.opType === 'BatchNormalization' &&
    (n.domain === '' || n.domain === 'ai.onnx') &&
    (n.attrs.int('training_mode', 0) === 1 || n.outputs.filter((o) => o !== '').length > 1)
  );
}

/** BatchNormalization in training mode: `training_mode=1` (opset ≥ 14) or the 5-output form (opset < 14). */
export function hasTrainingModeBatchNorm(model: Model): boolean {
  return model.graph.nodes.some(isTrainingModeBatchNorm);
}

function compare(output: string, ref: HostTensor, cand: HostTensor): OutputDifference {
  if (ref.dims.length !== cand.dims.length || ref.dims.some((d, i) => d !== cand.dims[i])) {
    return { output, maxAbsDiff: Infinity, maxRel: Infinity };
  }
  let maxAbsDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.data.length; i++) {
    const a = Number(ref.data[i]);
    const b = Number(cand.data[i]);
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    const d = Math.abs(a - b);
    // A NaN on one side only, or infinities of different signs, is as far apart as it gets.
    maxAbsDiff = Math.max(maxAbsDiff, Number.isNaN(d) ? Infinity : a === b ? 0 : d);
    if (Number.isFinite(a)) maxRef = Math.max(maxRef, Math.abs(a));
  }
  return { output, maxAbsDiff, maxRel: maxAbsDiff / Math.max(1, maxRef) };
}

/** Inputs for the declared feed inputs: float ~ N(0, 1), integers and booleans zero. */
export function randomFeeds(model: Model, seed: number): Record<string, HostTensor> {
  const rng = new Random(seed);
  const feeds: Record<string, HostTensor> = {};
  for (const input of model.graph.feedInputs) {
    const name = input.name ?? '';
    const type = tensorTypeOf(input);
    if (!type?.dtype || !type.dims) throw new ReconError(`graph input "${name}" has no tensor type with a known rank; pass feeds`);
    const dims = type.dims.map((d) => (typeof d === 'number' ? d : SYMBOLIC_DIM));
    const n = dims.reduce((a, b) => a * b, 1);
    switch (type.dtype) {
      case 'float32':
        feeds[name] = { dtype: 'float32', dims, data: rng.fillNormal(new Float32Array(n)) };
        break;
      case 'float64':
        feeds[name] = { dtype: 'float64', dims, data: Float64Array.from(rng.fillNormal(new Float32Array(n))) };
        break;
      case 'int64':
        feeds[name] = { dtype: 'int64', dims, data: new BigInt64Array(n) };
        break;
      case 'int32':
        feeds[name] = { dtype: 'int32', dims, data: new Int32Array(n) };
        break;
      case 'uint8':
      case 'bool':
        feeds[name] = { dtype: type.dtype, dims, data: new Uint8Array(n) };
        break;
      default:
        throw new ReconError(`graph input "${name}" has element type ${type.dtype}; pass feeds`);
    }
  }
  return feeds;
}
