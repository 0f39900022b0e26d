import { MAX_LOSS_POINTS, type LossCurves } from './schema.js';
import { ReconError } from '../util/errors.js';

/**
 * Shrinks loss curves to at most `maxPoints` points by averaging buckets of consecutive points;
 * each bucket is stamped with its last step so a point never claims steps that had not run yet.
 */
export function downsampleLosses(curves: LossCurves, maxPoints: number = MAX_LOSS_POINTS): LossCurves {
  if (!Number.isInteger(maxPoints) || maxPoints < 1) throw new ReconError(`downsampleLosses: maxPoints must be a positive integer (got ${maxPoints})`);
  const n = curves.steps.length;
  if (n <= maxPoints) return { steps: [...curves.steps], perTask: mapValues(curves.perTask, (v) => [...v]) };
  const bucket = Math.ceil(n / maxPoints);
  const steps: number[] = [];
  for (let start = 0; start < n; start += bucket) steps.push(curves.steps[Math.min(n, start + bucket) - 1]!);
  const perTask = mapValues(curves.perTask, (values) => {
    const means: number[] = [];
    for (let start = 0; start < n; start += bucket) {
      const end = Math.min(n, start + bucket);
      let total = 0;
      for (let i = start; i < end; i++) total += values[i]!;
      means.push(total / (end - start));
    }
    return means;
  });
  return { steps, perTask };
}

function mapValues<T, U>(record: Record<string, T>, f: (value: T) => U): Record<string, U> {
  const out: Record<string, U> = {};
  for (const [key, value] of Object.entries(record)) out[key] = f(value);
  return out;
}
