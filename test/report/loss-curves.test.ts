import { describe, expect, it } from 'vitest';
import { downsampleLosses } from '../../src/report/loss-curves.js';

describe('downsampleLosses', () => {
  const steps = Array.from({ length: 4501 }, (_, i) => i);
  const curves = { steps, perTask: { a: steps.map((s) => s * 2), b: steps.map(() => 1) } };

  it('averages buckets of consecutive steps, stamped with the bucket end', () => {
    const small = downsampleLosses(curves, 2000);
    // ceil(4501 / 2000) = 3 steps per bucket.
    expect(small.steps).toHaveLength(1501);
    expect(small.steps.slice(0, 3)).toEqual([2, 5, 8]);
    expect(small.perTask['a']!.slice(0, 2)).toEqual([2, 8]);
    expect(small.steps[1500]).toBe(4500);
    expect(small.perTask['a']![1500]).toBe(9000);
    expect(small.perTask['b']!.every((v) => v === 1)).toBe(true);
  });

  it('returns copies when the curves are already short enough', () => {
    const out = downsampleLosses({ steps: [0, 1], perTask: { a: [3, 4] } }, 2000);
    expect(out).toEqual({ steps: [0, 1], perTask: { a: [3, 4] } });
  });

  it('rejects a non-positive limit', () => {
    expect(() => downsampleLosses(curves, 0)).toThrow(/positive integer/);
  });
});
