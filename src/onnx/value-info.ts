import type { onnx } from 'onnx-proto';
import type { DType } from './dtype.js';
import { dtypeCode, dtypeFromCode } from './dtype.js';
import { int64ToNumber } from './long.js';

/** A dimension: a fixed size, a symbolic name, or unknown. */
export type Dim = number | string | null;

export interface TensorType {
  dtype: DType | undefined;
  /** undefined when the rank is unknown. */
  dims: Dim[] | undefined;
}

/** Element type and shape of a tensor-typed ValueInfoProto (undefined for sequences, maps, ...). */
export function tensorTypeOf(vi: onnx.IValueInfoProto): TensorType | undefined {
  const tt = vi.type?.tensorType;
  if (!tt) return undefined;
  const dtype = dtypeFromCode(tt.elemType ?? 0);
  const dims = tt.shape
    ? (tt.shape.dim ?? []).map((d): Dim => {
        if (d.dimParam) return d.dimParam;
        // Some exporters write -1 for an unknown size; it is no size, so it reads as unknown.
        if (d.dimValue !== null && d.dimValue !== undefined) return int64ToNumber(d.dimValue) === -1 ? null : int64ToNumber(d.dimValue);
        return null;
      })
    : undefined;
  return { dtype, dims };
}

export function makeValueInfo(name: string, dtype: DType, dims: readonly Dim[] | undefined): onnx.IValueInfoProto {
  const tensorType: onnx.TypeProto.ITensor = { elemType: dtypeCode(dtype) };
  if (dims) {
    tensorType.shape = {
      dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})),
    };
  }
  return { name, type: { tensorType } };
}

export function formatDims(dims: readonly Dim[] | undefined): string {
  if (!dims) return '?';
  return `[${dims.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}
