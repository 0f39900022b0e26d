/**
 * Minimal ZIP archive reader and writer (stored and deflate entries, ZIP64), enough for .npz files
 * written by NumPy and by this project. Reading is random access through a file descriptor: the
 * central directory is read once and each entry's bytes are read only when asked for.
 */
import { printable, ReconError } from '../util/errors.js';
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';
import { constants as zlibConstants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { writeAll, writeFileAtomic } from '../util/atomic-write.js';
import { crc32 } from './crc32.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_ZIP64_END = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EXTRA_ID = 0x0001;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_UTF8 = 0x0800;
const END_RECORD_SIZE = 22;
const MAX_COMMENT = 0xffff;
// Single read() calls are limited to just under 2 GiB by Node; larger entries are read in pieces.
const MAX_READ_CHUNK = 1 << 30;
// 1980-01-01 00:00, the earliest DOS date: fixed so that identical inputs give identical archives.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

export interface ZipEntryInfo {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  localHeaderOffset: number;
  flags: number;
}

/** Random-access reader over an archive on disk; call close() when done. */
export class ZipReader {
  private readonly byName: Map<string, ZipEntryInfo>;

  private constructor(
    private fd: number | null,
    readonly path: string,
    readonly entries: readonly ZipEntryInfo[],
  ) {
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  static open(path: string): ZipReader {
    let fd: number;
    try {
      // Non-blocking: opening a named pipe must not wait for a writer (it is refused just below).
      fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (error) {
      throw new ReconError(`${path}: cannot open archive (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
    try {
      if (!fstatSync(fd).isFile()) throw new ReconError(`${path}: not a regular file`);
      return new ZipReader(fd, path, readCentralDirectory(fd, path));
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  entry(name: string): ZipEntryInfo | undefined {
    return this.byName.get(name);
  }

  /** The uncompressed bytes of one entry, CRC-checked; never more than the entry declares. */
  read(name: string): Buffer {
    const { entry, where, stored } = this.compressedBytes(name, undefined);
    let data: Buffer;
    if (entry.method === METHOD_STORED) {
      data = stored;
    } else {
      // Inflation stops at the declared size: a member that inflates further is refused before
      // it can take more memory than the archive said it needs.
      data = inflate(stored, entry.uncompressedSize, where);
    }
    if (data.byteLength !== entry.uncompressedSize) {
      throw new ReconError(`${where}: expected ${entry.uncompressedSize} bytes after decompression, got ${data.byteLength}`);
    }
    const actualCrc = crc32(data);
    if (actualCrc !== entry.crc32) {
      throw new ReconError(`${where}: CRC mismatch (expected ${hex(entry.crc32)}, got ${hex(actualCrc)}); the file is corrupt`);
    }
    return data;
  }

  /**
   * Up to `maxBytes` leading uncompressed bytes of an entry (fewer when the entry is shorter), read
   * without decompressing the rest: enough to check a header before the whole entry is allocated.
   */
  readPrefix(name: string, maxBytes: number): Buffer {
    const entry = this.byName.get(name);
    if (!entry) throw new ReconError(`${this.path}: no entry named "${printable(name)}"`);
    if (entry.method === METHOD_STORED) return this.compressedBytes(name, Math.min(maxBytes, entry.compressedSize)).stored;
    // Inflate growing compressed prefixes (without requiring the stream's end) until the output
    // covers maxBytes. Each attempt's output is capped, so a prefix that expands enormously (up
    // to ~1032:1 for deflate) is retried shorter instead of being allocated.
    const cap = maxBytes + PREFIX_SLACK;
    let low = 0;
    let length = Math.min(entry.compressedSize, Math.max(4096, maxBytes));
    for (let attempt = 0; attempt < 64; attempt++) {
      const { where, stored } = this.compressedBytes(name, length);
      let out: Buffer | undefined;
      try {
        out = inflateRawSync(stored, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: cap });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw new ReconError(`${where}: corrupt compressed data (${zlibReason(error)})`);
      }
      if (out === undefined) {
        if (length - low <= 1) break;
        length = low + Math.floor((length - low) / 2);
        continue;
      }
      if (out.byteLength >= maxBytes || length === entry.compressedSize) return out.subarray(0, Math.min(maxBytes, out.byteLength));
      low = length;
      length = Math.min(entry.compressedSize, length * 4);
    }
    throw new ReconError(`${this.path}: entry "${printable(name)}": its first ${maxBytes} bytes cannot be decompressed within ${cap} bytes of memory`);
  }

  private compressedBytes(name: string, limit: number | undefined): { entry: ZipEntryInfo; where: string; stored: Buffer } {
    const entry = this.byName.get(name);
    if (!entry) throw new ReconError(`${this.path}: no entry named "${printable(name)}"`);
    const fd = this.descriptor();
    const where = `${this.path}: entry "${printable(name)}"`;
    if (entry.flags & FLAG_ENCRYPTED) throw new ReconError(`${where} is encrypted, which is not supported`);
    if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATE) {
      throw new ReconError(`${where}: unsupported compression method ${entry.method} (only stored and deflate)`);
    }
    const fileSize = fstatSync(fd).size;
    if (entry.localHeaderOffset + 30 > fileSize) throw new ReconError(`${where}: local header beyond the end of the file (truncated archive?)`);
    const local = readAt(fd, entry.localHeaderOffset, 30, this.path);
    if (local.readUInt32LE(0) !== SIG_LOCAL) throw new ReconError(`${where}: bad local header signature`);
    const dataStart = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    // Checked before allocating: a corrupt size field must not become a huge buffer.
    if (dataStart + entry.compressedSize > fileSize) {
      throw new ReconError(`${where}: declares ${entry.compressedSize} compressed bytes, beyond the end of the file (truncated archive?)`);
    }
    if (entry.method === METHOD_STORED && entry.compressedSize !== entry.uncompressedSize) {
      throw new ReconError(`${where}: stored entry with different compressed (${entry.compressedSize}) and uncompressed (${entry.uncompressedSize}) sizes`);
    }
    const stored = readAt(fd, dataStart, limit ?? entry.compressedSize, this.path);
    return { entry, where, stored };
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private descriptor(): number {
    if (this.fd === null) throw new ReconError(`${this.path}: archive is closed`);
    return this.fd;
  }
}

// Extra output allowed while inflating a prefix (a prefix rarely ends exactly at maxBytes).
const PREFIX_SLACK = 16 * 1024 * 1024;

// Output buffers grow in chunks of at most this size, so a declared size is not allocated up front.
const MAX_INFLATE_CHUNK = 64 * 1024 * 1024;

function inflate(compressed: Buffer, declaredSize: number, where: string): Buffer {
  try {
    return inflateRawSync(compressed, {
      chunkSize: Math.min(Math.max(declaredSize + 1024, 16 * 1024), MAX_INFLATE_CHUNK),
      // One byte more than declared, so that a longer member is told apart from an exact one.
      maxOutputLength: Math.max(declaredSize + 1, 1),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ReconError(`${where}: inflates beyond its declared ${declaredSize} bytes; the archive is corrupt or hostile`);
    }
    throw new ReconError(`${where}: corrupt compressed data (${zlibReason(error)})`);
  }
}

function zlibReason(error: unknown): string {
  return printable(((error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '').trim(), 120);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function readAt(fd: number, position: number, length: number, path: string): Buffer {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, Math.min(MAX_READ_CHUNK, length - done), position + done);
    if (n === 0) throw new ReconError(`${path}: unexpected end of file at byte ${position + done} (truncated archive?)`);
    done += n;
  }
  return out;
}

function readU64(buffer: Buffer, offset: number, path: string): number {
  const value = buffer.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ReconError(`${path}: ZIP64 field ${value} is too large`);
  return Number(value);
}

interface Directory {
  count: number;
  size: number;
  offset: number;
}

function readCentralDirectory(fd: number, path: string): ZipEntryInfo[] {
  const fileSize = fstatSync(fd).size;
  const tailLength = Math.min(fileSize, END_RECORD_SIZE + MAX_COMMENT);
  const tailStart = fileSize - tailLength;
  const tail = readAt(fd, tailStart, tailLength, path);
  let endPos = -1;
  for (let i = tailLength - END_RECORD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_END && i + END_RECORD_SIZE + tail.readUInt16LE(i + 20) === tailLength) {
      endPos = i;
      break;
    }
  }
  if (endPos < 0) throw new ReconError(`${path}: not a ZIP/.npz archive (no end-of-central-directory record)`);
  let directory: Directory = {
    count: tail.readUInt16LE(endPos + 10),
    size: tail.readUInt32LE(endPos + 12),
    offset: tail.readUInt32LE(endPos + 16),
  };
  const locatorPos = tailStart + endPos - 20;
  if (locatorPos >= 0) {
    const locator = readAt(fd, locatorPos, 20, path);
    if (locator.readUInt32LE(0) === SIG_ZIP64_LOCATOR) {
      directory = readZip64End(fd, readU64(locator, 8, path), path);
    }
  }
  if (directory.offset + directory.size > fileSize) {
    throw new ReconError(`${path}: central directory (${directory.size} bytes at ${directory.offset}) extends beyond the end of the file (truncated archive?)`);
  }
  const central = readAt(fd, directory.offset, directory.size, path);
  const entries: ZipEntryInfo[] = [];
  let pos = 0;
  for (let i = 0; i < directory.count; i++) {
    if (pos + 46 > central.byteLength || central.readUInt32LE(pos) !== SIG_CENTRAL) {
      throw new ReconError(`${path}: corrupt central directory at entry ${i}`);
    }
    const flags = central.readUInt16LE(pos + 8);
    const nameLength = central.readUInt16LE(pos + 28);
    const extraLength = central.readUInt16LE(pos + 30);
    const commentLength = central.readUInt16LE(pos + 32);
    // Names without the UTF-8 flag are nominally CP437; NumPy only writes ASCII there, read as UTF-8.
    const name = central.toString('utf8', pos + 46, pos + 46 + nameLength);
    const extra = central.subarray(pos + 46 + nameLength, pos + 46 + nameLength + extraLength);
    const entry: ZipEntryInfo = {
      name,
      flags,
      method: central.readUInt16LE(pos + 10),
      crc32: central.readUInt32LE(pos + 16),
      compressedSize: central.readUInt32LE(pos + 20),
      uncompressedSize: central.readUInt32LE(pos + 24),
      localHeaderOffset: central.readUInt32LE(pos + 42),
    };
    applyZip64Extra(entry, extra, path);
    entries.push(entry);
    pos += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function readZip64End(fd: number, offset: number, path: string): Directory {
  if (offset + 56 > fstatSync(fd).size) throw new ReconError(`${path}: ZIP64 end-of-central-directory record beyond the end of the file`);
  const record = readAt(fd, offset, 56, path);
  if (record.readUInt32LE(0) !== SIG_ZIP64_END) throw new ReconError(`${path}: bad ZIP64 end-of-central-directory record`);
  return {
    count: readU64(record, 32, path),
    size: readU64(record, 40, path),
    offset: readU64(record, 48, path),
  };
}

/** ZIP64 extra field: 8-byte values for exactly those 4-byte fields that are saturated, in this order. */
function applyZip64Extra(entry: ZipEntryInfo, extra: Buffer, path: string): void {
  let pos = 0;
  while (pos + 4 <= extra.byteLength) {
    const id = extra.readUInt16LE(pos);
    const size = extra.readUInt16LE(pos + 2);
    if (id === ZIP64_EXTRA_ID) {
      let field = pos + 4;
      const end = field + size;
      const take = (): number => {
        if (field + 8 > end || field + 8 > extra.byteLength) throw new ReconError(`${path}: entry "${printable(entry.name)}": truncated ZIP64 extra field`);
        const value = readU64(extra, field, path);
        field += 8;
        return value;
      };
      if (entry.uncompressedSize === U32_MAX) entry.uncompressedSize = take();
      if (entry.compressedSize === U32_MAX) entry.compressedSize = take();
      if (entry.localHeaderOffset === U32_MAX) entry.localHeaderOffset = take();
      return;
    }
    pos += 4 + size;
  }
}

export interface ZipWriteEntry {
  name: string;
  /** The entry's bytes as consecutive parts (written without joining them when stored). */
  parts: readonly Uint8Array[];
}

export interface ZipWriteOptions {
  /** Deflate entries (each is stored instead when deflate would not make it smaller). */
  compress?: boolean;
  /** Write ZIP64 records even when no size or offset needs them (for testing readers). */
  forceZip64?: boolean;
  /** Sees every byte of the archive in file order as it is written (e.g. to hash it without reading it back). */
  onBytes?: (bytes: Uint8Array) => void;
}

interface CentralRecord {
  name: Buffer;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  offset: number;
}

/**
 * Writes the archive atomically. Entries are consumed one at a time, so only one entry's
 * compressed bytes are held in memory at once.
 */
export function writeZip(path: string, entries: Iterable<ZipWriteEntry>, options: ZipWriteOptions = {}): void {
  const forceZip64 = options.forceZip64 ?? false;
  writeFileAtomic(path, (fd) => {
    let position = 0;
    const emit = (bytes: Uint8Array): void => {
      writeAll(fd, bytes);
      options.onBytes?.(bytes);
      position += bytes.byteLength;
    };
    const records: CentralRecord[] = [];
    for (const entry of entries) {
      const uncompressedSize = entry.parts.reduce((sum, p) => sum + p.byteLength, 0);
      let crc = 0;
      for (const part of entry.parts) crc = crc32(part, crc);
      let method = METHOD_STORED;
      let body: readonly Uint8Array[] = entry.parts;
      if (options.compress) {
        const deflated = deflateRawSync(Buffer.concat(entry.parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
        if (deflated.byteLength < uncompressedSize) {
          method = METHOD_DEFLATE;
          body = [deflated];
        }
      }
      const compressedSize = body.reduce((sum, p) => sum + p.byteLength, 0);
      const name = Buffer.from(entry.name, 'utf8');
      if (name.byteLength > U16_MAX) throw new ReconError(`${path}: entry name of ${name.byteLength} bytes is longer than ZIP allows (${U16_MAX})`);
      const flags = /^[\x20-\x7e]*$/.test(entry.name) ? 0 : FLAG_UTF8;
      const record: CentralRecord = { name, flags, method, crc, compressedSize, uncompressedSize, offset: position };
      emit(localHeader(record, forceZip64));
      for (const part of body) emit(part);
      records.push(record);
    }
    const directoryOffset = position;
    for (const record of records) emit(centralHeader(record, forceZip64));
    const directorySize = position - directoryOffset;
    const needZip64 = forceZip64 || records.length >= U16_MAX || directoryOffset >= U32_MAX || directorySize >= U32_MAX;
    if (needZip64) {
      const zip64EndOffset = position;
      emit(zip64End(records.length, directorySize, directoryOffset));
      emit(zip64Locator(zip64EndOffset));
    }
    emit(endRecord(records.length, directorySize, directoryOffset, needZip64));
  });
}

function needsZip64Sizes(record: CentralRecord, force: boolean): boolean {
  return force || record.uncompressedSize >= U32_MAX || record.compressedSize >= U32_MAX;
}

function localHeader(record: CentralRecord, force: boolean): Buffer {
  const zip64 = needsZip64Sizes(record, force);
  const extraLength = zip64 ? 20 : 0;
  const out = Buffer.alloc(30 + record.name.byteLength + extraLength);
  out.writeUInt32LE(SIG_LOCAL, 0);
  out.writeUInt16LE(zip64 ? 45 : 20, 4);
  out.writeUInt16LE(record.flags, 6);
  out.writeUInt16LE(record.method, 8);
  out.writeUInt16LE(DOS_TIME, 10);
  out.writeUInt16LE(DOS_DATE, 12);
  out.writeUInt32LE(record.crc, 14);
  out.writeUInt32LE(zip64 ? U32_MAX : record.compressedSize, 18);
  out.writeUInt32LE(zip64 ? U32_MAX : record.uncompressedSize, 22);
  out.writeUInt16LE(record.name.byteLength, 26);
  out.writeUInt16LE(extraLength, 28);
  record.name.copy(out, 30);
  if (zip64) {
    const extra = 30 + record.name.byteLength;
    out.writeUInt16LE(ZIP64_EXTRA_ID, extra);
    out.writeUInt16LE(16, extra + 2);
    out.writeBigUInt64LE(BigInt(record.uncompressedSize), extra + 4);
    out.writeBigUInt64LE(BigInt(record.compressedSize), extra + 12);
  }
  return out;
}

function centralHeader(record: CentralRecord, force: boolean): Buffer {
  const sizes64 = needsZip64Sizes(record, force);
  const offset64 = force || record.offset >= U32_MAX;
  const fields64 = [...(sizes64 ? [record.uncompressedSize, record.compressedSize] : []), ...(offset64 ? [record.offset] : [])];
  const extraLength = fields64.length > 0 ? 4 + 8 * fields64.length : 0;
  const out = Buffer.alloc(46 + record.name.byteLength + extraLength);
  const version = fields64.length > 0 ? 45 : 20;
  out.writeUInt32LE(SIG_CENTRAL, 0);
  out.writeUInt16LE(version, 4);
  out.writeUInt16LE(version, 6);
  out.writeUInt16LE(record.flags, 8);
  out.writeUInt16LE(record.method, 10);
  out.writeUInt16LE(DOS_TIME, 12);
  out.writeUInt16LE(DOS_DATE, 14);
  out.writeUInt32LE(record.crc, 16);
  out.writeUInt32LE(sizes64 ? U32_MAX : record.compressedSize, 20);
  out.writeUInt32LE(sizes64 ? U32_MAX : record.uncompressedSize, 24);
  out.writeUInt16LE(record.name.byteLength, 28);
  out.writeUInt16LE(extraLength, 30);
  // Comment length, disk number, internal and external attributes stay zero.
  out.writeUInt32LE(offset64 ? U32_MAX : record.offset, 42);
  record.name.copy(out, 46);
  if (extraLength > 0) {
    let pos = 46 + record.name.byteLength;
    out.writeUInt16LE(ZIP64_EXTRA_ID, pos);
    out.writeUInt16LE(8 * fields64.length, pos + 2);
    pos += 4;
    for (const value of fields64) {
      out.writeBigUInt64LE(BigInt(value), pos);
      pos += 8;
    }
  }
  return out;
}

function zip64End(count: number, size: number, offset: number): Buffer {
  const out = Buffer.alloc(56);
  out.writeUInt32LE(SIG_ZIP64_END, 0);
  out.writeBigUInt64LE(44n, 4); // Size of the rest of this record.
  out.writeUInt16LE(45, 12);
  out.writeUInt16LE(45, 14);
  out.writeBigUInt64LE(BigInt(count), 24);
  out.writeBigUInt64LE(BigInt(count), 32);
  out.writeBigUInt64LE(BigInt(size), 40);
  out.writeBigUInt64LE(BigInt(offset), 48);
  return out;
}

function zip64Locator(zip64EndOffset: number): Buffer {
  const out = Buffer.alloc(20);
  out.writeUInt32LE(SIG_ZIP64_LOCATOR, 0);
  out.writeBigUInt64LE(BigInt(zip64EndOffset), 8);
  out.writeUInt32LE(1, 16);
  return out;
}

function endRecord(count: number, size: number, offset: number, zip64: boolean): Buffer {
  const out = Buffer.alloc(END_RECORD_SIZE);
  out.writeUInt32LE(SIG_END, 0);
  out.writeUInt16LE(zip64 ? U16_MAX : count, 8);
  out.writeUInt16LE(zip64 ? U16_MAX : count, 10);
  out.writeUInt32LE(zip64 ? U32_MAX : size, 12);
  out.writeUInt32LE(zip64 ? U32_MAX : offset, 16);
  return out;
}
