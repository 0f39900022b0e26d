import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { batchIndices, checkArray, describeMismatch, getArray, loadDataset, makeDataset, takeRows, toModelDtype } from '../../src/data/dataset.js';
import type { HostTensor } from '../../src/data/host-tensor.js';
import { writeNpy } from '../../src/data/npy.js';
import { writeNpz } from '../../src/data/npz.js';
import { writeTensorDir } from '../../src/data/tensor-dir.js';
import { plain } from './fixture-values.js';

const dir = mkdtempSync(join(tmpdir(), 'dataset-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const images: HostTensor = { dtype: 'float32', dims: [4, 2, 3], data: Float32Array.from({ length: 24 }, (_, i) => i) };
const labels: HostTensor = { dtype: 'int64', dims: [4], data: BigInt64Array.of(10n, 11n, 12n, 13n) };

describe('makeDataset / loadDataset', () => {
  it('names both arrays and their lengths when row counts differ', () => {
    const short: HostTensor = { dtype: 'int64', dims: [3], data: new BigInt64Array(3) };
    expect(() => makeDataset({ input: images, T1_target: short }, 'train.npz')).toThrow(
      'dataset train.npz: array "T1_target" has 3 rows but array "input" has 4 rows',
    );
  });

  it('rejects scalars and empty datasets', () => {
    const scalar: HostTensor = { dtype: 'float64', dims: [], data: Float64Array.of(1) };
    expect(() => makeDataset({ s: scalar })).toThrow(/array "s" is a scalar/);
    expect(() => makeDataset({}, 'x')).toThrow('dataset x: contains no arrays');
  });

  it('loads .npz, .npy and TensorProto directories alike', () => {
    const npz = join(dir, 'set.npz');
    writeNpz(npz, { input: images, label: labels });
    const npy = join(dir, 'pixels.npy');
    writeNpy(npy, images);
    const pbDir = join(dir, 'pb');
    writeTensorDir(pbDir, { input: images, label: labels });

    const fromNpz = loadDataset(npz);
    expect(fromNpz.length).toBe(4);
    expect(plain(getArray(fromNpz, 'label'))).toEqual(plain(labels));
    const fromNpy = loadDataset(npy);
    expect([...fromNpy.arrays.keys()]).toEqual(['pixels']);
    const fromDir = loadDataset(pbDir);
    expect(plain(getArray(fromDir, 'input'))).toEqual(plain(images));
    expect(() => getArray(fromDir, 'nope')).toThrow(`dataset ${pbDir}: no array "nope" (arrays: input, label)`);
  });

  it('explains unsupported paths', () => {
    const csv = join(dir, 'data.csv');
    writeFileSync(csv, '1,2\n');
    expect(() => loadDataset(csv)).toThrow(`dataset ${csv}: unsupported file type ".csv"`);
    expect(() => loadDataset(join(dir, 'missing.npz'))).toThrow(/no such file or directory/);
  });
});

describe('batchIndices', () => {
  it('returns rows in order without shuffling, with a short last batch unless dropLast', () => {
    expect(batchIndices(7, 3).map((b) => [...b])).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(batchIndices(7, 3, { dropLast: true }).map((b) => [...b])).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(batchIndices(0, 3)).toEqual([]);
  });

  it('covers every row exactly once per shuffled epoch', () => {
    const batches = batchIndices(1000, 64, { shuffle: true, seed: 3, epoch: 2 });
    expect(batches.map((b) => b.length)).toEqual([...new Array<number>(15).fill(64), 40]);
    const seen = batches.flatMap((b) => [...b]).sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('depends only on (seed, epoch)', () => {
    const order = (seed: number, epoch: number): number[] => batchIndices(200, 50, { shuffle: true, seed, epoch }).flatMap((b) => [...b]);
    expect(order(5, 1)).toEqual(order(5, 1));
    expect(order(5, 1)).not.toEqual(order(5, 2));
    expect(order(5, 1)).not.toEqual(order(6, 1));
    expect(order(5, 0)).not.toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('rejects invalid sizes', () => {
    expect(() => batchIndices(10, 0)).toThrow(/batch size must be a positive integer, got 0/);
    expect(() => batchIndices(-1, 4)).toThrow(/row count must be a non-negative integer/);
  });
});

describe('takeRows', () => {
  it('gathers whole rows of every array in the given order', () => {
    const rows = takeRows(makeDataset({ input: images, label: labels }), [3, 0, 3]);
    expect(rows.input!.dims).toEqual([3, 2, 3]);
    expect([...(rows.input!.data as Float32Array)]).toEqual([18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 18, 19, 20, 21, 22, 23]);
    expect(plain(rows.label!)).toEqual({ dtype: 'int64', dims: [3], values: [13n, 10n, 13n] });
    // The result is a copy, not a view of the dataset.
    (rows.input!.data as Float32Array)[0] = -1;
    expect(images.data[18]).toBe(18);
  });

  it('names the array when an index is out of range', () => {
    expect(() => takeRows(makeDataset({ input: images }), [4])).toThrow('array "input": row index 4 out of range [0, 4)');
  });
});

describe('checkArray', () => {
  it('produces the documented message', () => {
    const x: HostTensor = { dtype: 'float32', dims: [128, 36, 36], data: new Float32Array(128 * 36 * 36) };
    expect(() => checkArray('x', x, { dtype: 'float32', dims: [null, 1, 36, 36] })).toThrow(
      'array "x": expected shape [N,1,36,36] (float32), got [128,36,36] (float32)',
    );
  });

  it('accepts matches, wildcards and any dtype when none is given, and catches dtype mismatches', () => {
    expect(describeMismatch('y', labels, { dtype: 'int64', dims: [null] })).toBeNull();
    expect(describeMismatch('x', images, { dims: [4, null, 3] })).toBeNull();
    expect(describeMismatch('y', labels, { dtype: 'int32', dims: [4] })).toBe('array "y": expected shape [4] (int32), got [4] (int64)');
    expect(describeMismatch('x', images, { dims: [null, 5, null] })).toBe('array "x": expected shape [N,5,?] (any dtype), got [4,2,3] (float32)');
  });
});

describe('toModelDtype', () => {
  it('returns the same tensor when the dtype already matches', () => {
    expect(toModelDtype(images, 'float32', 'x')).toBe(images);
  });

  it('converts float64, uint8 (scaled to [0, 1]), bool, int32 and uint8 labels', () => {
    const f64: HostTensor = { dtype: 'float64', dims: [2], data: Float64Array.of(0.1, -3) };
    expect(plain(toModelDtype(f64, 'float32', 'a'))).toEqual({ dtype: 'float32', dims: [2], values: [Math.fround(0.1), -3] });
    const bytes: HostTensor = { dtype: 'uint8', dims: [1, 3], data: Uint8Array.of(0, 51, 255) };
    expect(plain(toModelDtype(bytes, 'float32', 'b'))).toEqual({ dtype: 'float32', dims: [1, 3], values: [0, Math.fround(0.2), 1] });
    expect(plain(toModelDtype(bytes, 'int64', 'b'))).toEqual({ dtype: 'int64', dims: [1, 3], values: [0n, 51n, 255n] });
    const flags: HostTensor = { dtype: 'bool', dims: [2], data: Uint8Array.of(1, 0) };
    expect(plain(toModelDtype(flags, 'float32', 'c'))).toEqual({ dtype: 'float32', dims: [2], values: [1, 0] });
    const ints: HostTensor = { dtype: 'int32', dims: [2], data: Int32Array.of(-2147483648, 9) };
    expect(plain(toModelDtype(ints, 'int64', 'd'))).toEqual({ dtype: 'int64', dims: [2], values: [-2147483648n, 9n] });
  });

  it('refuses lossy or ambiguous conversions, naming the array', () => {
    expect(() => toModelDtype(images, 'int64', 'input')).toThrow(/array "input": cannot convert \[4,2,3\] \(float32\) to int64/);
    expect(() => toModelDtype(labels, 'float32', 'T1_target')).toThrow(/array "T1_target": cannot convert \[4\] \(int64\) to float32/);
  });
});
