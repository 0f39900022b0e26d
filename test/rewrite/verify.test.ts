import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import type { Model } from '../../src/onnx/model.js';
import { randomFeeds, verify } from '../../src/rewrite/verify.js';

/** y = x · scale + bias, plus a passthrough of an int64 input. */
function affine(scale: number, bias: number): Model {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', ['N', 3]);
  const ids = b.input('ids', 'int64', ['N']);
  b.op1('Add', [b.op1('Mul', [x, b.scalar('s', scale)]), b.scalar('b', bias)], {}, { outputs: ['y'] });
  b.op1('Identity', [ids], {}, { outputs: ['ids_out'] });
  b.output('y', 'float32', ['N', 3]);
  b.output('ids_out', 'int64', ['N']);
  return b.model(13);
}

describe('verify', () => {
  it('draws N(0,1) floats and zero integers, symbolic dimensions of 2', () => {
    const feeds = randomFeeds(affine(1, 0), 5);
    expect(feeds['x']!.dims).toEqual([2, 3]);
    expect(feeds['ids']).toEqual({ dtype: 'int64', dims: [2], data: new BigInt64Array(2) });
    expect(randomFeeds(affine(1, 0), 5)).toEqual(feeds);
    expect(Array.from(feeds['x']!.data as Float32Array).some((v) => v !== 0)).toBe(true);
  });

  it('accepts identical models and reports every output', async () => {
    const r = await verify(affine(2, 1), affine(2, 1));
    expect(r.ok).toBe(true);
    expect(r.all.map((d) => d.output)).toEqual(['y', 'ids_out']);
    expect(r.worst.maxAbsDiff).toBe(0);
  });

  it('scales the tolerance by max(1, max|reference|)', async () => {
    const feeds = {
      x: { dtype: 'float32' as const, dims: [1, 3], data: Float32Array.of(1, 2, 4) },
      ids: { dtype: 'int64' as const, dims: [1], data: new BigInt64Array(1) },
    };
    // Reference y = 100·x: max |ref| = 400; a bias of 0.003 is 7.5e-6 relative.
    const close = await verify(affine(100, 0), affine(100, 0.003), { feeds });
    expect(close.ok).toBe(true);
    expect(close.worst.output).toBe('y');
    expect(close.worst.maxAbsDiff).toBeCloseTo(0.003, 4);
    expect(close.worst.maxRel).toBeCloseTo(0.003 / 400, 7);
    const far = await verify(affine(100, 0), affine(100, 0.01), { feeds });
    expect(far.ok).toBe(false);
    // Below 1 the absolute difference counts.
    const small = await verify(affine(0.1, 0), affine(0.1, 2e-5), { feeds, outputs: ['y'] });
    expect(small.ok).toBe(false);
    expect((await verify(affine(0.1, 0), affine(0.1, 2e-5), { feeds, tolerance: 1e-4 })).ok).toBe(true);
  });

  it('fails on an output the candidate lacks', async () => {
    await expect(verify(affine(1, 0), affine(1, 0), { outputs: ['nope'] })).rejects.toThrow(/no output "nope"/);
  });
});
