import { ReconError } from '../util/errors.js';
import { endianness } from 'node:os';
import { BYTES_PER_ELEMENT, constructData, type HostArrayTypes, type HostDtype } from './host-tensor.js';

// Every on-disk format handled here (.npy '<' dtypes, ONNX raw_data) is little-endian; typed arrays
// use host order, so reinterpreting bytes in place is only valid on a little-endian host.
const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Interprets `count` little-endian elements of `dtype` at the start of `bytes`.
 * Returns a view sharing memory with `bytes` when the offset is aligned for the element size;
 * otherwise (typed arrays cannot be unaligned) the bytes are copied first.
 */
export function dataFromLittleEndian<D extends HostDtype>(dtype: D, bytes: Uint8Array, count: number, where: string): HostArrayTypes[D] {
  assertLittleEndianHost(where);
  const itemSize = BYTES_PER_ELEMENT[dtype];
  const byteLength = count * itemSize;
  if (bytes.byteLength < byteLength) {
    throw new ReconError(`${where}: expected ${byteLength} bytes of ${dtype} data, got ${bytes.byteLength}`);
  }
  if (bytes.byteOffset % itemSize === 0) {
    return constructData(dtype, bytes.buffer, bytes.byteOffset, count);
  }
  // Explicit copy: Buffer#slice would return a view, not a copy.
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(0, byteLength));
  return constructData(dtype, copy.buffer, 0, count);
}

/** Throws on a big-endian host, where typed-array bytes could not be written to disk as they are. */
export function assertLittleEndianHost(where: string): void {
  if (!HOST_IS_LITTLE_ENDIAN) {
    throw new ReconError(`${where}: little-endian tensor files need a little-endian host`);
  }
}
