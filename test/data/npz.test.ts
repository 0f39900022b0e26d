import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32, crc32Portable } from '../../src/data/crc32.js';
import type { HostTensor } from '../../src/data/host-tensor.js';
import { encodeNpy } from '../../src/data/npy.js';
import { openNpz, readNpz, writeNpz } from '../../src/data/npz.js';
import { FIXTURES, numpyFixtureArrays, plain } from './fixture-values.js';

const dir = mkdtempSync(join(tmpdir(), 'npz-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function plainMap(map: Map<string, HostTensor>): Record<string, ReturnType<typeof plain>> {
  return Object.fromEntries([...map].map(([k, v]) => [k, plain(v)]));
}

function plainRecord(record: Record<string, HostTensor>): Record<string, ReturnType<typeof plain>> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, plain(v)]));
}

interface HandEntry {
  name: string;
  content: Uint8Array;
  method: 0 | 8;
}

/**
 * A ZIP archive assembled field by field from the PKWARE APPNOTE layout, independently of the
 * writer under test. With `zip64`, sizes and offsets move to ZIP64 extra fields and a ZIP64 end
 * record plus locator precede a saturated classic end record. A comment checks the end-record scan.
 */
function handMadeZip(entries: HandEntry[], zip64 = false, comment = ''): Buffer {
  const chunks: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const body = e.method === 8 ? deflateRawSync(e.content) : Buffer.from(e.content);
    const name = Buffer.from(e.name);
    const crc = crc32Portable(e.content);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4);
    local.writeUInt16LE(e.method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(zip64 ? 0xffffffff : body.length, 18);
    local.writeUInt32LE(zip64 ? 0xffffffff : e.content.length, 22);
    local.writeUInt16LE(name.length, 26);
    const localExtra = zip64 ? u64Extra([e.content.length, body.length]) : Buffer.alloc(0);
    local.writeUInt16LE(localExtra.length, 28);
    chunks.push(local, name, localExtra, body);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(zip64 ? 45 : 20, 4);
    cd.writeUInt16LE(zip64 ? 45 : 20, 6);
    cd.writeUInt16LE(e.method, 10);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(zip64 ? 0xffffffff : body.length, 20);
    cd.writeUInt32LE(zip64 ? 0xffffffff : e.content.length, 24);
    cd.writeUInt16LE(name.length, 28);
    const cdExtra = zip64 ? u64Extra([e.content.length, body.length, offset]) : Buffer.alloc(0);
    cd.writeUInt16LE(cdExtra.length, 30);
    cd.writeUInt32LE(zip64 ? 0xffffffff : offset, 42);
    central.push(cd, name, cdExtra);
    offset += local.length + name.length + localExtra.length + body.length;
  }
  const cdOffset = offset;
  const cdBytes = Buffer.concat(central);
  chunks.push(cdBytes);
  offset += cdBytes.length;
  if (zip64) {
    const end64 = Buffer.alloc(56);
    end64.writeUInt32LE(0x06064b50, 0);
    end64.writeBigUInt64LE(44n, 4);
    end64.writeBigUInt64LE(BigInt(entries.length), 24);
    end64.writeBigUInt64LE(BigInt(entries.length), 32);
    end64.writeBigUInt64LE(BigInt(cdBytes.length), 40);
    end64.writeBigUInt64LE(BigInt(cdOffset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(offset), 8);
    locator.writeUInt32LE(1, 16);
    chunks.push(end64, locator);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(zip64 ? 0xffff : entries.length, 8);
  end.writeUInt16LE(zip64 ? 0xffff : entries.length, 10);
  end.writeUInt32LE(zip64 ? 0xffffffff : cdBytes.length, 12);
  end.writeUInt32LE(zip64 ? 0xffffffff : cdOffset, 16);
  end.writeUInt16LE(Buffer.byteLength(comment), 20);
  chunks.push(end, Buffer.from(comment));
  return Buffer.concat(chunks);
}

function u64Extra(values: number[]): Buffer {
  const out = Buffer.alloc(4 + 8 * values.length);
  out.writeUInt16LE(0x0001, 0);
  out.writeUInt16LE(8 * values.length, 2);
  values.forEach((v, i) => out.writeBigUInt64LE(BigInt(v), 4 + 8 * i));
  return out;
}

const A: HostTensor = { dtype: 'float32', dims: [2, 2], data: Float32Array.of(1, -2.5, 3, 0.125) };
const B: HostTensor = { dtype: 'int64', dims: [3], data: BigInt64Array.of(-1n, 2n ** 50n, 7n) };

describe('reading hand-assembled archives', () => {
  const cases: [string, HandEntry[], boolean, string][] = [
    [
      'stored entries',
      [
        { name: 'a.npy', content: encodeNpy(A), method: 0 },
        { name: 'b.npy', content: encodeNpy(B), method: 0 },
      ],
      false,
      '',
    ],
    [
      'deflated entries and a comment',
      [
        { name: 'a.npy', content: encodeNpy(A), method: 8 },
        { name: 'b.npy', content: encodeNpy(B), method: 8 },
      ],
      false,
      'made by hand',
    ],
    [
      'ZIP64 records',
      [
        { name: 'a.npy', content: encodeNpy(A), method: 8 },
        { name: 'b.npy', content: encodeNpy(B), method: 0 },
      ],
      true,
      '',
    ],
  ];
  for (const [label, entries, zip64, comment] of cases) {
    it(label, () => {
      const path = join(dir, `${label.replace(/\W+/g, '-')}.npz`);
      writeFileSync(path, handMadeZip(entries, zip64, comment));
      expect(plainMap(readNpz(path))).toEqual({ a: plain(A), b: plain(B) });
    });
  }

  it('ignores entries that are not .npy arrays', () => {
    const path = join(dir, 'mixed.npz');
    writeFileSync(
      path,
      handMadeZip([
        { name: 'README.txt', content: Buffer.from('hi'), method: 0 },
        { name: 'b.npy', content: encodeNpy(B), method: 0 },
      ]),
    );
    const archive = openNpz(path);
    expect(archive.keys()).toEqual(['b']);
    archive.close();
  });

  it('detects corruption through the CRC', () => {
    const zip = handMadeZip([{ name: 'a.npy', content: encodeNpy(A), method: 0 }]);
    zip[30 + 'a.npy'.length + 130] ^= 0xff; // A data byte of the stored entry.
    const path = join(dir, 'corrupt.npz');
    writeFileSync(path, zip);
    expect(() => readNpz(path)).toThrow(/entry "a\.npy": CRC mismatch/);
  });

  it('reports files that are not archives or are truncated', () => {
    const notZip = join(dir, 'not.npz');
    writeFileSync(notZip, 'just text, no end record');
    expect(() => readNpz(notZip)).toThrow(`${notZip}: not a ZIP/.npz archive`);
    const full = handMadeZip([{ name: 'a.npy', content: encodeNpy(A), method: 0 }]);
    const cut = join(dir, 'cut.npz');
    writeFileSync(cut, full.subarray(full.length - 60));
    expect(() => readNpz(cut)).toThrow(/cut\.npz/);
  });
});

describe('writeNpz / readNpz', () => {
  const arrays = numpyFixtureArrays();

  for (const compress of [false, true]) {
    for (const forceZip64 of [false, true]) {
      it(`round-trips every dtype (compress=${compress}, forceZip64=${forceZip64})`, () => {
        const path = join(dir, `rt-${compress}-${forceZip64}.npz`);
        writeNpz(path, arrays, { compress, forceZip64 });
        expect(plainMap(readNpz(path))).toEqual(plainRecord(arrays));
      });
    }
  }

  it('accepts a Map and keeps its order; keys may contain slashes', () => {
    const path = join(dir, 'map.npz');
    writeNpz(
      path,
      new Map<string, HostTensor>([
        ['z/b', B],
        ['a', A],
      ]),
    );
    expect([...readNpz(path).keys()]).toEqual(['z/b', 'a']);
  });

  it('compresses compressible data and produces identical bytes for identical input', () => {
    const big: HostTensor = { dtype: 'uint8', dims: [100_000], data: new Uint8Array(100_000) };
    const one = join(dir, 'c1.npz');
    const two = join(dir, 'c2.npz');
    writeNpz(one, { big }, { compress: true });
    writeNpz(two, { big }, { compress: true });
    expect(readFileSync(one).length).toBeLessThan(5_000);
    expect(readFileSync(one).equals(readFileSync(two))).toBe(true);
  });

  it('replaces files atomically and keeps the old file when writing fails', () => {
    const path = join(dir, 'atomic.npz');
    writeNpz(path, { a: A });
    writeNpz(path, { b: B });
    expect([...readNpz(path).keys()]).toEqual(['b']);
    const broken = { dtype: 'float32', dims: [3], data: new Float32Array(2) } as HostTensor;
    expect(() => writeNpz(path, { b: B, broken })).toThrow(/array "broken": shape \[3\] needs 3 elements, data has 2/);
    expect([...readNpz(path).keys()]).toEqual(['b']);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('opens lazily and names the missing array and the available ones', () => {
    const path = join(dir, 'lazy.npz');
    writeNpz(path, { a: A, b: B }, { compress: true });
    const archive = openNpz(path);
    expect(archive.keys()).toEqual(['a', 'b']);
    expect(archive.has('b')).toBe(true);
    expect(plain(archive.read('b'))).toEqual(plain(B));
    expect(() => archive.read('c')).toThrow(`${path}: no array "c" (arrays: a, b)`);
    archive.close();
    expect(() => archive.read('a')).toThrow(/archive is closed/);
  });
});

describe('.npz files written by NumPy (test/data/fixtures)', () => {
  for (const file of ['numpy-savez.npz', 'numpy-savez-compressed.npz']) {
    it(`reads ${file}`, () => {
      expect(plainMap(readNpz(join(FIXTURES, file)))).toEqual(plainRecord(numpyFixtureArrays()));
    });
  }
});

describe('crc32', () => {
  it('matches the standard check value and the portable fallback', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) % 251);
    expect(crc32Portable(data)).toBe(crc32(data));
    expect(crc32(data.subarray(400), crc32(data.subarray(0, 400)))).toBe(crc32(data));
    expect(crc32(new Uint8Array(new ArrayBuffer(0)), 123)).toBe(123);
  });
});

describe('writing with onBytes', () => {
  it('sees every byte of the file in order, stored and deflated, with ZIP64 records', () => {
    const dir = mkdtempSync(join(tmpdir(), 'recon-npz-bytes-'));
    try {
      const arrays: Record<string, HostTensor> = {
        a: { dtype: 'float32', dims: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 3) },
        b: { dtype: 'int64', dims: [2], data: BigInt64Array.of(-1n, 7n) },
      };
      for (const options of [{}, { compress: true }, { forceZip64: true }]) {
        const seen: Uint8Array[] = [];
        const path = join(dir, 'x.npz');
        writeNpz(path, arrays, { ...options, onBytes: (bytes) => seen.push(bytes.slice()) });
        expect(Buffer.concat(seen).equals(readFileSync(path)), JSON.stringify(options)).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
