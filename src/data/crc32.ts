import * as zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, previous: number) => number;

// zlib.crc32 is native but only exists from Node 20.15 / 22.2; older runtimes use the table version.
const nativeCrc32 = (zlib as { crc32?: Crc32 }).crc32;

let table: Uint32Array | null = null;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

function portableCrc32(data: Uint8Array, previous: number): number {
  const t = crcTable();
  let c = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 (ZIP / PNG polynomial) of `data`, continuing from the CRC of preceding bytes. */
export function crc32(data: Uint8Array, previous = 0): number {
  // Node's zlib.crc32 returns 0, not `previous`, for a view over a zero-length ArrayBuffer.
  if (data.byteLength === 0) return previous >>> 0;
  return (nativeCrc32 ? nativeCrc32(data, previous) : portableCrc32(data, previous)) >>> 0;
}

/** Exposed so tests can check the fallback against the native implementation. */
export const crc32Portable = (data: Uint8Array, previous = 0): number => portableCrc32(data, previous);
