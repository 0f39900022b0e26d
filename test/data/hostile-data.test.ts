import { oneLineError } from '../util/one-line-error.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/dataset.js';
import { encodeNpy, encodeNpyHeader, readNpy } from '../../src/data/npy.js';
import { readNpz, writeNpz } from '../../src/data/npz.js';
import { writeZip } from '../../src/data/zip.js';
import { Random } from '../../src/util/random.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-hostile-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Offsets of the central-directory records in a ZIP image (found by signature, not by the reader under test). */
function centralRecords(zip: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= zip.length; i++) if (zip.readUInt32LE(i) === 0x02014b50) out.push(i);
  return out;
}

/** A compressed one-member .npz whose member is `content` (any bytes, not necessarily a valid .npy). */
function npzWithMember(path: string, content: Uint8Array): void {
  writeZip(path, [{ name: 'x.npy', parts: [content] }], { compress: true });
}

describe('npz members are checked against their .npy header before inflating', () => {
  const small = encodeNpy({ dtype: 'float32', dims: [4], data: Float32Array.from([1, 2, 3, 4]) });

  it('a sound compressed member reads back (control case)', () => {
    const path = join(dir, 'ok.npz');
    npzWithMember(path, small);
    expect(Array.from(readNpz(path).get('x')!.data as Float32Array)).toEqual([1, 2, 3, 4]);
  });

  it('a member longer than its header shape (a small header over 64 MiB of zeros) is refused by its declared size', () => {
    const path = join(dir, 'long.npz');
    const content = new Uint8Array(small.length + 64 * 1024 * 1024);
    content.set(small);
    npzWithMember(path, content);
    expect(readFileSync(path).length).toBeLessThan(1024 * 1024);
    expect(oneLineError(() => readNpz(path))).toMatch(
      new RegExp(`array "x": the archive declares ${content.length} bytes, but the \\.npy header's shape \\[4\\] \\(float32\\) needs ${small.length}`),
    );
  });

  it('a member that declares the header size but inflates beyond it is stopped at the declared size', () => {
    const path = join(dir, 'bomb.npz');
    const content = new Uint8Array(small.length + 64 * 1024 * 1024);
    content.set(small);
    npzWithMember(path, content);
    const zip = readFileSync(path);
    const [record] = centralRecords(zip);
    zip.writeUInt32LE(small.length, record! + 24); // Declared uncompressed size: what the header needs.
    writeFileSync(path, zip);
    expect(oneLineError(() => readNpz(path))).toMatch(new RegExp(`entry "x\\.npy": inflates beyond its declared ${small.length} bytes`));
  });

  it('a declared size of 1 GiB for a 4-element header is refused before anything is inflated', () => {
    const path = join(dir, 'declared.npz');
    npzWithMember(path, small);
    const zip = readFileSync(path);
    zip.writeUInt32LE(2 ** 30, centralRecords(zip)[0]! + 24);
    writeFileSync(path, zip);
    expect(oneLineError(() => readNpz(path))).toMatch(/declares 1073741824 bytes, but the \.npy header's shape \[4\] \(float32\) needs/);
  });

  it('a compressed size beyond the end of the file, corrupt deflate data and truncation are one-line errors', () => {
    const path = join(dir, 'sizes.npz');
    writeNpz(path, { x: { dtype: 'float64', dims: [64], data: new Float64Array(64).fill(0.25) } }, { compress: true });
    const good = readFileSync(path);
    const huge = Buffer.from(good);
    huge.writeUInt32LE(0xfffffff0, centralRecords(huge)[0]! + 20);
    writeFileSync(path, huge);
    expect(oneLineError(() => readNpz(path))).toMatch(/beyond the end of the file/);
    const corrupt = Buffer.from(good);
    for (let i = 40; i < 60; i++) corrupt[i] = 0xff;
    writeFileSync(path, corrupt);
    expect(oneLineError(() => readNpz(path))).toMatch(/corrupt|CRC|not a \.npy|header/);
    for (const keep of [0, 10, good.length >> 1, good.length - 1]) {
      writeFileSync(path, good.subarray(0, keep));
      oneLineError(() => readNpz(path));
    }
  });

  it('a .npy whose header shape does not match its bytes, or whose header is huge, is refused', () => {
    const path = join(dir, 'x.npy');
    const header = encodeNpyHeader('float32', [1000, 1000]);
    writeFileSync(path, Buffer.concat([header, Buffer.alloc(16)]));
    expect(oneLineError(() => readNpy(path))).toMatch(/shape \[1000,1000\] \(float32\) needs 4000000 data bytes, file has 16/);
    const v2 = Buffer.from(encodeNpy({ dtype: 'uint8', dims: [1], data: Uint8Array.of(1) }));
    const bigHeader = Buffer.alloc(12);
    v2.copy(bigHeader, 0, 0, 8);
    bigHeader[6] = 2;
    bigHeader.writeUInt32LE(2 ** 31, 8);
    npzWithMember(join(dir, 'bighdr.npz'), bigHeader);
    expect(oneLineError(() => readNpz(join(dir, 'bighdr.npz')))).toMatch(/header of \d+ bytes is larger than/);
  });

  it.skipIf(process.platform !== 'linux')('a named pipe as dataset is refused without blocking', () => {
    const path = join(dir, 'pipe.npz');
    execFileSync('mkfifo', [path]);
    expect(oneLineError(() => loadDataset(path))).toMatch(/not a regular file/);
  });
});

describe('a directory of random .pb files', () => {
  it('is one clean line, with binary names escaped', () => {
    const random = new Random(5);
    for (let trial = 0; trial < 20; trial++) {
      const folder = join(dir, `pb${trial}`);
      mkdirSync(folder);
      for (let f = 0; f < 3; f++) {
        const bytes = new Uint8Array(1 + random.int(200));
        for (let i = 0; i < bytes.length; i++) bytes[i] = random.int(256);
        // Field 8 (name) as length-delimited bytes of control characters makes a valid-looking name.
        if (f === 0) bytes.set([0x42, 4, 0x1b, 0x5b, 0x07, 0x00], 0);
        writeFileSync(join(folder, `t${f}\u0007.pb`), bytes);
      }
      oneLineError(() => loadDataset(folder));
    }
  });
});
