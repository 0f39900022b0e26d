/**
 * The arrays scripts/make-data-fixtures.py writes with NumPy, rebuilt here from the same formulas so
 * that reading the fixtures checks our decoder against NumPy's encoder.
 */
import { fileURLToPath } from 'node:url';
import type { HostTensor } from '../../src/data/host-tensor.js';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export function numpyFixtureArrays(): Record<string, HostTensor> {
  const f4 = new Float32Array(6);
  for (let i = 0; i < 6; i++) f4[i] = Math.fround(Math.fround(i / 4) - 0.5);
  const i4 = new Int32Array(8);
  for (let i = 0; i < 8; i++) i4[i] = i - 4;
  return {
    f4_2x3: { dtype: 'float32', dims: [2, 3], data: f4 },
    f8_scalar: { dtype: 'float64', dims: [], data: Float64Array.of(Math.PI) },
    i8_vec: { dtype: 'int64', dims: [5], data: BigInt64Array.of(-(2n ** 40n), -1n, 0n, 1n, 2n ** 62n) },
    i4_2x2x2: { dtype: 'int32', dims: [2, 2, 2], data: i4 },
    u1_3: { dtype: 'uint8', dims: [3], data: Uint8Array.of(0, 127, 255) },
    b1_2x2: { dtype: 'bool', dims: [2, 2], data: Uint8Array.of(1, 0, 0, 1) },
    f4_empty: { dtype: 'float32', dims: [0, 3], data: new Float32Array(0) },
  };
}

/** Plain-array form for toEqual comparisons (bigints kept as bigints). */
export function plain(tensor: HostTensor): { dtype: string; dims: number[]; values: (number | bigint)[] } {
  return { dtype: tensor.dtype, dims: [...tensor.dims], values: Array.from(tensor.data as ArrayLike<number | bigint>) };
}
