/**
 * BatchNorm running statistics, updated outside the ONNX graph after each training step.
 */
import { InternalError, ReconError } from '../util/errors.js';

/** PyTorch's default BatchNorm momentum. */
export const BATCHNORM_MOMENTUM = 0.1;

/**
 * running ← (1 − m)·running + m·batch, in place, as PyTorch's BatchNorm in train mode (note that
 * torch's `momentum` is the weight of the NEW statistic, the opposite of ONNX's BatchNormalization
 * attribute). Computed in float64 and stored float32, as torch's CPU kernel does with its double
 * accumulator. For running_var the caller passes the UNBIASED batch variance (see
 * `unbiasedVariance`); the normalisation itself uses the biased one.
 */
export function updateRunningStats(running: Float32Array, batchStat: ArrayLike<number>, momentum: number = BATCHNORM_MOMENTUM): Float32Array {
  if (running.length !== batchStat.length) throw new InternalError(`running statistic has ${running.length} channels, batch statistic ${batchStat.length}`);
  if (!(momentum >= 0 && momentum <= 1)) throw new ReconError(`BatchNorm momentum must lie in [0, 1], got ${momentum}`);
  for (let c = 0; c < running.length; c++) running[c] = momentum * batchStat[c]! + (1 - momentum) * running[c]!;
  return running;
}

/**
 * Unbiased variance from the biased (population) variance of `count` values per channel:
 * var·n/(n − 1). Torch divides the summed squares by n − 1 directly; this differs only by rounding.
 */
export function unbiasedVariance(biased: ArrayLike<number>, count: number): Float32Array {
  if (!Number.isInteger(count) || count < 2) throw new ReconError(`unbiased variance needs at least 2 values per channel, got ${count}`);
  const out = new Float32Array(biased.length);
  for (let c = 0; c < out.length; c++) out[c] = (biased[c]! * count) / (count - 1);
  return out;
}
