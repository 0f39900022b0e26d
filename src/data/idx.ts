/**
 * IDX files (the MNIST distribution format): big-endian header with magic 0x0000 TT NN (TT = element
 * type, NN = number of dims), NN big-endian uint32 dims, then the elements. Only unsigned bytes
 * (TT = 0x08), the type MNIST uses, are supported.
 */
import { ReconError } from '../util/errors.js';
import { elementCount, formatDims, type HostTensorOf } from './host-tensor.js';

const TYPE_UBYTE = 0x08;

export function parseIdxUint8(bytes: Uint8Array, source: string): HostTensorOf<'uint8'> {
  if (bytes.byteLength < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new ReconError(`${source}: not an IDX file (bad magic number)`);
  }
  if (bytes[2] !== TYPE_UBYTE) {
    throw new ReconError(`${source}: IDX element type 0x${bytes[2]!.toString(16)} is not supported (only unsigned bytes, 0x08)`);
  }
  const rank = bytes[3]!;
  const headerLength = 4 + 4 * rank;
  if (bytes.byteLength < headerLength) throw new ReconError(`${source}: truncated IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = elementCount(dims);
  if (bytes.byteLength - headerLength !== count) {
    throw new ReconError(`${source}: IDX shape ${formatDims(dims)} needs ${count} bytes of data, file has ${bytes.byteLength - headerLength}`);
  }
  return { dtype: 'uint8', dims, data: bytes.subarray(headerLength) };
}
