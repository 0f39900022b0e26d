/**
 * Directories of serialized ONNX TensorProto files, one tensor per `<name>.pb` (the layout of the
 * ONNX backend tests' test_data_set_N folders).
 */
import { makeDirectory } from '../util/make-directory.js';
import { checkNameLength, printable, ReconError } from '../util/errors.js';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { onnx } from 'onnx-proto';
import { int64ToBigInt, type LongLike } from '../onnx/long.js';
import { proto as onnxProto } from '../onnx/proto.js';
import { writePartsAtomic } from '../util/atomic-write.js';
import { BYTES_PER_ELEMENT, checkDims, hostTensor, dataBytes, elementCount, formatDims, type HostDtype, type HostTensor } from './host-tensor.js';
import { assertLittleEndianHost, dataFromLittleEndian } from './little-endian.js';

const DataType = onnxProto.TensorProto.DataType;

const ONNX_TO_DTYPE: ReadonlyMap<number, HostDtype> = new Map<number, HostDtype>([
  [DataType.FLOAT, 'float32'],
  [DataType.DOUBLE, 'float64'],
  [DataType.INT64, 'int64'],
  [DataType.INT32, 'int32'],
  [DataType.UINT8, 'uint8'],
  [DataType.BOOL, 'bool'],
]);

const DTYPE_TO_ONNX: Readonly<Record<HostDtype, number>> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  int64: DataType.INT64,
  int32: DataType.INT32,
  uint8: DataType.UINT8,
  bool: DataType.BOOL,
};

function longToNumber(value: number | LongLike, where: string): number {
  const big = int64ToBigInt(value);
  if (big < 0n || big > BigInt(Number.MAX_SAFE_INTEGER)) throw new ReconError(`${where}: invalid dimension ${big}`);
  return Number(big);
}

/** Decodes one serialized TensorProto; `fallbackName` is used when the proto has no name. */
export function decodeTensorProto(bytes: Uint8Array, fallbackName: string, source: string): { name: string; tensor: HostTensor } {
  let proto: onnx.TensorProto;
  try {
    proto = onnxProto.TensorProto.decode(bytes);
  } catch (error) {
    throw new ReconError(`${printable(source)}: not a serialized onnx.TensorProto (${printable((error as Error).message.split('\n')[0] ?? '', 120)})`);
  }
  const name = proto.name !== '' ? proto.name : fallbackName;
  checkNameLength(name, `${printable(source)}: tensor`);
  const where = `${printable(source)}: tensor "${printable(name)}"`;
  if (proto.dataLocation === onnxProto.TensorProto.DataLocation.EXTERNAL) {
    throw new ReconError(`${where} uses external data, which is not supported`);
  }
  if (proto.segment) throw new ReconError(`${where} is a segment of a larger tensor, which is not supported`);
  const dtype = ONNX_TO_DTYPE.get(proto.dataType);
  if (dtype === undefined) {
    const typeName = DataType[proto.dataType as onnx.TensorProto.DataType] ?? String(proto.dataType);
    throw new ReconError(`${where}: unsupported data type ${typeName} (supported: FLOAT, DOUBLE, INT64, INT32, UINT8, BOOL)`);
  }
  const dims = proto.dims.map((d) => longToNumber(d, where));
  return { name, tensor: hostTensor(dtype, dims, decodeData(proto, dtype, dims, where)) };
}

function decodeData(proto: onnx.TensorProto, dtype: HostDtype, dims: number[], where: string): HostTensor['data'] {
  const count = elementCount(dims);
  if (proto.rawData.byteLength > 0) {
    const expectedBytes = count * BYTES_PER_ELEMENT[dtype];
    if (proto.rawData.byteLength !== expectedBytes) {
      throw new ReconError(`${where}: raw_data has ${proto.rawData.byteLength} bytes, shape ${formatDims(dims)} (${dtype}) needs ${expectedBytes}`);
    }
    return dataFromLittleEndian(dtype, proto.rawData, count, where);
  }
  const typed = typedField(proto, dtype);
  if (typed.values.length !== count) {
    throw new ReconError(`${where}: ${typed.field} has ${typed.values.length} values, expected ${count}`);
  }
  switch (dtype) {
    case 'float32':
      return Float32Array.from(typed.values as number[]);
    case 'float64':
      return Float64Array.from(typed.values as number[]);
    case 'int64':
      return BigInt64Array.from(typed.values as (number | LongLike)[], (v) => int64ToBigInt(v));
    case 'int32':
      return Int32Array.from(typed.values as number[]);
    case 'uint8':
      return Uint8Array.from(typed.values as number[]);
    case 'bool':
      return Uint8Array.from(typed.values as number[], (v) => (v ? 1 : 0));
  }
}

/** Which repeated field holds the values of this type when raw_data is absent (per onnx.proto). */
function typedField(proto: onnx.TensorProto, dtype: HostDtype): { field: string; values: readonly (number | LongLike)[] } {
  switch (dtype) {
    case 'float32':
      return { field: 'float_data', values: proto.floatData };
    case 'float64':
      return { field: 'double_data', values: proto.doubleData };
    case 'int64':
      return { field: 'int64_data', values: proto.int64Data };
    default:
      // int32, uint8 and bool values all live in int32_data.
      return { field: 'int32_data', values: proto.int32Data };
  }
}

/** Serializes a tensor as a TensorProto with raw_data (what onnx.numpy_helper.from_array produces). */
export function encodeTensorProto(name: string, tensor: HostTensor): Uint8Array {
  assertLittleEndianHost(`tensor "${name}"`);
  checkDims(tensor.dims, `tensor "${name}"`);
  if (tensor.data.length !== elementCount(tensor.dims)) {
    throw new ReconError(`tensor "${name}": shape ${formatDims(tensor.dims)} needs ${elementCount(tensor.dims)} elements, data has ${tensor.data.length}`);
  }
  const message = onnxProto.TensorProto.create({
    name,
    dims: tensor.dims,
    dataType: DTYPE_TO_ONNX[tensor.dtype],
    rawData: dataBytes(tensor.data),
  });
  return onnxProto.TensorProto.encode(message).finish();
}

/** Reads every `*.pb` file of `dir` (sorted by file name); keys are the tensors' names. */
export function readTensorDir(dir: string): Map<string, HostTensor> {
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((f) => f.isFile() && f.name.endsWith('.pb'))
    .map((f) => f.name)
    .sort();
  const out = new Map<string, HostTensor>();
  const fileOf = new Map<string, string>();
  for (const file of files) {
    const path = join(dir, file);
    const { name, tensor } = decodeTensorProto(readFileSync(path), basename(file, '.pb'), path);
    const previous = fileOf.get(name);
    if (previous !== undefined) {
      throw new ReconError(`${printable(dir)}: tensor name "${printable(name)}" appears in both ${printable(previous)} and ${printable(file)}`);
    }
    fileOf.set(name, file);
    out.set(name, tensor);
  }
  return out;
}

/** File name used for a tensor: characters unsafe in paths become '_' (the proto keeps the real name). */
export function tensorFileName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe === '' || safe.startsWith('.') ? `_${safe}` : safe}.pb`;
}

/** Writes one `<name>.pb` per tensor (each atomically), creating `dir` if needed. */
export function writeTensorDir(dir: string, tensors: Readonly<Record<string, HostTensor>> | ReadonlyMap<string, HostTensor>): void {
  const pairs = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const nameOf = new Map<string, string>();
  for (const [name] of pairs) {
    const file = tensorFileName(name);
    const clash = nameOf.get(file);
    if (clash !== undefined) throw new ReconError(`${dir}: tensors "${clash}" and "${name}" would both be written to ${file}`);
    nameOf.set(file, name);
  }
  makeDirectory(dir);
  for (const [name, tensor] of pairs) {
    writePartsAtomic(join(dir, tensorFileName(name)), [encodeTensorProto(name, tensor)]);
  }
}
