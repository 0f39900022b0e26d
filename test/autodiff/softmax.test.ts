import { describe, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import { softmaxRule } from '../../src/autodiff/rules/softmax.js';
import { expectGrad, randomShape, withBrokenRule } from './rule-test-util.js';

describe('softmax gradients', () => {
  for (const op of ['Softmax', 'LogSoftmax']) {
    for (const opset of [11, 13, 18]) {
      it(`${op} at opset ${opset} over random axes (${opset < 13 ? 'coerced to 2-D' : 'single axis'})`, async () => {
        const rng = new Random(opset * 31 + op.length);
        for (let trial = 0; trial < 5; trial++) {
          const dims = randomShape(rng, 1, 4, 4, 1);
          // axis omitted (default 1 before 13, −1 from 13) or any valid positive/negative axis.
          const axis = trial === 0 || (opset < 13 && dims.length < 2) ? undefined : rng.int(2 * dims.length) - dims.length;
          if (opset < 13 && dims.length < 2 && axis === undefined) dims.push(3);
          // Trials after the first run in float64 (via Cast): this exercises the dtype-matched
          // constants, and takes the float32 rounding of the normalised outputs out of the finite
          // differences (tiny gradients, e.g. a 2-way softmax, otherwise sit at the noise floor).
          const f64 = trial > 0;
          await expectGrad(
            [{ name: 'x', dims }],
            (b, [x]) => {
              const scaled = b.op1('Mul', [x!, b.scalar('s', 2)]);
              return [b.op1(op, [f64 ? b.op1('Cast', [scaled], { to: 11 }) : scaled], axis === undefined ? {} : { axis })];
            },
            { opset, seed: 300 + trial, epsilon: 1e-2 },
          );
        }
      });
    }
  }

  it('Hardmax passes no gradient (shape subgraph beside a differentiable path)', async () => {
    await expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [b.op1('Add', [b.op1('Mul', [b.op1('Hardmax', [x!], { axis: 1 }), x!]), x!])], {
      opset: 13,
      seed: 9,
    });
  });

  it('a wrong Softmax rule is caught', async () => {
    await withBrokenRule(
      softmaxRule,
      (ctx) => ({ 0: ctx.emit.mul(ctx.outputGrad(0)!, ctx.node.outputs[0]!) }),
      () => expectGrad([{ name: 'x', dims: [3, 4] }], (b, [x]) => [b.op1('Softmax', [x!], { axis: 1 })], { opset: 13, seed: 2 }),
    );
  });
});
