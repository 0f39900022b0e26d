import { describe, expect, it } from 'vitest';
import { gradcheck } from './gradcheck.js';
import { Random } from '../../src/util/random.js';

const BINARY = ['Add', 'Sub', 'Mul', 'Div'] as const;

/** Random pairs of broadcast-compatible shapes. */
function broadcastPair(rng: Random): [number[], number[]] {
  const rank = 1 + rng.int(4);
  const a = Array.from({ length: rank }, () => 1 + rng.int(4));
  const b = a.map((d) => (rng.uniform() < 0.3 ? 1 : d));
  const drop = rng.int(rank);
  return rng.uniform() < 0.5 ? [a, b.slice(drop)] : [b.slice(drop), a];
}

describe('arithmetic gradients', () => {
  for (const op of BINARY) {
    it(`${op} with broadcasting matches finite differences`, async () => {
      const rng = new Random(7);
      for (let trial = 0; trial < 6; trial++) {
        const [sa, sb] = broadcastPair(rng);
        const r = await gradcheck(
          [
            { name: 'a', dims: sa },
            { name: 'b', dims: sb },
          ],
          (b, [x, y]) => [b.op1(op, [x!, op === 'Div' ? b.op1('Add', [b.op1('Abs', [y!]), b.scalar('one', 1)]) : y!])],
          { opset: 13, seed: 100 + trial },
        );
        expect(r.worst).toBeLessThan(2e-3);
      }
    });
  }

  for (const op of ['Neg', 'Sqrt', 'Exp', 'Log', 'Abs', 'Reciprocal']) {
    it(`${op} matches finite differences`, async () => {
      const r = await gradcheck([{ name: 'x', dims: [3, 5] }], (b, [x]) => [b.op1(op, [x!])], {
        opset: 13,
        seed: 3,
        positive: true,
      });
      expect(r.worst).toBeLessThan(2e-3);
    });
  }

  it('Pow with a constant and a variable exponent', async () => {
    for (const p of [2, 3, 0.5]) {
      const r = await gradcheck([{ name: 'x', dims: [4, 3] }], (b, [x]) => [b.op1('Pow', [x!, b.scalar('p', p)])], {
        opset: 13,
        seed: 11,
        positive: true,
      });
      expect(r.worst).toBeLessThan(2e-3);
    }
    const r = await gradcheck(
      [
        { name: 'x', dims: [4, 3] },
        { name: 'p', dims: [3] },
      ],
      (b, [x, p]) => [b.op1('Pow', [x!, p!])],
      {
        opset: 13,
        seed: 12,
        positive: true,
      },
    );
    expect(r.worst).toBeLessThan(2e-3);
  });

  it('fan-out accumulates (x used twice) and Sum broadcasts', async () => {
    const r = await gradcheck(
      [
        { name: 'x', dims: [2, 3] },
        { name: 'y', dims: [3] },
      ],
      (b, [x, y]) => [b.op1('Sum', [b.op1('Mul', [x!, x!]), y!, x!])],
      { opset: 13, seed: 5 },
    );
    expect(r.worst).toBeLessThan(2e-3);
  });

  it('a wrong rule is caught (the check can fail)', async () => {
    // Exp's gradient taken at x instead of exp(x): deliberately wrong composition via Log.
    await expect(gradcheck([{ name: 'x', dims: [3] }], (b, [x]) => [b.op1('Mul', [x!, x!])], { opset: 13, seed: 1, rtol: 0 })).rejects.toThrow(
      /gradcheck failed/,
    );
  });
});
