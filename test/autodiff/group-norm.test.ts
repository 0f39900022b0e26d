import { describe, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import { float } from '../../src/onnx/builder.js';
import { groupNormRule } from '../../src/autodiff/rules/group-norm.js';
import { expectGrad, pick, withBrokenRule } from './rule-test-util.js';

/**
 * GroupNormalization runs on onnxruntime at opsets 18-20 (scale and bias per group) and 21
 * (per channel, with stash_type), through the op's function body.
 */
describe('GroupNormalization gradients', () => {
  for (const opset of [18, 20, 21]) {
    it(`X, scale and bias at opset ${opset} (${opset >= 21 ? 'per-channel' : 'per-group'} parameters), ranks 3-5, epsilon`, async () => {
      const rng = new Random(opset * 13);
      for (let trial = 0; trial < 5; trial++) {
        const groups = 1 + rng.int(3);
        const C = groups * (1 + rng.int(3));
        const spatial = Array.from({ length: 1 + rng.int(3) }, () => 1 + rng.int(3));
        // A group of 2 or 3 elements is nearly ±1 after normalising, and so steep where its
        // entries are close that finite differences lose accuracy: keep groups at 4+ elements.
        while ((C / groups) * spatial.reduce((a, d) => a * d, 1) < 4) spatial[0]! += 1;
        const dims = [1 + rng.int(3), C, ...spatial];
        const params = opset >= 21 ? C : groups;
        const attrs: Record<string, ReturnType<typeof float> | number> = { num_groups: groups };
        if (trial % 2 === 1) attrs['epsilon'] = float(pick(rng, [1e-3, 1e-2, 0.1]));
        // At opset 21 the even trials run in float64 with stash_type = double: onnxruntime's
        // float32 statistics are noisy enough to swamp the finite differences of a steep group
        // (a case off by 3.8e-3 in float32 agrees to 2.5e-4 this way). Trial 1 spells out the
        // default float32 stash.
        const double = opset >= 21 && trial % 2 === 0;
        if (double) attrs['stash_type'] = 11;
        else if (opset >= 21 && trial === 1) attrs['stash_type'] = 1;
        await expectGrad(
          [
            { name: 'x', dims },
            { name: 'scale', dims: [params] },
            { name: 'bias', dims: [params] },
          ],
          (b, inputs) => {
            const [x, s, bias] = double ? inputs.map((v) => b.op1('Cast', [v], { to: 11 })) : inputs;
            return [b.op1('GroupNormalization', [x!, s!, bias!], attrs)];
          },
          { opset, seed: 1800 + opset * 10 + trial },
        );
      }
    });
  }

  it('only X needs a gradient (parameters fixed), and a depthwise-like case G = C', async () => {
    for (const opset of [18, 21]) {
      await expectGrad(
        [
          { name: 'x', dims: [2, 4, 3] },
          { name: 'scale', dims: [4], differentiate: false },
          { name: 'bias', dims: [4], differentiate: false },
        ],
        (b, [x, s, bias]) => [b.op1('GroupNormalization', [x!, s!, bias!], { num_groups: 4 })],
        { opset, seed: 1900 + opset },
      );
    }
  });

  it('a wrong GroupNormalization rule (statistics treated as constants) is caught', async () => {
    await withBrokenRule(
      groupNormRule,
      (ctx, right) => {
        const e = ctx.emit;
        // dX = dY·scale·invStd only, as if mean and variance did not depend on x.
        const x4 = e.reshape(ctx.node.inputs[0]!, [2, 2, 2, 3]);
        const centred = e.sub(x4, e.reduceMean(x4, [2, 3], true));
        const invStd = e.op1('Reciprocal', [e.op1('Sqrt', [e.add(e.reduceMean(e.mul(centred, centred), [2, 3], true), e.scalar(1e-5))])]);
        const dX = e.mul(e.mul(e.reshape(ctx.outputGrad(0)!, [2, 2, 2, 3]), e.reshape(ctx.node.inputs[1]!, [1, 2, 1, 1])), invStd);
        return { ...right, 0: e.reshape(dX, [2, 4, 3]) };
      },
      () =>
        expectGrad(
          [
            { name: 'x', dims: [2, 4, 3] },
            { name: 'scale', dims: [2] },
            { name: 'bias', dims: [2] },
          ],
          (b, [x, s, bias]) => [b.op1('GroupNormalization', [x!, s!, bias!], { num_groups: 2 })],
          { opset: 18, seed: 1 },
        ),
    );
  });
});
