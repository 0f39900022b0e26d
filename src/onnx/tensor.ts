import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import type { onnx } from 'onnx-proto';
import { proto } from './proto.js';
import type { DType, NumericDType, TypedArray, TypedArrayByDType } from './dtype.js';
import { bytesOf, dtypeCode, dtypeFromCode, dtypeSize, viewBytes } from './dtype.js';
import { printable, ReconError } from '../util/errors.js';
import { int64ToBigInt, int64ToNumber } from './long.js';

/** Where a tensor's bytes live outside the model file. */
export interface ExternalLocation {
  /** Absolute path of the data file. */
  path: string;
  offset: number;
  length: number;
  /** The location as written in the model (for messages). */
  location?: string;
  /**
   * Real path (symbolic links resolved) of the folder the file must stay inside; checked again
   * on every read, so a link swapped in after loading cannot point elsewhere.
   */
  root?: string;
}

/** Turns a model's relative external-data location into where to read it. */
export type ExternalResolver = (location: string) => { path: string; root?: string };

// Offsets and lengths are byte counts in a file; beyond 2^53 they are not exact as numbers.
const DECIMAL_BYTE_COUNT = /^[0-9]{1,16}$/;

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
      throw new ReconError(`tensor "${name}": ${data.length} values for shape [${dims.join(',')}]`);
    }
    t.bytes = new Uint8Array(bytesOf(data));
    t.replaced = true;
    return t;
  }

  /** Wraps a decoded proto; `resolveExternal` turns a relative location into an absolute path. */
  static fromProto(p: onnx.ITensorProto, resolveExternal?: ExternalResolver): Tensor {
    const name = p.name ?? '';
    const where = `tensor "${printable(name)}"`;
    const code = p.dataType ?? 0;
    const dtype = dtypeFromCode(code);
    if (!dtype) throw new ReconError(`${where}: unsupported ONNX data type ${code}`);
    const dims = (p.dims ?? []).map((d) => int64ToNumber(d));
    for (const d of dims) {
      if (!Number.isSafeInteger(d) || d < 0 || d > MAX_DIM) throw new ReconError(`${where}: invalid dimension ${d} in shape [${dims.join(',')}]`);
    }
    const t = new Tensor(name, dtype, dims);
    t.original = p;
    const expectedBytes = dtype === 'string' ? undefined : t.numel * dtypeSize(dtype);
    if (expectedBytes !== undefined && !Number.isSafeInteger(expectedBytes)) {
      throw new ReconError(`${where}: shape [${dims.join(',')}] is too large`);
    }
    if (p.dataLocation === proto.TensorProto.DataLocation.EXTERNAL) {
      const entries = new Map((p.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
      const location = entries.get('location');
      if (!location) throw new ReconError(`${where}: external data without a location`);
      const shownLocation = printable(location);
      if (!resolveExternal) {
        throw new ReconError(`${where}: external data "${shownLocation}" but the model was loaded from bytes without a base directory`);
      }
      const offset = byteCount(entries.get('offset') ?? '0', `${where}: external data "${shownLocation}" offset`);
      const lengthText = entries.get('length');
      const length = lengthText !== undefined ? byteCount(lengthText, `${where}: external data "${shownLocation}" length`) : expectedBytes;
      if (length === undefined) throw new ReconError(`${where}: string tensors cannot be stored as external data`);
      if (expectedBytes !== undefined && length !== expectedBytes) {
        throw new ReconError(
          `${where}: external data "${shownLocation}" has length ${length}, but shape [${dims.join(',')}] (${dtype}) needs ${expectedBytes} bytes`,
        );
      }
      let resolved: { path: string; root?: string };
      try {
        resolved = resolveExternal(location);
      } catch (e) {
        if (e instanceof ReconError) throw new ReconError(`${where}: ${e.message}`);
        throw e;
      }
      t.external = { path: resolved.path, offset, length, location, ...(resolved.root !== undefined ? { root: resolved.root } : {}) };
    } else if (expectedBytes !== undefined) {
      checkInlineSize(p, dtype, t.numel, expectedBytes, where);
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
    if (this.dtype === 'string') throw new ReconError(`tensor "${this.name}" holds strings, not bytes`);
    const bytes = this.external ? readExternal(this.name, this.external) : bytesFromProto(this.original!, this.dtype, this.numel);
    this.bytes = bytes;
    return bytes;
  }

  /** Typed view of the elements. */
  data<D extends NumericDType>(dtype?: D): TypedArrayByDType[D] {
    const d = (dtype ?? this.dtype) as D;
    if (d !== this.dtype) throw new ReconError(`tensor "${this.name}" is ${this.dtype}, not ${d}`);
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
    if (this.dtype === 'string') throw new ReconError(`cannot copy string tensor "${this.name}"`);
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

// A dimension beyond 2^40 cannot describe data anyone holds; larger values are corrupt fields.
const MAX_DIM = 2 ** 40;

/** A non-negative integer byte count from an external_data entry ("-8", "NaN", "3.5", "1e3" are refused). */
function byteCount(text: string, what: string): number {
  if (!DECIMAL_BYTE_COUNT.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new ReconError(`${what} must be a non-negative integer, got "${printable(text, 40)}"`);
  }
  return Number(text);
}

/** Inline data must hold exactly the elements of the shape (a short or long field is a corrupt model). */
function checkInlineSize(p: onnx.ITensorProto, dtype: DType, numel: number, expectedBytes: number, where: string): void {
  if (p.rawData && p.rawData.length > 0) {
    if (p.rawData.length !== expectedBytes) {
      throw new ReconError(`${where}: raw_data has ${p.rawData.length} bytes, but its shape and type need ${expectedBytes}`);
    }
    return;
  }
  const perElement = dtype === 'complex64' || dtype === 'complex128' ? 2 : 1;
  const typed = typedValueCount(p, dtype);
  // No data at all is how some writers store an all-default tensor of zero elements.
  if (typed !== numel * perElement && !(typed === 0 && numel === 0)) {
    throw new ReconError(`${where}: holds ${typed} values, but its shape needs ${numel * perElement}`);
  }
}

function typedValueCount(p: onnx.ITensorProto, dtype: DType): number {
  switch (dtype) {
    case 'float32':
    case 'complex64':
      return p.floatData?.length ?? 0;
    case 'float64':
    case 'complex128':
      return p.doubleData?.length ?? 0;
    case 'int64':
      return p.int64Data?.length ?? 0;
    case 'uint64':
    case 'uint32':
      return p.uint64Data?.length ?? 0;
    default:
      return p.int32Data?.length ?? 0;
  }
}

function describeFileType(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * The real path of an external data file, after checking that it exists and, with symbolic links
 * resolved, stays inside the model's folder. Nothing about a file outside (not even its size) is
 * revealed.
 */
function resolveInsideRoot(name: string, loc: ExternalLocation): string {
  const shown = `tensor "${printable(name)}": external data "${printable(loc.location ?? loc.path)}"`;
  let real: string;
  try {
    real = realpathSync(loc.path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ReconError(`tensor "${printable(name)}": external data file not found: ${printable(loc.path)}`);
    throw new ReconError(`${shown}: cannot be read (${code ?? String(e)})`);
  }
  if (loc.root !== undefined) {
    const rel = relative(loc.root, real);
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new ReconError(`${shown} resolves outside the model's folder (through a symbolic link); refusing to read it`);
    }
  }
  return real;
}

/** Size of an external data file after the folder and file-type checks (never opens it: a pipe would block). */
export function externalFileSize(name: string, loc: ExternalLocation): number {
  const real = resolveInsideRoot(name, loc);
  let st: Stats;
  try {
    st = statSync(real);
  } catch (e) {
    throw new ReconError(
      `tensor "${printable(name)}": external data file cannot be read: ${printable(loc.path)} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
  }
  if (!st.isFile()) {
    throw new ReconError(`tensor "${printable(name)}": external data "${printable(loc.location ?? loc.path)}" is ${describeFileType(st)}, not a regular file`);
  }
  return st.size;
}

/** Fails, naming the tensor, when the file is too short for the tensor's offset and length. */
export function checkExternalRange(name: string, loc: ExternalLocation, size: number): void {
  if (loc.offset + loc.length > size) {
    throw new ReconError(
      `tensor "${printable(name)}": external data ${printable(loc.path)} has ${size} bytes, needs offset ${loc.offset} + length ${loc.length}`,
    );
  }
}

function readExternal(name: string, loc: ExternalLocation): Uint8Array {
  const real = resolveInsideRoot(name, loc);
  let fd: number;
  try {
    // Non-blocking, so that a named pipe swapped in after the checks cannot hang the open;
    // no-follow, so that the file cannot be replaced by a link after its path was resolved.
    fd = openSync(real, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
  } catch (e) {
    throw new ReconError(
      `tensor "${printable(name)}": external data file cannot be opened: ${printable(loc.path)} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new ReconError(
        `tensor "${printable(name)}": external data "${printable(loc.location ?? loc.path)}" is ${describeFileType(st)}, not a regular file`,
      );
    }
    checkExternalRange(name, loc, st.size);
    const out = new Uint8Array(loc.length);
    let done = 0;
    while (done < loc.length) {
      const n = readSync(fd, out, done, Math.min(loc.length - done, MAX_READ_CHUNK), loc.offset + done);
      if (n === 0) throw new ReconError(`tensor "${printable(name)}": external data ${printable(loc.path)} ended early (truncated while reading?)`);
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

// Node reads at most 2 GiB per call.
const MAX_READ_CHUNK = 1 << 30;

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
