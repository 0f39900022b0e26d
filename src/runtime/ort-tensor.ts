import * as ort from 'onnxruntime-node';
import { ReconError } from '../util/errors.js';
import type { HostTensor } from '../data/host-tensor.js';

export type { HostTensor } from '../data/host-tensor.js';

/** Wraps a host tensor for onnxruntime without copying its data. */
export function toOrtTensor(t: HostTensor): ort.Tensor {
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
