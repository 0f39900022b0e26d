/** ONNX element types by name, with the numeric codes of `TensorProto.DataType`. */
import { ReconError } from '../util/errors.js';
export const DTYPE_CODES = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  complex64: 14,
  complex128: 15,
  bfloat16: 16,
} as const;

export type DType = keyof typeof DTYPE_CODES;

const CODE_TO_DTYPE = new Map<number, DType>(Object.entries(DTYPE_CODES).map(([name, code]) => [code, name as DType]));

export function dtypeFromCode(code: number): DType | undefined {
  return CODE_TO_DTYPE.get(code);
}

export function dtypeCode(dtype: DType): number {
  return DTYPE_CODES[dtype];
}

/** Bytes per element; 0 for strings (variable length). */
export function dtypeSize(dtype: DType): number {
  switch (dtype) {
    case 'uint8':
    case 'int8':
    case 'bool':
      return 1;
    case 'uint16':
    case 'int16':
    case 'float16':
    case 'bfloat16':
      return 2;
    case 'float32':
    case 'int32':
    case 'uint32':
      return 4;
    case 'float64':
    case 'int64':
    case 'uint64':
    case 'complex64':
      return 8;
    case 'complex128':
      return 16;
    case 'string':
      return 0;
  }
}

export function isFloatDType(dtype: DType | undefined): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

/** The JS typed array that holds a dtype's elements (16-bit floats stay raw as Uint16Array). */
export interface TypedArrayByDType {
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  complex64: Float32Array;
  complex128: Float64Array;
  string: string[];
}

export type NumericDType = Exclude<DType, 'string'>;
export type TypedArray = TypedArrayByDType[NumericDType];

/** A view of little-endian bytes as a typed array; copies when the bytes are not aligned. */
export function viewBytes<D extends NumericDType>(dtype: D, bytes: Uint8Array): TypedArrayByDType[D] {
  const size = dtypeSize(dtype);
  let source = bytes;
  // Buffer.slice() is a view, not a copy: copy through the Uint8Array constructor.
  if (bytes.byteOffset % Math.max(size === 16 ? 8 : size, 1) !== 0) source = new Uint8Array(bytes);
  const n = source.byteLength / (dtype === 'complex64' ? 4 : dtype === 'complex128' ? 8 : size);
  const buf = source.buffer;
  const off = source.byteOffset;
  let view: TypedArray;
  switch (dtype) {
    case 'float32':
    case 'complex64':
      view = new Float32Array(buf, off, n);
      break;
    case 'float64':
    case 'complex128':
      view = new Float64Array(buf, off, n);
      break;
    case 'int8':
      view = new Int8Array(buf, off, n);
      break;
    case 'uint8':
    case 'bool':
      view = new Uint8Array(buf, off, n);
      break;
    case 'int16':
      view = new Int16Array(buf, off, n);
      break;
    case 'uint16':
    case 'float16':
    case 'bfloat16':
      view = new Uint16Array(buf, off, n);
      break;
    case 'int32':
      view = new Int32Array(buf, off, n);
      break;
    case 'uint32':
      view = new Uint32Array(buf, off, n);
      break;
    case 'int64':
      view = new BigInt64Array(buf, off, n);
      break;
    case 'uint64':
      view = new BigUint64Array(buf, off, n);
      break;
    default:
      throw new ReconError(`unsupported dtype ${String(dtype)}`);
  }
  return view as TypedArrayByDType[D];
}

export function bytesOf(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
