import { ReconError } from '../util/errors.js';
/**
 * Dense, C-ordered arrays held in host memory: the common currency between the data readers
 * (.npy, .npz, ONNX TensorProto directories), the dataset helpers and the runtime.
 */

/** Typed array backing each element type; bool is stored one byte per element (0 or 1). */
export interface HostArrayTypes {
  float32: Float32Array;
  float64: Float64Array;
  int64: BigInt64Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

export type HostDtype = keyof HostArrayTypes;

export type HostData = HostArrayTypes[HostDtype];

/**
 * A tensor of element type D. Distributes over unions, so HostTensorOf<HostDtype> is HostTensor and
 * code holding a dtype only known at run time still gets the discriminated union.
 */
export type HostTensorOf<D extends HostDtype> = D extends HostDtype
  ? {
      dtype: D;
      /** Row-major (C order) shape; [] is a scalar, a 0 anywhere makes the array empty. */
      dims: number[];
      data: HostArrayTypes[D];
    }
  : never;

/** Discriminated on `dtype`, so narrowing the dtype narrows `data` to its typed array. */
export type HostTensor = HostTensorOf<HostDtype>;

export const HOST_DTYPES: readonly HostDtype[] = ['float32', 'float64', 'int64', 'int32', 'uint8', 'bool'];

export const BYTES_PER_ELEMENT: Readonly<Record<HostDtype, number>> = {
  float32: 4,
  float64: 8,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
};

export function isHostDtype(value: string): value is HostDtype {
  return (HOST_DTYPES as readonly string[]).includes(value);
}

/** Number of elements of an array with these dims (1 for a scalar). */
export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** `[128,36,36]`, the notation used in every shape message. */
export function formatDims(dims: readonly (number | string)[]): string {
  return `[${dims.join(',')}]`;
}

/** `[128,36,36] (float32)`. */
export function describeTensor(tensor: HostTensor): string {
  return `${formatDims(tensor.dims)} (${tensor.dtype})`;
}

/** Allocates a zero-filled array of this dtype and element count. */
export function allocData<D extends HostDtype>(dtype: D, length: number): HostArrayTypes[D] {
  return constructData(dtype, new ArrayBuffer(length * BYTES_PER_ELEMENT[dtype]), 0, length);
}

/** A typed-array view of `length` elements of `dtype` over `buffer` starting at `byteOffset`. */
export function constructData<D extends HostDtype>(dtype: D, buffer: ArrayBufferLike, byteOffset: number, length: number): HostArrayTypes[D] {
  const views: { [K in HostDtype]: () => HostArrayTypes[K] } = {
    float32: () => new Float32Array(buffer, byteOffset, length),
    float64: () => new Float64Array(buffer, byteOffset, length),
    int64: () => new BigInt64Array(buffer, byteOffset, length),
    int32: () => new Int32Array(buffer, byteOffset, length),
    uint8: () => new Uint8Array(buffer, byteOffset, length),
    bool: () => new Uint8Array(buffer, byteOffset, length),
  };
  return views[dtype]();
}

/** A zero-filled tensor. */
export function zerosTensor<D extends HostDtype>(dtype: D, dims: readonly number[]): HostTensorOf<D> {
  checkDims(dims, 'zerosTensor');
  return { dtype, dims: [...dims], data: allocData(dtype, elementCount(dims)) } as HostTensorOf<D>;
}

/** Wraps existing data after checking that its length matches the dims. */
export function hostTensor<D extends HostDtype>(dtype: D, dims: readonly number[], data: HostArrayTypes[D]): HostTensorOf<D> {
  checkDims(dims, 'hostTensor');
  const expected = elementCount(dims);
  if (data.length !== expected) {
    throw new ReconError(`hostTensor: shape ${formatDims(dims)} needs ${expected} elements, got ${data.length}`);
  }
  return { dtype, dims: [...dims], data } as HostTensorOf<D>;
}

/** Throws unless every dim is a non-negative safe integer. */
export function checkDims(dims: readonly number[], where: string): void {
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new ReconError(`${where}: invalid shape ${formatDims(dims)} (dims must be non-negative integers)`);
    }
  }
}

/** The raw little-endian bytes of a tensor's data, as a view (no copy). */
export function dataBytes(data: HostData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
