/**
 * NumPy .npz archives: a ZIP file with one `<key>.npy` entry per array (np.savez / np.savez_compressed).
 */
import { checkNameLength, printable, ReconError } from '../util/errors.js';
import type { HostTensor } from './host-tensor.js';
import { npyDataOffset, npyParts, parseNpy, parseNpyHeader } from './npy.js';
import { BYTES_PER_ELEMENT, elementCount, formatDims } from './host-tensor.js';
import { ZipReader, writeZip, type ZipWriteEntry } from './zip.js';

const NPY_SUFFIX = '.npy';

/** Lazily readable archive: listing keys reads only the central directory. */
export interface NpzArchive {
  readonly path: string;
  /** Array names, in archive order (entry names without ".npy"). */
  keys(): string[];
  has(key: string): boolean;
  /** Decodes one array; each call reads the entry from disk again. */
  read(key: string): HostTensor;
  close(): void;
}

export function openNpz(path: string): NpzArchive {
  const zip = ZipReader.open(path);
  const keyToEntry = new Map<string, string>();
  for (const entry of zip.entries) {
    if (!entry.name.endsWith(NPY_SUFFIX)) continue;
    const key = entry.name.slice(0, -NPY_SUFFIX.length);
    checkNameLength(key, `${path}: array`);
    if (keyToEntry.has(key)) throw new ReconError(`${path}: array "${printable(key)}" appears twice`);
    keyToEntry.set(key, entry.name);
  }
  return {
    path,
    keys: () => [...keyToEntry.keys()],
    has: (key) => keyToEntry.has(key),
    read(key: string): HostTensor {
      const entryName = keyToEntry.get(key);
      if (entryName === undefined) {
        throw new ReconError(`${path}: no array "${printable(key)}" (arrays: ${printable([...keyToEntry.keys()].join(', ')) || 'none'})`);
      }
      const where = `${path}: array "${printable(key)}"`;
      checkDeclaredSize(zip, entryName, where);
      return parseNpy(zip.read(entryName), where);
    },
    close: () => zip.close(),
  };
}

/**
 * Before a member is decompressed: its .npy header's shape and dtype fix its size, and the archive
 * must declare exactly that size. The reader never inflates past the declared size, so memory is
 * bounded by what the header says the array holds, not by what a crafted member expands to.
 */
function checkDeclaredSize(zip: ZipReader, entryName: string, where: string): void {
  const declared = zip.entry(entryName)!.uncompressedSize;
  const dataOffset = npyDataOffset(zip.readPrefix(entryName, 12), where);
  const header = parseNpyHeader(zip.readPrefix(entryName, dataOffset), where);
  const needed = header.dataOffset + elementCount(header.dims) * BYTES_PER_ELEMENT[header.dtype];
  if (declared !== needed) {
    throw new ReconError(
      `${where}: the archive declares ${declared} bytes, but the .npy header's shape ${formatDims(header.dims)} (${header.dtype}) needs ${needed}`,
    );
  }
}

/** Reads every array of the archive. */
export function readNpz(path: string): Map<string, HostTensor> {
  const archive = openNpz(path);
  try {
    return new Map(archive.keys().map((key) => [key, archive.read(key)]));
  } finally {
    archive.close();
  }
}

export interface WriteNpzOptions {
  /** Deflate entries like np.savez_compressed (default false, like np.savez). */
  compress?: boolean;
  /** Always write ZIP64 records; only useful to exercise readers. */
  forceZip64?: boolean;
  /** Sees every byte of the file in order as it is written (see ZipWriteOptions.onBytes). */
  onBytes?: (bytes: Uint8Array) => void;
}

/** Writes the arrays atomically (temporary file, then rename), in the record's key order. */
export function writeNpz(path: string, arrays: Readonly<Record<string, HostTensor>> | ReadonlyMap<string, HostTensor>, options: WriteNpzOptions = {}): void {
  const pairs = arrays instanceof Map ? [...arrays.entries()] : Object.entries(arrays);
  for (const [key] of pairs) {
    if (key.length === 0) throw new ReconError(`${path}: array names must not be empty`);
    checkNameLength(key, `${path}: array`);
  }
  function* entries(): Generator<ZipWriteEntry> {
    for (const [key, tensor] of pairs) {
      yield { name: `${key}${NPY_SUFFIX}`, parts: npyParts(tensor, `${path}: array "${key}"`) };
    }
  }
  writeZip(path, entries(), {
    compress: options.compress ?? false,
    forceZip64: options.forceZip64 ?? false,
    ...(options.onBytes ? { onBytes: options.onBytes } : {}),
  });
}
