import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { onnx } from 'onnx-proto';
import { proto } from './proto.js';
import type { DType, NumericDType, TypedArray, TypedArrayByDType } from './dtype.js';
import { bytesOf, dtypeCode, dtypeFromCode, dtypeSize, viewBytes } from './dtype.js';
import { ReconError } from '../util/errors.js';
import { int64ToBigInt, int64ToNumber } from './long.js';

/** Where a tensor's bytes live outside the model file. */
export interface ExternalLocation {
  /** Absolute path of the data file. */
  path: string;
  offset: number;
  length: number;
}

/**
 * A constant tensor of the graph (an initializer or a Constant's value). Holds either decoded
 * bytes or a lazy reference to an external data file; keeps its original proto so an untouched
 * tensor is written back exactly as it was read.
 */
export class Tensor {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly number[];
  /** Set while the bytes are still in an external file and have not been read. */
  private external: ExternalLocation | undefined;
  private bytes: Uint8Array | undefined;
  private original: onnx.ITensorProto | undefined;
  private stringValues: string[] | undefined;
  /** Set when the bytes did not come from `original` (so the proto must be rebuilt). */
  private replaced = false;

  private constructor(name: string, dtype: DType, dims: readonly number[]) {
    this.name = name;
    this.dtype = dtype;
    this.dims = dims;
  }

  static fromArray<D extends NumericDType>(name: string, dtype: D, dims: readonly number[], data: TypedArrayByDType[D]): Tensor {
    const t = new Tensor(name, dtype, [...dims]);
    const expected = dims.reduce((a, b) => a * b, 1);
    const perElement = dtype === 'complex64' || dtype === 'complex128' ? 2 : 1;
    if (data.length !== expected * perElement) {
      throw new Error(`tensor "${name}": ${data.length} values for shape [${dims.join(',')}]`);
    }
    t.bytes = new Uint8Array(bytesOf(data));
    t.replaced = true;
    return t;
  }

  /** Wraps a decoded proto; `resolveExternal` turns a relative location into an absolute path. */
  static fromProto(p: onnx.ITensorProto, resolveExternal?: (location: string) => string): Tensor {
    const name = p.name ?? '';
    const code = p.dataType ?? 0;
    const dtype = dtypeFromCode(code);
    if (!dtype) throw new ReconError(`tensor "${name}": unsupported ONNX data type ${code}`);
    const dims = (p.dims ?? []).map((d) => int64ToNumber(d));
    const t = new Tensor(name, dtype, dims);
    t.original = p;
    if (p.dataLocation === proto.TensorProto.DataLocation.EXTERNAL) {
      const entries = new Map((p.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
      const location = entries.get('location');
      if (!location) throw new ReconError(`tensor "${name}": external data without a location`);
      if (!resolveExternal) {
        throw new ReconError(`tensor "${name}": external data "${location}" but the model was loaded from bytes without a base directory`);
      }
      const offset = Number(entries.get('offset') ?? '0');
      const lengthText = entries.get('length');
      const length = lengthText !== undefined ? Number(lengthText) : t.numel * dtypeSize(dtype);
      t.external = { path: resolveExternal(location), offset, length };
    }
    return t;
  }

  get numel(): number {
    return this.dims.reduce((a, b) => a * b, 1);
  }

  get byteLength(): number {
    if (this.external) return this.external.length;
    if (this.dtype === 'string') return this.strings().reduce((n, s) => n + s.length, 0);
    return this.numel * dtypeSize(this.dtype);
  }

  /** The external file this tensor is still read from, if any. */
  get externalSource(): ExternalLocation | undefined {
    return this.external;
  }

  /** True when the tensor came from a proto and neither its data nor its identity changed. */
  get isPristine(): boolean {
    return this.original !== undefined && !this.replaced;
  }

  /** Little-endian bytes of the elements (reads external data on first use). */
  rawBytes(): Uint8Array {
    if (this.bytes) return this.bytes;
    if (this.dtype === 'string') throw new Error(`tensor "${this.name}" holds strings, not bytes`);
    const bytes = this.external ? readExternal(this.name, this.external) : bytesFromProto(this.original!, this.dtype, this.numel);
    this.bytes = bytes;
    return bytes;
  }

  /** Typed view of the elements. */
  data<D extends NumericDType>(dtype?: D): TypedArrayByDType[D] {
    const d = (dtype ?? this.dtype) as D;
    if (d !== this.dtype) throw new Error(`tensor "${this.name}" is ${this.dtype}, not ${d}`);
    return viewBytes(d, this.rawBytes());
  }

  /** Elements as JS numbers (int64 converted; for shape tensors and attributes). */
  toNumbers(): number[] {
    const data = this.data(this.dtype as NumericDType) as TypedArray;
    return Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
  }

  strings(): string[] {
    if (this.stringValues) return this.stringValues;
    const dec = new TextDecoder();
    this.stringValues = (this.original?.stringData ?? []).map((s) => dec.decode(s));
    return this.stringValues;
  }

  /** A copy with another name (same bytes, no shared proto). */
  renamed(name: string): Tensor {
    if (this.dtype === 'string') throw new Error(`cannot copy string tensor "${this.name}"`);
    return Tensor.fromArray(name, this.dtype, this.dims, this.data(this.dtype) as TypedArrayByDType[typeof this.dtype]);
  }

  /**
   * The proto to serialise. `placement` decides where the bytes go: inline, or at an offset in
   * an external file (location relative to the model's folder).
   */
  toProto(placement?: { location: string; offset: number }): onnx.ITensorProto {
    if (!placement && this.isPristine && !this.external) return this.original!;
    const base = this.original;
    const out: onnx.ITensorProto = {
      name: this.name,
      dims: this.dims.slice(),
      dataType: dtypeCode(this.dtype),
    };
    if (base?.docString) out.docString = base.docString;
    if (this.dtype === 'string') {
      out.stringData = base?.stringData ?? [];
      return out;
    }
    if (placement) {
      out.dataLocation = proto.TensorProto.DataLocation.EXTERNAL;
      out.externalData = [
        { key: 'location', value: placement.location },
        { key: 'offset', value: String(placement.offset) },
        { key: 'length', value: String(this.byteLength) },
      ];
    } else {
      out.rawData = this.rawBytes();
    }
    return out;
  }
}

function readExternal(name: string, loc: ExternalLocation): Uint8Array {
  let fd: number;
  try {
    fd = openSync(loc.path, 'r');
  } catch {
    throw new ReconError(`tensor "${name}": external data file not found: ${loc.path}`);
  }
  try {
    const size = fstatSync(fd).size;
    if (loc.offset + loc.length > size) {
      throw new ReconError(`tensor "${name}": external data ${loc.path} has ${size} bytes, needs offset ${loc.offset} + length ${loc.length}`);
    }
    const out = new Uint8Array(loc.length);
    let done = 0;
    while (done < loc.length) {
      const n = readSync(fd, out, done, loc.length - done, loc.offset + done);
      if (n === 0) break;
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

function bytesFromProto(p: onnx.ITensorProto, dtype: DType, numel: number): Uint8Array {
  if (p.rawData && p.rawData.length > 0) return p.rawData;
  const size = dtypeSize(dtype);
  const out = new Uint8Array(numel * size);
  const view = new DataView(out.buffer);
  switch (dtype) {
    case 'float32':
    case 'complex64': {
      const src = p.floatData ?? [];
      for (let i = 0; i < src.length; i++) view.setFloat32(i * 4, src[i]!, true);
      return new Uint8Array(out.buffer, 0, src.length * 4);
    }
    case 'float64':
    case 'complex128': {
      const src = p.doubleData ?? [];
      for (let i = 0; i < src.length; i++) view.setFloat64(i * 8, src[i]!, true);
      return new Uint8Array(out.buffer, 0, src.length * 8);
    }
    case 'int64': {
      const src = p.int64Data ?? [];
      for (let i = 0; i < src.length; i++) view.setBigInt64(i * 8, int64ToBigInt(src[i]), true);
      return out;
    }
    case 'uint64':
    case 'uint32': {
      const src = p.uint64Data ?? [];
      for (let i = 0; i < src.length; i++) {
        if (dtype === 'uint64') view.setBigUint64(i * 8, BigInt.asUintN(64, int64ToBigInt(src[i])), true);
        else view.setUint32(i * 4, Number(int64ToBigInt(src[i])), true);
      }
      return out;
    }
    default: {
      // int32_data carries every element type of 32 bits or less (int8/16/32, uint8/16, bool, float16).
      const src = p.int32Data ?? [];
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (size === 1) view.setUint8(i, v & 0xff);
        else if (size === 2) view.setUint16(i * 2, v & 0xffff, true);
        else view.setInt32(i * 4, v, true);
      }
      return out;
    }
  }
}
