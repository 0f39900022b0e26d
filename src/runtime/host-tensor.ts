import * as ort from 'onnxruntime-node';
import { ReconError } from '../onnx/errors.js';

/** Element types that cross the runtime boundary. */
export type HostDType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';

export interface HostDataByDType {
  float32: Float32Array;
  float64: Float64Array;
  int64: BigInt64Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

/** A dense tensor in host memory: what data files hold and what sessions take and return. */
export type HostTensor = {
  [D in HostDType]: { dtype: D; dims: number[]; data: HostDataByDType[D] };
}[HostDType];

export function hostTensor<D extends HostDType>(dtype: D, dims: number[], data: HostDataByDType[D]): HostTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`tensor of shape [${dims.join(',')}] needs ${n} values, got ${data.length}`);
  return { dtype, dims, data } as HostTensor;
}

export function toOrtTensor(t: HostTensor): ort.Tensor {
  if (t.dtype === 'bool') return new ort.Tensor('bool', t.data, t.dims);
  return new ort.Tensor(t.dtype, t.data, t.dims);
}

export function fromOrtTensor(t: ort.Tensor): HostTensor {
  const dims = t.dims.slice();
  switch (t.type) {
    case 'float32':
      return { dtype: 'float32', dims, data: t.data as Float32Array };
    case 'float64':
      return { dtype: 'float64', dims, data: t.data as Float64Array };
    case 'int64':
      return { dtype: 'int64', dims, data: t.data as BigInt64Array };
    case 'int32':
      return { dtype: 'int32', dims, data: t.data as Int32Array };
    case 'uint8':
      return { dtype: 'uint8', dims, data: t.data as Uint8Array };
    case 'bool':
      return { dtype: 'bool', dims, data: t.data as Uint8Array };
    default:
      throw new ReconError(`unsupported output element type ${t.type}`);
  }
}
