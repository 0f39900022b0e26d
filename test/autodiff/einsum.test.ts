import { describe, expect, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import { ReconError } from '../../src/util/errors.js';
import { canonicalEinsum, einsumRule } from '../../src/autodiff/rules/einsum.js';
import { expectGrad, withBrokenRule } from './rule-test-util.js';

/**
 * Einsum forms, with the shape of each operand's ellipsis (if any). Label sizes are drawn per
 * trial; `one` forces a label to size 1 in one operand (onnxruntime broadcasts it).
 */
interface Case {
  eq: string;
  ellipsis?: number[][];
  /** [operand, label]: that occurrence has size 1 (broadcast against the others). */
  one?: [number, string];
}

const CASES: Case[] = [
  { eq: 'ij,jk->ik' },
  { eq: 'bij,bjk->bik' },
  { eq: 'ij->ji' },
  { eq: 'ij,jk' },
  { eq: 'ii->i' },
  { eq: 'ii' },
  { eq: 'iii->i' },
  { eq: 'iij->j' },
  { eq: 'i,j->ij' },
  { eq: 'ij->i' },
  { eq: 'ij->' },
  { eq: 'ij,kl->ik' },
  { eq: 'ab,bc,cd->ad' },
  { eq: 'i,i,i->i' },
  { eq: 'ij,ij->' },
  { eq: ',ij->ji' },
  { eq: 'aB,Bc->ca' },
  { eq: 'ij , jk -> ik' },
  { eq: 'ij,ij->ij', one: [1, 'i'] },
  { eq: 'bij,bjk->bik', one: [0, 'b'] },
  {
    eq: '...ij,...jk->...ik',
    ellipsis: [
      [2, 1],
      [1, 3],
    ],
  },
  { eq: '...ii->...i', ellipsis: [[2]] },
  { eq: 'b...a', ellipsis: [[3, 2]] },
  {
    eq: 'i...,i...->...',
    ellipsis: [
      [1, 3],
      [2, 1],
    ],
  },
  { eq: '...j,j...->...', ellipsis: [[2], [2]] },
];

function shapesOf(c: Case, size: (label: string) => number): number[][] {
  const lhs = c.eq.replace(/\s+/g, '').split('->')[0]!;
  return lhs.split(',').map((term, i) => {
    const [before, after] = term.includes('...') ? term.split('...') : [term, undefined];
    const dims = (labels: string): number[] => [...labels].map((l) => (c.one && c.one[0] === i && c.one[1] === l ? 1 : size(l)));
    return after === undefined ? dims(before!) : [...dims(before!), ...c.ellipsis![i]!, ...dims(after)];
  });
}

describe('Einsum gradients', () => {
  it('matmul, batched, transpose, implicit, diagonals, traces, sums, outer, 3 operands, scalar, uppercase, broadcasts, ellipses (opsets 12-21)', async () => {
    const rng = new Random(1212);
    const opsets = [12, 13, 18, 21];
    for (const [k, c] of CASES.entries()) {
      const sizes = new Map<string, number>();
      const size = (l: string): number => {
        if (!sizes.has(l)) sizes.set(l, 2 + rng.int(3));
        return sizes.get(l)!;
      };
      const shapes = shapesOf(c, size);
      await expectGrad(
        shapes.map((dims, i) => ({ name: `x${i}`, dims })),
        (b, names) => [b.op1('Einsum', names, { equation: c.eq })],
        { opset: opsets[k % opsets.length]!, seed: 1300 + k },
      ).catch((e: unknown) => {
        throw new Error(`${c.eq} [${shapes.map((s) => `[${s.join(',')}]`).join(', ')}]: ${String(e)}`);
      });
    }
  });

  it('the same tensor as two operands gets both gradients (x·xᵀ), and a fixed operand gets none', async () => {
    await expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [b.op1('Einsum', [x!, x!], { equation: 'ij,kj->ik' })], { opset: 13, seed: 1401 });
    await expectGrad(
      [
        { name: 'x', dims: [3, 4] },
        { name: 'w', dims: [4, 2], differentiate: false },
      ],
      (b, [x, w]) => [b.op1('Einsum', [x!, w!], { equation: 'ij,jk->ik' })],
      { opset: 13, seed: 1402 },
    );
  });

  it('canonical form: ellipses spelled out, implicit output, broadcast labels relabelled', () => {
    const c = canonicalEinsum('b...a', [[2, 4, 5, 3]], 'n');
    expect(c.inputs[0]!.length).toBe(4);
    expect(c.output.slice(2)).toEqual(['a', 'b']);
    const bc = canonicalEinsum(
      'ij,ij->ij',
      [
        [2, 3],
        [1, 3],
      ],
      'n',
    );
    expect(bc.inputs[1]![0]).not.toBe('i');
    expect(bc.sizes.get(bc.inputs[1]![0]!)).toBe(1);
  });

  it('forms that cannot be expressed are ReconErrors naming the node and the equation', () => {
    const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX';
    // 50 labels plus a rank-3 ellipsis: the 52 Einsum labels run out.
    expect(() => canonicalEinsum(`${letters}...`, [Array.from({ length: 53 }, () => 1)], 'node "big"')).toThrow(ReconError);
    expect(() =>
      canonicalEinsum(
        'ij,jk->ik',
        [
          [2, 3],
          [4, 5],
        ],
        'node "mm"',
      ),
    ).toThrow(/node "mm".*"ij,jk->ik".*sizes 3 and 4/);
    expect(() => canonicalEinsum('ij->ik', [[2, 3]], 'node "bad"')).toThrow(/node "bad".*"ij->ik".*output label "k"/);
    expect(() => canonicalEinsum('i.j->i', [[2, 3]], 'node "dots"')).toThrow(ReconError);
    expect(() => canonicalEinsum('ijk->i', [[2, 3]], 'node "rank"')).toThrow(/rank 2/);
  });

  it('a wrong Einsum rule (a diagonal gradient spread over the whole row) is caught', async () => {
    await withBrokenRule(
      einsumRule,
      (ctx) => {
        const e = ctx.emit;
        const ones = e.op1('ConstantOfShape', [e.int64s([3])], { value: undefined });
        return { 0: e.op1('Einsum', [ctx.outputGrad(0)!, e.op1('Add', [ones, e.scalar(1)])], { equation: 'i,j->ij' }) };
      },
      () => expectGrad([{ name: 'x', dims: [3, 3] }], (b, [x]) => [b.op1('Einsum', [x!], { equation: 'ii->i' })], { opset: 13, seed: 1 }),
    );
  });
});
