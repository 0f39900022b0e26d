/**
 * Conversion of stored arrays to the element type a model input expects.
 */
import { ReconError } from '../util/errors.js';
import { describeTensor, type HostDtype, type HostTensor, type HostTensorOf } from './host-tensor.js';

/**
 * Returns `tensor` as `target`; the same object when it already has that dtype. Allowed conversions:
 * - float64 → float32 (rounding), int32 → int64, uint8 → int64 (labels stored as bytes);
 * - uint8 → float32 scales by 1/255: byte arrays that feed a float input are images, and the
 *   models here expect intensities in [0, 1] (as torchvision's ToTensor produces);
 * - bool → float32 as 0/1.
 * Anything else is refused with an error naming the array, rather than guessing a scale.
 */
export function toModelDtype<D extends HostDtype>(tensor: HostTensor, target: D, name: string): HostTensorOf<D> {
  if (tensor.dtype === target) return tensor as HostTensorOf<D>;
  const converted = convert(tensor, target);
  if (converted === null) {
    throw new ReconError(
      `array "${name}": cannot convert ${describeTensor(tensor)} to ${target} (supported: float64→float32, uint8→float32 (÷255), bool→float32, int32→int64, uint8→int64)`,
    );
  }
  return converted as HostTensorOf<D>;
}

function convert(tensor: HostTensor, target: HostDtype): HostTensor | null {
  const dims = [...tensor.dims];
  if (target === 'float32') {
    if (tensor.dtype === 'float64') return { dtype: 'float32', dims, data: Float32Array.from(tensor.data) };
    if (tensor.dtype === 'uint8') {
      const out = new Float32Array(tensor.data.length);
      for (let i = 0; i < out.length; i++) out[i] = tensor.data[i]! / 255;
      return { dtype: 'float32', dims, data: out };
    }
    if (tensor.dtype === 'bool') {
      const out = new Float32Array(tensor.data.length);
      for (let i = 0; i < out.length; i++) out[i] = tensor.data[i]! !== 0 ? 1 : 0;
      return { dtype: 'float32', dims, data: out };
    }
  }
  if (target === 'int64' && (tensor.dtype === 'int32' || tensor.dtype === 'uint8')) {
    const source = tensor.data;
    const out = new BigInt64Array(source.length);
    for (let i = 0; i < out.length; i++) out[i] = BigInt(source[i]!);
    return { dtype: 'int64', dims, data: out };
  }
  return null;
}
