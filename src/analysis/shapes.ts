import type { DType } from '../onnx/dtype.js';
import type { Model } from '../onnx/model.js';
import { Model as ModelClass } from '../onnx/model.js';
import { Graph } from '../onnx/graph.js';
import { serializeModel } from '../onnx/save.js';
import { tensorTypeOf, type Dim } from '../onnx/value-info.js';
import { printable, ReconError } from '../onnx/errors.js';
import { RuntimeSession } from '../runtime/session.js';
import type { HostTensor } from '../runtime/host-tensor.js';

export interface ValueShape {
  dtype: DType;
  dims: number[];
}

/** Static dtype and shape of every value of a graph for one input shape, plus small integer values. */
export interface ShapeInfo {
  values: Map<string, ValueShape>;
  /**
   * Values of small integer tensors (shape computations), for folding into constants, and of small
   * float initializers and Constant-node outputs (e.g. Resize scales).
   */
  constants: Map<string, number[]>;
  /** The concrete input shapes the information holds for. */
  inputDims: Record<string, number[]>;
}

const CONSTANT_LIMIT = 64;

/**
 * Shapes by running the model once on onnxruntime with every intermediate value exposed as an
 * output. Exact for every op onnxruntime runs, with no shape-inference rules of our own to keep
 * in sync. Inputs are zeros (valid as indices for embeddings) unless `feeds` are given.
 */
export async function inferShapes(
  model: Model,
  options: {
    inputDims?: Record<string, number[]>;
    batchSize?: number;
    feeds?: Record<string, HostTensor>;
    /** Expose only these values (default: every node output), for a cheaper probe. */
    only?: readonly string[];
  } = {},
): Promise<ShapeInfo> {
  const g = model.graph;
  const feeds: Record<string, HostTensor> = { ...(options.feeds ?? {}) };
  const inputDims: Record<string, number[]> = {};
  for (const input of g.feedInputs) {
    const name = input.name ?? '';
    const given = feeds[name];
    if (given) {
      inputDims[name] = given.dims.slice();
      continue;
    }
    const type = tensorTypeOf(input);
    if (!type?.dtype || !type.dims) throw new ReconError(`graph input "${name}" has no tensor type with a known rank`);
    const dims = options.inputDims?.[name] ?? concreteDims(type.dims, options.batchSize ?? 1);
    inputDims[name] = dims;
    feeds[name] = zerosFor(name, type.dtype, dims);
  }
  const probe = new Graph({
    name: g.name,
    nodes: g.nodes,
    inputs: g.inputs,
    initializers: g.initializers,
    outputs: [],
  });
  const seen = new Set<string>();
  const wanted = options.only ? new Set(options.only) : undefined;
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (!o || seen.has(o) || (wanted && !wanted.has(o))) continue;
      seen.add(o);
      probe.outputs.push({ name: o });
    }
  }
  if (!wanted) for (const o of g.outputs) if (o.name && !seen.has(o.name)) probe.outputs.push(o);
  const m = new ModelClass(probe, { irVersion: model.irVersion, opsetImports: model.opsetImports });
  m.functions = model.functions;
  const session = await RuntimeSession.create(serializeModel(m), { graphOptimizationLevel: 'disabled' });
  let result: Record<string, HostTensor>;
  try {
    result = await session.run(feeds);
  } finally {
    await session.release();
  }
  const values = new Map<string, ValueShape>();
  const constants = new Map<string, number[]>();
  for (const [name, t] of Object.entries(inputDims)) values.set(name, { dtype: feeds[name]!.dtype, dims: t });
  for (const [name, t] of g.initializers) {
    values.set(name, { dtype: t.dtype, dims: t.dims.slice() });
    if ((t.dtype === 'int64' || t.dtype === 'int32') && t.numel <= CONSTANT_LIMIT) constants.set(name, t.toNumbers());
    // Small float initializers too (Resize scales and roi, Upsample scales): true constants.
    if ((t.dtype === 'float32' || t.dtype === 'float64') && t.numel <= CONSTANT_LIMIT) constants.set(name, t.toNumbers());
  }
  const constantNodeOutputs = new Set(g.nodes.filter((n) => n.opType === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx')).map((n) => n.outputs[0]));
  for (const [name, t] of Object.entries(result)) {
    values.set(name, { dtype: t.dtype, dims: t.dims.slice() });
    if ((t.dtype === 'int64' || t.dtype === 'int32') && t.data.length <= CONSTANT_LIMIT) {
      constants.set(
        name,
        Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v)),
      );
    } else if ((t.dtype === 'float32' || t.dtype === 'float64') && t.data.length <= CONSTANT_LIMIT && constantNodeOutputs.has(name)) {
      // Float values only from Constant nodes: other small float values are activations.
      constants.set(name, Array.from(t.data as ArrayLike<number>));
    }
  }
  return { values, constants, inputDims };
}

function concreteDims(dims: readonly Dim[], batch: number): number[] {
  return dims.map((d, i) => (typeof d === 'number' ? d : i === 0 ? batch : 1));
}

// A shape probe with more zeros than this (1 GiB of float32) is a corrupt shape or a mistaken batch size.
const MAX_PROBE_ELEMENTS = 2 ** 28;

function zerosFor(name: string, dtype: DType, dims: number[]): HostTensor {
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new ReconError(`graph input "${printable(name)}": invalid shape [${dims.join(',')}] (dims must be non-negative integers)`);
  }
  const n = dims.reduce((a, b) => a * b, 1);
  if (n > MAX_PROBE_ELEMENTS) {
    throw new ReconError(
      `graph input "${printable(name)}": shape [${dims.join(',')}] has ${n} elements, more than the ${MAX_PROBE_ELEMENTS} a shape probe allocates (a smaller batch size?)`,
    );
  }
  switch (dtype) {
    case 'float32':
      return { dtype, dims, data: new Float32Array(n) };
    case 'float64':
      return { dtype, dims, data: new Float64Array(n) };
    case 'int64':
      return { dtype, dims, data: new BigInt64Array(n) };
    case 'int32':
      return { dtype, dims, data: new Int32Array(n) };
    case 'uint8':
      return { dtype, dims, data: new Uint8Array(n) };
    case 'bool':
      return { dtype, dims, data: new Uint8Array(n) };
    default:
      throw new ReconError(`graph input "${name}" has element type ${dtype}, which recon cannot feed`);
  }
}
