import { describe, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import { sigmoidRule, reluRule } from '../../src/autodiff/rules/activation.js';
import { expectGrad, float, pick, randomShape, uniformIn, withBrokenRule, type AttrInput } from './rule-test-util.js';

/** Elementwise activations: op, first opset it exists at, random attributes. */
const UNARY: { op: string; since: number; attrs?: (rng: Random) => Record<string, AttrInput | undefined> }[] = [
  { op: 'Relu', since: 6 },
  { op: 'Sigmoid', since: 6 },
  { op: 'Tanh', since: 6 },
  { op: 'Erf', since: 9 },
  { op: 'Softplus', since: 1 },
  { op: 'Softsign', since: 1 },
  { op: 'LeakyRelu', since: 6, attrs: (r) => (r.uniform() < 0.3 ? {} : { alpha: float(uniformIn(r, 0.01, 0.5)) }) },
  { op: 'Elu', since: 6, attrs: (r) => (r.uniform() < 0.3 ? {} : { alpha: float(uniformIn(r, 0.2, 2)) }) },
  { op: 'Selu', since: 6, attrs: (r) => (r.uniform() < 0.3 ? {} : { alpha: float(uniformIn(r, 0.5, 2)), gamma: float(uniformIn(r, 0.5, 1.5)) }) },
  { op: 'Celu', since: 12, attrs: (r) => (r.uniform() < 0.3 ? {} : { alpha: float(uniformIn(r, 0.5, 2)) }) },
  { op: 'ThresholdedRelu', since: 10, attrs: (r) => (r.uniform() < 0.3 ? {} : { alpha: float(uniformIn(r, -0.5, 0.5)) }) },
  { op: 'HardSigmoid', since: 6, attrs: (r) => (r.uniform() < 0.3 ? {} : { alpha: float(uniformIn(r, 0.2, 0.6)), beta: float(uniformIn(r, 0.3, 0.7)) }) },
  { op: 'HardSwish', since: 14 },
  { op: 'Mish', since: 18 },
];

describe('activation gradients', () => {
  for (const { op, since, attrs } of UNARY) {
    it(`${op} matches finite differences (random shapes and attributes, two opsets)`, async () => {
      const rng = new Random(op.length * 7919 + op.charCodeAt(0));
      const opsets = [...new Set([Math.max(since, 13), 18])];
      for (let trial = 0; trial < 4; trial++) {
        const opset = opsets[trial % opsets.length]!;
        const a = attrs?.(rng) ?? {};
        // Scale up so HardSwish/HardSigmoid inputs land in all three pieces.
        await expectGrad([{ name: 'x', dims: randomShape(rng, 1, 4, 4) }], (b, [x]) => [b.op1(op, [b.op1('Mul', [x!, b.scalar('s', 2.5)])], a)], {
          opset,
          seed: 1000 + trial,
        });
      }
    });
  }

  it('Gelu (opset 20) exact and tanh approximation', async () => {
    const rng = new Random(20);
    for (const approximate of [undefined, 'none', 'tanh']) {
      for (let trial = 0; trial < 2; trial++) {
        await expectGrad(
          [{ name: 'x', dims: randomShape(rng, 1, 3, 5) }],
          (b, [x]) => [b.op1('Gelu', [b.op1('Mul', [x!, b.scalar('s', 2)])], approximate ? { approximate } : {})],
          { opset: 20, seed: 2000 + trial },
        );
      }
    }
  });

  it('Clip with attribute bounds (opset 10): both, min only, max only, none', async () => {
    const rng = new Random(10);
    const forms: Record<string, AttrInput>[] = [{ min: float(-0.4), max: float(0.7) }, { min: float(0.1) }, { max: float(-0.2) }, {}];
    for (const [k, attrs] of forms.entries()) {
      await expectGrad([{ name: 'x', dims: randomShape(rng, 1, 3, 5) }], (b, [x]) => [b.op1('Clip', [x!], attrs)], { opset: 10, seed: 30 + k });
    }
  });

  it('Clip with constant input bounds (opset 13 and 18), incl. ReLU6 and omitted min/max', async () => {
    const rng = new Random(11);
    const forms: [number | undefined, number | undefined][] = [
      [0, 6],
      [-0.5, 0.5],
      [undefined, 0.3],
      [-0.3, undefined],
      [undefined, undefined],
    ];
    for (const opset of [13, 18]) {
      for (const [k, [lo, hi]] of forms.entries()) {
        await expectGrad(
          [{ name: 'x', dims: randomShape(rng, 1, 4, 4) }],
          (b, [x]) => {
            const inputs = [b.op1('Mul', [x!, b.scalar('s', lo === 0 ? 4 : 1)])];
            inputs.push(lo === undefined ? '' : b.scalar('lo', lo));
            if (hi !== undefined) inputs.push(b.scalar('hi', hi));
            return [b.op1('Clip', inputs)];
          },
          { opset, seed: 40 + k },
        );
      }
    }
  });

  it('Clip gradients reach tensor min/max inputs (opset 13)', async () => {
    const rng = new Random(12);
    for (let trial = 0; trial < 4; trial++) {
      const lo = uniformIn(rng, -1, -0.1);
      const hi = uniformIn(rng, 0.1, 1);
      const both = trial < 2;
      await expectGrad(
        [
          { name: 'x', dims: randomShape(rng, 1, 3, 5) },
          { name: 'lo', dims: [], data: Float32Array.of(lo) },
          { name: 'hi', dims: [], data: Float32Array.of(hi) },
        ],
        (b, [x, l, h]) => [b.op1('Clip', both ? [x!, l!, h!] : trial === 2 ? [x!, l!] : [x!, '', h!]), b.op1('Mul', [l!, h!])],
        { opset: 13, seed: 50 + trial },
      );
    }
  });

  it('Clip with min > max follows the forward (everything is max)', async () => {
    await expectGrad(
      [
        { name: 'x', dims: [3, 4] },
        { name: 'lo', dims: [], data: Float32Array.of(0.5) },
        { name: 'hi', dims: [], data: Float32Array.of(-0.5) },
      ],
      (b, [x, l, h]) => [b.op1('Clip', [x!, l!, h!])],
      { opset: 13, seed: 59 },
    );
  });

  it('PRelu: slope broadcast ([C,1,1], [1], [W], full) gets its gradient', async () => {
    const rng = new Random(13);
    for (let trial = 0; trial < 6; trial++) {
      const x = [1 + rng.int(3), 1 + rng.int(4), 1 + rng.int(3), 1 + rng.int(4)];
      const slope = pick(rng, [[x[1]!, 1, 1], [1], [x[3]!], x.slice(1), x]);
      await expectGrad(
        [
          { name: 'x', dims: x },
          { name: 'slope', dims: slope },
        ],
        (b, [xv, s]) => [b.op1('PRelu', [xv!, s!])],
        { opset: trial % 2 === 0 ? 9 : 16, seed: 60 + trial },
      );
    }
  });

  // onnxruntime has no double Erf (so no double Gelu either).
  it('float64 graphs: dtype-matched constants in the backward (via Cast to double)', async () => {
    const rng = new Random(64);
    for (const op of ['Relu', 'Sigmoid', 'Tanh', 'Softplus', 'Elu', 'Selu', 'LeakyRelu', 'HardSigmoid', 'HardSwish', 'Clip']) {
      await expectGrad(
        [{ name: 'x', dims: randomShape(rng, 1, 3, 4) }],
        (b, [x]) => {
          const x64 = b.op1('Cast', [b.op1('Mul', [x!, b.scalar('s', 2.5)])], { to: 11 });
          if (op === 'Clip') {
            const bound = (v: number): string => b.constant('bound', 'float64', [], Float64Array.of(v));
            return [b.op1('Clip', [x64, bound(-1), bound(2)])];
          }
          return [b.op1(op, [x64])];
        },
        { opset: 18, seed: 64 },
      );
    }
  });

  it('a wrong Sigmoid or Relu rule is caught', async () => {
    await withBrokenRule(
      sigmoidRule,
      (ctx, right) => ({ 0: ctx.emit.mul(right[0]!, ctx.emit.scalar(1.01)) }),
      () => expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [b.op1('Sigmoid', [x!])], { opset: 13, seed: 1 }),
    );
    // Passing the gradient everywhere (no mask) must be caught too.
    await withBrokenRule(
      reluRule,
      (ctx) => ({ 0: ctx.outputGrad(0)! }),
      () => expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [b.op1('Relu', [x!])], { opset: 13, seed: 1 }),
    );
  });
});
