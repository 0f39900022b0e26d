import { describe, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import type { AttrInput, GraphBuilder } from '../../src/onnx/builder.js';
import { globalMaxPoolRule, maxUnpoolRule } from '../../src/autodiff/rules/pool.js';
import { expectGrad, withBrokenRule } from './rule-test-util.js';
import type { GradcheckInput } from './gradcheck.js';

/**
 * MaxUnpool fed by a MaxPool's Indices output (the pair a SegNet/ENet export contains), and
 * GlobalMaxPool, over random shapes and windows.
 */

interface UnpoolCase {
  x: number[];
  pooled: number[];
  window: Record<string, AttrInput>;
  /** output_shape input for MaxUnpool: needed when the windows skip trailing rows of x. */
  outputShape?: number[];
  overlapping: boolean;
}

function randomUnpool(rng: Random, spatial: number, overlap: boolean): UnpoolCase {
  const kernel = Array.from({ length: spatial }, () => 1 + rng.int(3));
  const strides = kernel.map((k) => (overlap ? 1 + rng.int(k) : k + rng.int(2)));
  const pads = [...kernel, ...kernel].map((k) => (rng.uniform() < 0.4 ? rng.int(k) : 0));
  const inSpatial = kernel.map((k) => k + rng.int(4));
  const outSpatial = inSpatial.map((h, i) => Math.floor((h + pads[i]! + pads[spatial + i]! - kernel[i]!) / strides[i]!) + 1);
  const window: Record<string, AttrInput> = { kernel_shape: kernel, strides, pads };
  const x = [1 + rng.int(2), 1 + rng.int(3), ...inSpatial];
  // MaxUnpool's own output size: (out − 1)·stride + kernel − pads; differs from x when windows skip rows.
  const unpooled = outSpatial.map((o, i) => (o - 1) * strides[i]! + kernel[i]! - pads[i]! - pads[spatial + i]!);
  const outputShape = unpooled.some((u, i) => u !== inSpatial[i]) || rng.uniform() < 0.5 ? x : undefined;
  return { x, pooled: [x[0]!, x[1]!, ...outSpatial], window, outputShape, overlapping: strides.some((s, i) => s < kernel[i]!) };
}

function unpool(b: GraphBuilder, x: string, c: UnpoolCase, scale?: string): string {
  const [pooled, indices] = b.op('MaxPool', [x], c.window, { outputCount: 2 });
  const values = scale ? b.op1('Mul', [pooled!, scale]) : pooled!;
  const inputs = [values, indices!];
  if (c.outputShape) inputs.push(b.int64s('output_shape', c.outputShape));
  return b.op1('MaxUnpool', inputs, c.window);
}

describe('MaxUnpool gradient', () => {
  it('MaxPool → MaxUnpool, overlapping windows (an element is the max of several), pads, output_shape (opsets 16, 18, 21)', async () => {
    const rng = new Random(331);
    for (let trial = 0; trial < 10; trial++) {
      const c = randomUnpool(rng, 1 + (trial % 2), trial % 3 !== 2);
      await expectGrad([{ name: 'x', dims: c.x }], (b, [x]) => [unpool(b, x!, c)], {
        opset: [16, 18, 21][trial % 3]!,
        seed: 33100 + trial,
        directions: 2,
      }).catch((err: unknown) => {
        throw new Error(`${JSON.stringify(c)}: ${String(err)}`);
      });
    }
  });

  it('the unpooled values as a parameter (non-overlapping windows), incl. opsets below the MaxPool rule (10, 11, 13, 18)', async () => {
    // Below opset 16 MaxPool has no rule, so x is fixed and only the scale reaches MaxUnpool's input.
    const rng = new Random(332);
    for (let trial = 0; trial < 8; trial++) {
      const opset = [10, 11, 13, 18][trial % 4]!;
      const c = randomUnpool(rng, 1 + (trial % 2), false);
      const inputs: GradcheckInput[] = [
        { name: 'x', dims: c.x, differentiate: opset >= 16 },
        { name: 's', dims: c.pooled },
      ];
      await expectGrad(inputs, (b, [x, s]) => [unpool(b, x!, c, s!)], { opset, seed: 33200 + trial, directions: 2 }).catch((err: unknown) => {
        throw new Error(`${JSON.stringify(c)} at opset ${opset}: ${String(err)}`);
      });
    }
  });

  it('a MaxUnpool rule that hands every duplicate index the gradient is caught (overlapping windows)', async () => {
    // A bump: its top is the max of all three windows covering it, so its index appears three times.
    const data = Float32Array.of(0.1, 0.5, 2, 0.7, 0.3, -0.2);
    await withBrokenRule(
      maxUnpoolRule,
      (ctx) => {
        const e = ctx.emit;
        const flat = e.reshape(ctx.outputGrad(0)!, [6]);
        return { 0: e.reshape(e.op1('Gather', [flat, e.reshape(ctx.node.inputs[1]!, [4])], { axis: 0 }), [1, 1, 4]) };
      },
      () =>
        expectGrad(
          [{ name: 'x', dims: [1, 1, 6], data }],
          (b, [x]) => {
            const [pooled, indices] = b.op('MaxPool', [x!], { kernel_shape: [3] }, { outputCount: 2 });
            return [b.op1('MaxUnpool', [pooled!, indices!, b.int64s('shape', [1, 1, 6])], { kernel_shape: [3] })];
          },
          { opset: 16, seed: 1 },
        ),
    );
  });
});

describe('GlobalMaxPool gradient', () => {
  it('random N, C and 1-D to 3-D spatial shapes (opsets 9, 13, 18, 21)', async () => {
    const rng = new Random(333);
    for (let trial = 0; trial < 8; trial++) {
      const spatial = 1 + rng.int(3);
      const dims = [1 + rng.int(2), 1 + rng.int(3), ...Array.from({ length: spatial }, () => 1 + rng.int(4))];
      await expectGrad([{ name: 'x', dims }], (b, [x]) => [b.op1('GlobalMaxPool', [x!])], {
        opset: [9, 13, 18, 21][trial % 4]!,
        seed: 33300 + trial,
        directions: 2,
      });
    }
  });

  it('a GlobalMaxPool rule that spreads dY over the whole plane is caught', async () => {
    await withBrokenRule(
      globalMaxPoolRule,
      (ctx) => ({ 0: ctx.emit.op1('Expand', [ctx.outputGrad(0)!, ctx.emit.int64s(ctx.shape(ctx.node.inputs[0]!))]) }),
      () => expectGrad([{ name: 'x', dims: [2, 3, 4] }], (b, [x]) => [b.op1('GlobalMaxPool', [x!])], { opset: 13, seed: 1 }),
    );
  });
});
