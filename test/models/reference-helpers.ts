import type { Model } from '../../src/onnx/index.js';
import { serializeModel } from '../../src/onnx/index.js';
import type { HostTensor } from '../../src/runtime/ort-tensor.js';
import { RuntimeSession } from '../../src/runtime/session.js';
import { Random } from '../../src/util/random.js';
import type { InterfaceDim, ReferenceModel } from '../../models/reference-models.js';

/** Trainable parameters by PyTorch naming: `.weight`/`.bias` and bare parameters; BN running stats are buffers. */
export function isParameterName(name: string): boolean {
  return name.endsWith('.weight') || name.endsWith('.bias') || name === 'pos_embed';
}

/** The module owning a parameter: `layer1.0.conv1.weight` → `layer1.0.conv1`; bare parameters are their own layer. */
export function layerOf(name: string): string {
  return name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name;
}

export interface ParameterCounts {
  total: number;
  shared: number;
  sharedLayers: string[];
  perTask: Record<string, number>;
}

export function countParameters(model: Model, heads: Readonly<Record<string, string>>): ParameterCounts {
  const counts: ParameterCounts = { total: 0, shared: 0, sharedLayers: [], perTask: {} };
  for (const task of Object.keys(heads)) counts.perTask[task] = 0;
  const sharedLayers = new Set<string>();
  for (const [name, tensor] of model.graph.initializers) {
    if (tensor.dtype !== 'float32' || !isParameterName(name)) continue;
    counts.total += tensor.numel;
    const task = Object.keys(heads).find((t) => name.startsWith(heads[t]!));
    if (task) counts.perTask[task]! += tensor.numel;
    else {
      counts.shared += tensor.numel;
      sharedLayers.add(layerOf(name));
    }
  }
  counts.sharedLayers = [...sharedLayers];
  return counts;
}

export function concreteDims(dims: readonly InterfaceDim[], batch: number): number[] {
  return dims.map((d) => (d === 'N' ? batch : d));
}

/** A seeded random batch for the model's input (normal floats, or tokens in the vocabulary). */
export function randomFeed(reference: ReferenceModel, batch: number, seed: number): Record<string, HostTensor> {
  const dims = concreteDims(reference.input.dims, batch);
  const count = dims.reduce((a, b) => a * b, 1);
  const rng = new Random(seed);
  const tensor: HostTensor =
    reference.input.dtype === 'int64'
      ? { dtype: 'int64', dims, data: BigInt64Array.from({ length: count }, () => BigInt(rng.int(reference.input.vocabSize ?? 1))) }
      : { dtype: 'float32', dims, data: rng.fillNormal(new Float32Array(count)) };
  return { [reference.input.name]: tensor };
}

export async function runModel(model: Model, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const session = await RuntimeSession.create(serializeModel(model), { intraOpThreads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

export function floatData(t: HostTensor | undefined): Float32Array {
  if (t?.dtype !== 'float32') throw new Error(`expected a float32 tensor, got ${t?.dtype ?? 'nothing'}`);
  return t.data;
}

export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
