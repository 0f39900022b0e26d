import { expect } from 'vitest';
import { float } from '../../src/onnx/builder.js';
import type { AttrInput } from '../../src/onnx/builder.js';
import type { GradientContext, GradientRule, InputGradients } from '../../src/autodiff/types.js';
import type { Random } from '../../src/util/random.js';
import { gradcheck, type GradcheckInput, type GradcheckOptions } from './gradcheck.js';
import type { GraphBuilder } from '../../src/onnx/builder.js';

/** Shared helpers for the activation/softmax/matmul/normalization/shape/gather rule tests. */

export function randomShape(rng: Random, minRank: number, maxRank: number, maxDim = 4, minDim = 1): number[] {
  const rank = minRank + rng.int(maxRank - minRank + 1);
  return Array.from({ length: rank }, () => minDim + rng.int(maxDim - minDim + 1));
}

export function pick<T>(rng: Random, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

export function uniformIn(rng: Random, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.uniform();
}

export { float };
export type { AttrInput };

/** Runs gradcheck and asserts the worst relative error is under `rtol` (default 2e-3). */
export async function expectGrad(inputs: GradcheckInput[], body: (b: GraphBuilder, names: string[]) => string[], options: GradcheckOptions): Promise<number> {
  const r = await gradcheck(inputs, body, options);
  if (process.env.GRAD_DEBUG)
    console.log(`worst=${r.worst.toExponential(2)} analytic=${r.analytic.map((v) => v.toPrecision(4))} numeric=${r.numeric.map((v) => v.toPrecision(4))}`);
  expect(r.worst).toBeLessThan(options.rtol ?? 2e-3);
  return r.worst;
}

export function int64Data(values: readonly number[]): BigInt64Array {
  return BigInt64Array.from(values, (v) => BigInt(v));
}

/**
 * Temporarily replaces a registered rule's backward (the registry holds the same object), to
 * show the finite-difference check rejects a wrong gradient for that op.
 */
export async function withBrokenRule(
  rule: GradientRule,
  breakIt: (ctx: GradientContext, right: InputGradients) => InputGradients,
  run: () => Promise<unknown>,
): Promise<void> {
  const mutable = rule as { backward: GradientRule['backward'] };
  const original = mutable.backward;
  mutable.backward = (ctx) => breakIt(ctx, original.call(rule, ctx));
  try {
    await expect(run()).rejects.toThrow(/gradcheck failed/);
  } finally {
    mutable.backward = original;
  }
}
