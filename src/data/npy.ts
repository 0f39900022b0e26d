/**
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0), C order, little-endian numeric dtypes.
 * Layout: magic "\x93NUMPY", major, minor, header length (uint16 in 1.0, uint32 in 2.0/3.0), a
 * Python dict literal padded with spaces and a newline, then the raw array bytes.
 */
import { printable, ReconError } from '../util/errors.js';
import { readFileSync } from 'node:fs';
import { writePartsAtomic } from '../util/atomic-write.js';
import { BYTES_PER_ELEMENT, checkDims, dataBytes, elementCount, formatDims, hostTensor, type HostDtype, type HostTensor } from './host-tensor.js';
import { assertLittleEndianHost, dataFromLittleEndian } from './little-endian.js';
import { isPyDict, parsePythonLiteral, type PyValue } from './python-literal.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
// NumPy pads the header so the data starts on a 64-byte boundary; we do the same when writing.
const HEADER_ALIGNMENT = 64;

const DESCR_TO_DTYPE: Readonly<Record<string, HostDtype>> = {
  '<f4': 'float32',
  '<f8': 'float64',
  '<i8': 'int64',
  '<i4': 'int32',
  '|u1': 'uint8',
  '|b1': 'bool',
  // Byte order is meaningless for one-byte types; some writers still put '<' or '='.
  '<u1': 'uint8',
  '=u1': 'uint8',
  '<b1': 'bool',
  '=b1': 'bool',
};

const DTYPE_TO_DESCR: Readonly<Record<HostDtype, string>> = {
  float32: '<f4',
  float64: '<f8',
  int64: '<i8',
  int32: '<i4',
  uint8: '|u1',
  bool: '|b1',
};

export interface NpyHeader {
  version: [number, number];
  dtype: HostDtype;
  dims: number[];
  /** Byte offset of the array data from the start of the file. */
  dataOffset: number;
}

/** Largest .npy header accepted (NumPy writes a few hundred bytes; 2.0 allows up to 4 GiB). */
export const MAX_NPY_HEADER_BYTES = 1 << 20;

/**
 * Where the array data starts (magic, version, header length and header), read from the first
 * 12 bytes of a .npy image, so that a reader can fetch exactly the header before anything else.
 */
export function npyDataOffset(start: Uint8Array, source: string): number {
  if (start.byteLength < 10 || MAGIC.some((b, i) => start[i] !== b)) {
    throw new ReconError(`${source}: not a .npy file (missing \\x93NUMPY magic)`);
  }
  const major = start[6]!;
  const view = new DataView(start.buffer, start.byteOffset, start.byteLength);
  let offset: number;
  if (major === 1) offset = 10 + view.getUint16(8, true);
  else if (major === 2 || major === 3) {
    if (start.byteLength < 12) throw new ReconError(`${source}: truncated .npy header`);
    offset = 12 + view.getUint32(8, true);
  } else {
    throw new ReconError(`${source}: unsupported .npy format version ${major}.${start[7]} (supported: 1.0, 2.0, 3.0)`);
  }
  if (offset > MAX_NPY_HEADER_BYTES) throw new ReconError(`${source}: .npy header of ${offset} bytes is larger than the ${MAX_NPY_HEADER_BYTES} accepted`);
  return offset;
}

/** Parses and validates the header at the start of `bytes`. `source` names the file in errors. */
export function parseNpyHeader(bytes: Uint8Array, source: string): NpyHeader {
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new ReconError(`${source}: not a .npy file (missing \\x93NUMPY magic)`);
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw new ReconError(`${source}: truncated .npy header`);
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else {
    throw new ReconError(`${source}: unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  const dataOffset = headerStart + headerLength;
  if (bytes.byteLength < dataOffset) {
    throw new ReconError(`${source}: truncated .npy header (needs ${dataOffset} bytes, file has ${bytes.byteLength})`);
  }
  // Versions 1.0 and 2.0 store the header as latin1; 3.0 allows UTF-8 (for structured field names).
  const encoding = major === 3 ? 'utf8' : 'latin1';
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + headerStart, headerLength).toString(encoding);
  const { dtype, dims } = interpretHeader(parsePythonLiteral(text, source), source);
  return { version: [major, minor], dtype, dims, dataOffset };
}

function interpretHeader(header: PyValue, source: string): { dtype: HostDtype; dims: number[] } {
  if (!isPyDict(header)) throw new ReconError(`${source}: .npy header is not a dict`);
  const descr = header.entries.get('descr');
  const fortranOrder = header.entries.get('fortran_order');
  const shape = header.entries.get('shape');
  if (descr === undefined || fortranOrder === undefined || shape === undefined) {
    const keys = [...header.entries.keys()].join(', ');
    throw new ReconError(`${source}: .npy header needs keys descr, fortran_order, shape; got ${printable(keys)}`);
  }
  if (typeof descr !== 'string') {
    throw new ReconError(`${source}: structured dtype ${printable(JSON.stringify(descr))} is not supported (plain numeric arrays only)`);
  }
  const dtype = DESCR_TO_DTYPE[descr];
  if (dtype === undefined) {
    const bigEndian = descr.startsWith('>') ? ' (big-endian: convert with arr.astype(arr.dtype.newbyteorder("<")))' : '';
    const supported = Object.keys(DTYPE_TO_DESCR).join(', ');
    throw new ReconError(`${source}: unsupported dtype '${printable(descr, 40)}'${bigEndian}; supported: ${supported}`);
  }
  if (fortranOrder !== false) {
    throw new ReconError(`${source}: fortran_order=True arrays are not supported; save with np.ascontiguousarray(arr)`);
  }
  if (!Array.isArray(shape) || !shape.every((d): d is number => typeof d === 'number')) {
    throw new ReconError(`${source}: .npy shape ${printable(JSON.stringify(shape) ?? String(shape), 100)} is not a tuple of integers`);
  }
  checkDims(shape, source);
  return { dtype, dims: shape };
}

/**
 * Decodes a whole .npy image. The returned data may share memory with `bytes` (it is copied only
 * when misaligned), so callers must not reuse `bytes` while the tensor is alive.
 */
export function parseNpy(bytes: Uint8Array, source = '<npy bytes>'): HostTensor {
  const header = parseNpyHeader(bytes, source);
  const count = elementCount(header.dims);
  const available = bytes.byteLength - header.dataOffset;
  const expected = count * BYTES_PER_ELEMENT[header.dtype];
  if (available !== expected) {
    throw new ReconError(`${source}: shape ${formatDims(header.dims)} (${header.dtype}) needs ${expected} data bytes, file has ${available}`);
  }
  const body = bytes.subarray(header.dataOffset);
  const data = dataFromLittleEndian(header.dtype, body, count, source);
  return hostTensor(header.dtype, header.dims, data);
}

/** The header bytes (magic through padding) for an array of this dtype and shape. */
export function encodeNpyHeader(dtype: HostDtype, dims: readonly number[]): Uint8Array {
  checkDims(dims, 'encodeNpyHeader');
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  const dict = `{'descr': '${DTYPE_TO_DESCR[dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const withNewline = (prefixLength: number): number => prefixLength + dict.length + 1;
  let prefixLength = 10;
  let total = align(withNewline(prefixLength));
  if (total - prefixLength > 0xffff) {
    prefixLength = 12; // Version 2.0 only widens the header-length field.
    total = align(withNewline(prefixLength));
  }
  const headerLength = total - prefixLength;
  const text = `${dict + ' '.repeat(headerLength - dict.length - 1)}\n`;
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  if (prefixLength === 10) {
    out[6] = 1;
    view.setUint16(8, headerLength, true);
  } else {
    out[6] = 2;
    view.setUint32(8, headerLength, true);
  }
  out.set(Buffer.from(text, 'latin1'), prefixLength);
  return out;
}

function align(n: number): number {
  return Math.ceil(n / HEADER_ALIGNMENT) * HEADER_ALIGNMENT;
}

/** Header and data as two buffers (the data part is a view of the tensor, not a copy). */
export function npyParts(tensor: HostTensor, where = 'npy'): [Uint8Array, Uint8Array] {
  assertLittleEndianHost(where);
  const expected = elementCount(tensor.dims);
  if (tensor.data.length !== expected) {
    throw new ReconError(`${where}: shape ${formatDims(tensor.dims)} needs ${expected} elements, data has ${tensor.data.length}`);
  }
  return [encodeNpyHeader(tensor.dtype, tensor.dims), dataBytes(tensor.data)];
}

/** A complete .npy image in one buffer. */
export function encodeNpy(tensor: HostTensor): Uint8Array {
  const [header, body] = npyParts(tensor);
  const out = new Uint8Array(header.byteLength + body.byteLength);
  out.set(header, 0);
  out.set(body, header.byteLength);
  return out;
}

export function readNpy(path: string): HostTensor {
  return parseNpy(readFileSync(path), path);
}

/** Writes atomically (temporary file, then rename). */
export function writeNpy(path: string, tensor: HostTensor): void {
  writePartsAtomic(path, npyParts(tensor, path));
}
