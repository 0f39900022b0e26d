import type { HostTensor } from '../../src/data/host-tensor.js';
import { Random } from '../../src/util/random.js';

/**
 * Random 1×36×36 images with T1/T2 targets for the cnn reference model: fast to make (the real
 * Multi-Fashion+MNIST build reads the full source sets). Every class appears in both targets, so a
 * model predicting one class is never at 0 % accuracy (Δm needs a non-zero baseline).
 */
export function randomTwoTaskArrays(n: number, seed: number): Record<string, HostTensor> {
  const rng = new Random(seed);
  const labels = (): BigInt64Array => BigInt64Array.from(rng.permutation(n), (i) => BigInt(i % 10));
  return {
    input: { dtype: 'float32', dims: [n, 1, 36, 36], data: rng.fillNormal(new Float32Array(n * 36 * 36)) },
    T1_target: { dtype: 'int64', dims: [n], data: labels() },
    T2_target: { dtype: 'int64', dims: [n], data: labels() },
  };
}
