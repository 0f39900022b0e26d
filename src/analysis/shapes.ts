import type { DType } from '../onnx/dtype.js';
import type { Model } from '../onnx/model.js';
import { Model as ModelClass } from '../onnx/model.js';
import { Graph } from '../onnx/graph.js';
import { GraphBuilder } from '../onnx/builder.js';
import { serializeModel } from '../onnx/save.js';
import { tensorTypeOf, type Dim } from '../onnx/value-info.js';
import { printable, ReconError } from '../util/errors.js';
import { RuntimeSession } from '../runtime/session.js';
import type { HostTensor } from '../runtime/ort-tensor.js';

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
 * How `inferShapes` probes: `heads` (default) exposes each value's shape and first elements,
 * `all` every value whole (the earlier probe, kept for benchmarks' A/B of peak memory).
 */
export const shapeProbeSettings: { mode: 'heads' | 'all' } = { mode: 'heads' };

/**
 * Shapes by running the model once on onnxruntime with the shape (and the first few elements) of
 * every intermediate value exposed as an output. Exact for every op onnxruntime runs, with no shape-inference rules of our own to keep
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
  const wanted = options.only ? new Set(options.only) : undefined;
  const names: string[] = [];
  const seen = new Set<string>();
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (!o || seen.has(o) || (wanted && !wanted.has(o))) continue;
      seen.add(o);
      names.push(o);
    }
  }
  if (!wanted) for (const o of g.outputs) if (o.name && !seen.has(o.name)) names.push(o.name);
  const result = shapeProbeSettings.mode === 'all' ? await probeAll(model, names, feeds) : await probeHeads(model, names, feeds);
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
  for (const [name, { dims, head }] of result) {
    values.set(name, { dtype: head.dtype, dims });
    const numel = dims.reduce((a, d) => a * d, 1);
    if ((head.dtype === 'int64' || head.dtype === 'int32') && numel <= CONSTANT_LIMIT) {
      constants.set(
        name,
        Array.from(head.data as ArrayLike<number | bigint>, (v) => Number(v)),
      );
    } else if ((head.dtype === 'float32' || head.dtype === 'float64') && numel <= CONSTANT_LIMIT && constantNodeOutputs.has(name)) {
      // Float values only from Constant nodes: other small float values are activations.
      constants.set(name, Array.from(head.data as ArrayLike<number>));
    }
  }
  return { values, constants, inputDims };
}

/**
 * Runs the model once and returns, per value, its shape and its first CONSTANT_LIMIT elements
 * (all of it when it is that small, which is all the shape computations need). The probe's
 * outputs are a `Shape` and a short `Slice` of each value, not the value itself: onnxruntime then
 * frees every intermediate after its last use as in a normal run, so the probe's peak memory is
 * one forward pass's working set instead of every intermediate at once plus its copy in
 * JavaScript (bench/RESULTS.md § "Peak memory of graph building"). A model whose values are not
 * all tensors (sequences, optionals: no Shape) is probed the old way, every value an output.
 */
async function probeHeads(
  model: Model,
  names: readonly string[],
  feeds: Record<string, HostTensor>,
): Promise<Map<string, { dims: number[]; head: HostTensor }>> {
  const g = model.graph;
  const probe = new Graph({ name: g.name, nodes: g.nodes.slice(), inputs: g.inputs, initializers: new Map(g.initializers), outputs: [] });
  const b = new GraphBuilder(probe);
  const flat = b.int64s('recon/probe/flat', [-1]);
  const start = b.int64s('recon/probe/start', [0]);
  const end = b.int64s('recon/probe/end', [CONSTANT_LIMIT]);
  const outputs = new Map<string, { shape: string; head: string }>();
  for (const name of names) {
    const shape = b.op1('Shape', [name], {}, { name: 'recon/probe/shape' });
    const head = b.op1('Slice', [b.op1('Reshape', [name, flat], {}, { name: 'recon/probe/flat' }), start, end], {}, { name: 'recon/probe/head' });
    probe.outputs.push({ name: shape }, { name: head });
    outputs.set(name, { shape, head });
  }
  const m = new ModelClass(probe, { irVersion: model.irVersion, opsetImports: model.opsetImports });
  m.functions = model.functions;
  let session: RuntimeSession;
  try {
    session = await RuntimeSession.create(serializeModel(m), { graphOptimizationLevel: 'disabled' });
  } catch {
    return probeAll(model, names, feeds);
  }
  let result: Record<string, HostTensor>;
  try {
    result = await session.run(feeds);
  } finally {
    await session.release();
  }
  const out = new Map<string, { dims: number[]; head: HostTensor }>();
  for (const [name, { shape, head }] of outputs) {
    out.set(name, { dims: Array.from(result[shape]!.data as BigInt64Array, (v) => Number(v)), head: result[head]! });
  }
  return out;
}

/** Every value as an output (the fallback of `probeHeads`). */
async function probeAll(model: Model, names: readonly string[], feeds: Record<string, HostTensor>): Promise<Map<string, { dims: number[]; head: HostTensor }>> {
  const g = model.graph;
  const probe = new Graph({ name: g.name, nodes: g.nodes, inputs: g.inputs, initializers: g.initializers, outputs: names.map((name) => ({ name })) });
  const m = new ModelClass(probe, { irVersion: model.irVersion, opsetImports: model.opsetImports });
  m.functions = model.functions;
  const session = await RuntimeSession.create(serializeModel(m), { graphOptimizationLevel: 'disabled' });
  let result: Record<string, HostTensor>;
  try {
    result = await session.run(feeds);
  } finally {
    await session.release();
  }
  return new Map(Object.entries(result).map(([name, t]) => [name, { dims: t.dims.slice(), head: t }]));
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
