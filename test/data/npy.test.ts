import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HOST_DTYPES, zerosTensor, type HostDtype, type HostTensor } from '../../src/data/host-tensor.js';
import { encodeNpy, encodeNpyHeader, parseNpy, parseNpyHeader, readNpy, writeNpy } from '../../src/data/npy.js';
import { FIXTURES, numpyFixtureArrays, plain } from './fixture-values.js';

const dir = mkdtempSync(join(tmpdir(), 'npy-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic, dtype-appropriate values that differ per element (so a shuffled copy would fail). */
function sample(dtype: HostDtype, dims: number[]): HostTensor {
  const t = zerosTensor(dtype, dims);
  const n = t.data.length;
  for (let i = 0; i < n; i++) {
    if (t.dtype === 'int64') t.data[i] = BigInt(i) * 1_000_000_007n - 3n;
    else if (t.dtype === 'bool') t.data[i] = i % 3 === 0 ? 1 : 0;
    else if (t.dtype === 'uint8') t.data[i] = (i * 37) % 256;
    else if (t.dtype === 'int32') t.data[i] = i * 100_003 - 50;
    else t.data[i] = i / 7 - 1.25;
  }
  return t;
}

const SHAPES: number[][] = [[], [0], [1], [5], [2, 3], [2, 0, 4], [3, 1, 2, 2]];

/** A .npy built by hand: magic, version, little-endian length, header text, data. */
function handMadeNpy(major: number, header: string, data: Uint8Array): Uint8Array {
  const text = Buffer.from(header, major === 3 ? 'utf8' : 'latin1');
  const lengthBytes = major === 1 ? 2 : 4;
  const out = new Uint8Array(6 + 2 + lengthBytes + text.length + data.length);
  out.set([0x93, ...Buffer.from('NUMPY')], 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, 8 + lengthBytes);
  out.set(data, 8 + lengthBytes + text.length);
  return out;
}

describe('npy round trip', () => {
  for (const dtype of HOST_DTYPES) {
    for (const dims of SHAPES) {
      it(`${dtype} ${JSON.stringify(dims)} in memory and on disk`, () => {
        const original = sample(dtype, dims);
        expect(plain(parseNpy(encodeNpy(original)))).toEqual(plain(original));
        const path = join(dir, `${dtype}-${dims.join('x') || 'scalar'}.npy`);
        writeNpy(path, original);
        expect(plain(readNpy(path))).toEqual(plain(original));
      });
    }
  }

  it('pads the header so data starts on a 64-byte boundary and ends it with a newline', () => {
    for (const dims of SHAPES) {
      const header = encodeNpyHeader('float32', dims);
      expect(header.length % 64).toBe(0);
      expect(header[header.length - 1]).toBe(0x0a);
      expect(parseNpyHeader(header, 'h').dataOffset).toBe(header.length);
    }
  });

  it('writes 1-d shapes with the trailing comma Python needs for a tuple', () => {
    const text = Buffer.from(encodeNpyHeader('int64', [7])).toString('latin1');
    expect(text).toContain("'shape': (7,)");
    expect(text).toContain("'descr': '<i8'");
    expect(text).toContain("'fortran_order': False");
  });

  it('switches to format 2.0 when the header does not fit a 16-bit length', () => {
    const dims = new Array<number>(30_000).fill(1);
    const header = encodeNpyHeader('uint8', dims);
    expect(header[6]).toBe(2);
    const parsed = parseNpyHeader(header, 'big');
    expect(parsed.version).toEqual([2, 0]);
    expect(parsed.dims).toHaveLength(30_000);
  });

  it('leaves no temporary files behind', () => {
    writeNpy(join(dir, 'clean.npy'), sample('float32', [2]));
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('npy headers written by hand', () => {
  it('reads versions 1.0, 2.0 and 3.0 with double quotes, no spaces and a Python 2 long', () => {
    const data = new Uint8Array(Int32Array.of(7, -8).buffer);
    const v1 = parseNpy(handMadeNpy(1, "{'descr':'<i4','fortran_order':False,'shape':(2L,)}\n", data));
    const v2 = parseNpy(handMadeNpy(2, '{"shape": (1, 2), "fortran_order": False, "descr": "<i4"}', data));
    const v3 = parseNpy(handMadeNpy(3, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }   \n", data));
    expect(plain(v1)).toEqual({ dtype: 'int32', dims: [2], values: [7, -8] });
    expect(plain(v2)).toEqual({ dtype: 'int32', dims: [1, 2], values: [7, -8] });
    expect(plain(v3)).toEqual({ dtype: 'int32', dims: [2], values: [7, -8] });
  });

  it('copies data that is not aligned for its element size', () => {
    const inner = encodeNpy({ dtype: 'float64', dims: [3], data: Float64Array.of(1.5, -2, 1e300) });
    const shifted = new Uint8Array(inner.length + 3);
    shifted.set(inner, 3);
    const view = shifted.subarray(3);
    expect(view.byteOffset % 8).not.toBe(0);
    expect(plain(parseNpy(view))).toEqual({ dtype: 'float64', dims: [3], values: [1.5, -2, 1e300] });
    // Node Buffers (what fs and zlib return) behave differently from Uint8Array when sliced.
    const pooled = Buffer.concat([Buffer.alloc(5), Buffer.from(inner)]).subarray(5);
    expect(plain(parseNpy(pooled))).toEqual({ dtype: 'float64', dims: [3], values: [1.5, -2, 1e300] });
  });

  it('rejects fortran order, other dtypes, structured dtypes and bad files with clear messages', () => {
    const four = new Uint8Array(4);
    expect(() => parseNpy(handMadeNpy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n", four), 'f.npy')).toThrow(
      /f\.npy: fortran_order=True arrays are not supported/,
    );
    expect(() => parseNpy(handMadeNpy(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n", four), 'c.npy')).toThrow(
      /c\.npy: unsupported dtype '<c8'/,
    );
    expect(() => parseNpy(handMadeNpy(1, "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }\n", four))).toThrow(/structured dtype/);
    expect(() => parseNpy(Buffer.from('PK\x03\x04 not npy'), 'x.npy')).toThrow(/x\.npy: not a \.npy file/);
    expect(() => parseNpy(handMadeNpy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", four), 's.npy')).toThrow(
      /s\.npy: shape \[2\] \(float32\) needs 8 data bytes, file has 4/,
    );
    expect(() => parseNpy(handMadeNpy(1, "{'descr': '<f4', 'shape': (1,), }\n", four))).toThrow(/needs keys descr, fortran_order, shape/);
  });
});

describe('npy files written by NumPy (test/data/fixtures)', () => {
  const expected = numpyFixtureArrays();

  it('reads format 1.0, 2.0 and 3.0 files', () => {
    expect(plain(readNpy(join(FIXTURES, 'numpy-v1.npy')))).toEqual(plain(expected.i4_2x2x2!));
    expect(plain(readNpy(join(FIXTURES, 'numpy-v2.npy')))).toEqual(plain(expected.f4_2x3!));
    expect(plain(readNpy(join(FIXTURES, 'numpy-v3.npy')))).toEqual(plain(expected.i8_vec!));
    expect(parseNpyHeader(readFileSync(join(FIXTURES, 'numpy-v3.npy')), 'v3').version).toEqual([3, 0]);
  });

  it('names the file and the fix for Fortran-ordered and big-endian arrays', () => {
    const fortran = join(FIXTURES, 'numpy-fortran.npy');
    expect(() => readNpy(fortran)).toThrow(`${fortran}: fortran_order=True arrays are not supported`);
    expect(() => readNpy(join(FIXTURES, 'numpy-big-endian.npy'))).toThrow(/unsupported dtype '>f4' \(big-endian/);
  });
});
