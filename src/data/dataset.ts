/**
 * Datasets as named arrays that share axis 0 (one row per example), loaded from .npz, .npy or a
 * TensorProto directory, plus the row-batching helpers used by training and gradient probes.
 */
import { checkNameLength, printable, ReconError } from '../util/errors.js';
import { statSync, type Stats } from 'node:fs';
import { basename, extname } from 'node:path';
import { Random } from '../util/random.js';
import { describeTensor, elementCount, formatDims, hostTensor, type HostData, type HostTensor } from './host-tensor.js';
import { readNpy } from './npy.js';
import { readNpz } from './npz.js';
import { readTensorDir } from './tensor-dir.js';

export { toModelDtype } from './model-dtype.js';

export interface Dataset {
  /** Where it came from, for messages. */
  source: string;
  /** Number of rows (the common length of axis 0). */
  length: number;
  arrays: ReadonlyMap<string, HostTensor>;
}

/** Builds a dataset after checking that every array has at least one axis and equal row counts. */
export function makeDataset(arrays: Readonly<Record<string, HostTensor>> | ReadonlyMap<string, HostTensor>, source = '<memory>'): Dataset {
  const map: ReadonlyMap<string, HostTensor> = arrays instanceof Map ? arrays : new Map(Object.entries(arrays));
  if (map.size === 0) throw new ReconError(`dataset ${source}: contains no arrays`);
  let first: [string, number] | null = null;
  for (const [name, tensor] of map) {
    checkNameLength(name, `dataset ${source}: array`);
    if (tensor.dims.length === 0) {
      throw new ReconError(`dataset ${source}: array "${printable(name)}" is a scalar, but every array needs a row axis`);
    }
    const rows = tensor.dims[0]!;
    if (first === null) first = [name, rows];
    else if (rows !== first[1]) {
      throw new ReconError(`dataset ${source}: array "${printable(name)}" has ${rows} rows but array "${printable(first[0])}" has ${first[1]} rows`);
    }
  }
  return { source, length: first![1], arrays: map };
}

/** Loads a .npz archive, a single .npy array (named after the file stem) or a directory of .pb tensors. */
export function loadDataset(path: string): Dataset {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch {
    throw new ReconError(`dataset ${path}: no such file or directory`);
  }
  if (stats.isDirectory()) return makeDataset(readTensorDir(path), path);
  // A pipe or device would block or never end; a dataset is read more than once.
  if (!stats.isFile()) throw new ReconError(`dataset ${path}: not a regular file or directory`);
  const extension = extname(path).toLowerCase();
  if (extension === '.npz') return makeDataset(readNpz(path), path);
  if (extension === '.npy') return makeDataset(new Map([[basename(path, extname(path)), readNpy(path)]]), path);
  throw new ReconError(`dataset ${path}: unsupported file type "${extension}" (expected .npz, .npy or a directory of .pb files)`);
}

/** The named array, or an error listing the names that exist. */
export function getArray(dataset: Dataset, name: string): HostTensor {
  const tensor = dataset.arrays.get(name);
  if (!tensor) {
    throw new ReconError(`dataset ${dataset.source}: no array "${printable(name)}" (arrays: ${printable([...dataset.arrays.keys()].join(', '))})`);
  }
  return tensor;
}

export interface BatchOptions {
  /** Shuffle rows each epoch (default false: rows in order). */
  shuffle?: boolean;
  /** Base seed of the shuffle (default 0). */
  seed?: number;
  /** Epoch number; the order depends only on (seed, epoch), so runs can resume mid-training. */
  epoch?: number;
  /** Drop the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
}

/** Row indices of each batch of one epoch. */
export function batchIndices(n: number, batchSize: number, options: BatchOptions = {}): Int32Array[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new ReconError(`batchIndices: row count must be a non-negative integer, got ${n}`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new ReconError(`batchIndices: batch size must be a positive integer, got ${batchSize}`);
  }
  let order: Int32Array;
  if (options.shuffle) {
    order = new Random(epochSeed(options.seed ?? 0, options.epoch ?? 0)).permutation(n);
  } else {
    order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
  }
  const batches: Int32Array[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(start + batchSize, n);
    if (options.dropLast && end - start < batchSize) break;
    batches.push(order.subarray(start, end));
  }
  return batches;
}

/** Mixes seed and epoch so that neighbouring (seed, epoch) pairs give unrelated shuffles. */
function epochSeed(seed: number, epoch: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) >>> 0;
  h = Math.imul(h ^ (epoch >>> 0) ^ (h >>> 15), 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

/** Copies the given rows of every array (in the order of `indices`) into new arrays. */
export function takeRows(dataset: Dataset, indices: ArrayLike<number>): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const [name, tensor] of dataset.arrays) out[name] = takeTensorRows(tensor, indices, name);
  return out;
}

/** Rows of one array; `name` is used in the out-of-range message. */
export function takeTensorRows(tensor: HostTensor, indices: ArrayLike<number>, name: string): HostTensor {
  const rows = tensor.dims[0] ?? 0;
  const rowSize = elementCount(tensor.dims.slice(1));
  const source = tensor.data;
  const target = new (source.constructor as new (length: number) => HostData)(indices.length * rowSize);
  for (let k = 0; k < indices.length; k++) {
    const row = indices[k]!;
    if (!Number.isInteger(row) || row < 0 || row >= rows) {
      throw new ReconError(`array "${name}": row index ${row} out of range [0, ${rows})`);
    }
    copyRow(source, target, row * rowSize, k * rowSize, rowSize);
  }
  return hostTensor(tensor.dtype, [indices.length, ...tensor.dims.slice(1)], target);
}

function copyRow(source: HostData, target: HostData, from: number, to: number, length: number): void {
  // Same concrete typed-array class on both sides, so set() is a plain memory copy.
  (target as Uint8Array).set((source as Uint8Array).subarray(from, from + length), to);
}

export interface ArraySpec {
  /** Required dtype; omitted means any. */
  dtype?: HostTensor['dtype'];
  /** Required dims; null matches any size (shown as N on axis 0, ? elsewhere). */
  dims: readonly (number | null)[];
}

/** The mismatch message for `tensor` against `expected`, or null when it matches. */
export function describeMismatch(name: string, tensor: HostTensor, expected: ArraySpec): string | null {
  const shapeOk = tensor.dims.length === expected.dims.length && expected.dims.every((d, i) => d === null || d === tensor.dims[i]);
  const dtypeOk = expected.dtype === undefined || expected.dtype === tensor.dtype;
  if (shapeOk && dtypeOk) return null;
  const wanted = formatDims(expected.dims.map((d, i) => (d === null ? (i === 0 ? 'N' : '?') : d)));
  return `array "${printable(name)}": expected shape ${wanted} (${expected.dtype ?? 'any dtype'}), got ${describeTensor(tensor)}`;
}

/** Throws `array "x": expected shape [N,1,36,36] (float32), got [128,36,36] (float32)` style errors. */
export function checkArray(name: string, tensor: HostTensor, expected: ArraySpec): void {
  const problem = describeMismatch(name, tensor, expected);
  if (problem !== null) throw new ReconError(problem);
}
