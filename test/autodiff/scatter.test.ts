import { describe, expect, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import { scatterElementsRule, scatterNDRule } from '../../src/autodiff/rules/scatter.js';
import { gradcheck } from './gradcheck.js';
import { expectGrad, int64Data, randomShape, withBrokenRule } from './rule-test-util.js';

/**
 * ScatterND / ScatterElements gradients for data and updates. With reduction "none" only unique
 * indices are tested: with repeats the forward keeps an update of the runtime's choosing.
 */

function numel(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/** Half the indices written from the end (−dim…−1), which both Scatter and Gather accept. */
function maybeNegative(rng: Random, index: number, dim: number, negative: boolean): number {
  return negative && rng.uniform() < 0.5 ? index - dim : index;
}

function expectUnique(targets: readonly number[]): void {
  expect(new Set(targets).size).toBe(targets.length);
}

interface NDCase {
  data: number[];
  indexDims: number[];
  indices: number[];
  updates: number[];
}

/** ScatterND with index tuples of length k addressing the first k axes; unique unless `repeats`. */
function ndCase(rng: Random, repeats: boolean, negative: boolean): NDCase {
  const data = randomShape(rng, 1, 4, 4, 1);
  const k = 1 + rng.int(data.length);
  const slots = numel(data.slice(0, k));
  const q = randomShape(rng, 1, 2, 3, 1);
  // Unique: the first n of a permutation of all index tuples (at most `slots` of them).
  if (!repeats) q[q.length - 1] = Math.max(1, Math.min(q[q.length - 1]!, Math.floor(slots / numel(q.slice(0, -1)))));
  while (!repeats && numel(q) > slots) q.shift();
  const n = numel(q);
  const order = Array.from(rng.permutation(slots));
  const flat = Array.from({ length: n }, (_, i) => (repeats ? rng.int(slots) : order[i]!));
  const indices: number[] = [];
  for (const f of flat) {
    let rest = f;
    const tuple: number[] = [];
    for (let a = k - 1; a >= 0; a--) {
      tuple.unshift(maybeNegative(rng, rest % data[a]!, data[a]!, negative));
      rest = Math.floor(rest / data[a]!);
    }
    indices.push(...tuple);
  }
  if (!repeats) expectUnique(flat);
  return { data, indexDims: [...q, k], indices, updates: [...q, ...data.slice(k)] };
}

interface ElementsCase {
  data: number[];
  axis: number;
  indexDims: number[];
  indices: number[];
}

/** ScatterElements indices: along `axis`, distinct in every line unless `repeats`. */
function elementsCase(rng: Random, repeats: boolean, negative: boolean): ElementsCase {
  const data = randomShape(rng, 1, 4, 4, 1);
  const axis = rng.int(data.length);
  const indexDims = data.map((d) => 1 + rng.int(d));
  const dim = data[axis]!;
  const lines = numel(indexDims) / indexDims[axis]!;
  const perLine = Array.from({ length: lines }, () =>
    repeats ? Array.from({ length: indexDims[axis]! }, () => rng.int(dim)) : Array.from(rng.permutation(dim)),
  );
  // Element at multi-index m reads entry m[axis] of its line (the line numbered by the other coordinates).
  const inner = numel(indexDims.slice(axis + 1));
  const indices = Array.from({ length: numel(indexDims) }, (_, flat) => {
    const along = Math.floor(flat / inner) % indexDims[axis]!;
    const line = Math.floor(flat / (inner * indexDims[axis]!)) * inner + (flat % inner);
    return maybeNegative(rng, perLine[line]![along]!, dim, negative);
  });
  if (!repeats) {
    // The data position each update lands on, flattened: unique when no line repeats an index.
    expectUnique(
      indices.map((v, flat) => {
        const line = Math.floor(flat / (inner * indexDims[axis]!)) * inner + (flat % inner);
        return line * dim + ((v + dim) % dim);
      }),
    );
  }
  return { data, axis, indexDims, indices };
}

describe('ScatterND gradients', () => {
  it('reduction none, unique index tuples of length 1..rank, negative indices (opsets 11, 13, 16, 18)', async () => {
    const rng = new Random(321);
    for (let trial = 0; trial < 12; trial++) {
      const c = ndCase(rng, false, trial % 2 === 1);
      const opset = [11, 13, 16, 18][trial % 4]!;
      await expectGrad(
        [
          { name: 'x', dims: c.data },
          { name: 'i', dims: c.indexDims, dtype: 'int64', data: int64Data(c.indices) },
          { name: 'u', dims: c.updates },
        ],
        (b, [x, i, u]) => [b.op1('ScatterND', [x!, i!, u!], opset >= 16 && trial % 3 === 0 ? { reduction: 'none' } : {})],
        { opset, seed: 32100 + trial, directions: 2 },
      );
    }
  });

  it('reduction add with repeated index tuples (opsets 16, 18)', async () => {
    const rng = new Random(322);
    for (let trial = 0; trial < 6; trial++) {
      const c = ndCase(rng, true, trial % 2 === 0);
      await expectGrad(
        [
          { name: 'x', dims: c.data },
          { name: 'i', dims: c.indexDims, dtype: 'int64', data: int64Data(c.indices) },
          { name: 'u', dims: c.updates },
        ],
        (b, [x, i, u]) => [b.op1('ScatterND', [x!, i!, u!], { reduction: 'add' })],
        { opset: trial % 2 === 0 ? 16 : 18, seed: 32200 + trial, directions: 2 },
      );
    }
  });

  it('only the updates, or only the data, need a gradient', async () => {
    const c: NDCase = { data: [4, 3], indexDims: [2, 1], indices: [3, 1], updates: [2, 3] };
    for (const [k, constant] of ['x', 'u'].entries()) {
      await expectGrad(
        [
          { name: 'x', dims: c.data, differentiate: constant !== 'x' },
          { name: 'i', dims: c.indexDims, dtype: 'int64', data: int64Data(c.indices) },
          { name: 'u', dims: c.updates, differentiate: constant !== 'u' },
        ],
        (b, [x, i, u]) => [b.op1('ScatterND', [x!, i!, u!])],
        { opset: 13, seed: 32300 + k },
      );
    }
  });

  it('reduction mul is refused, naming the node', async () => {
    await expect(
      gradcheck(
        [
          { name: 'x', dims: [4] },
          { name: 'i', dims: [1, 1], dtype: 'int64', data: int64Data([2]) },
          { name: 'u', dims: [1] },
        ],
        (b, [x, i, u]) => [b.op1('ScatterND', [x!, i!, u!], { reduction: 'mul' })],
        { opset: 16, seed: 1 },
      ),
    ).rejects.toThrow(/ScatterND with reduction="mul" has no gradient rule/);
  });

  it('a wrong ScatterND rule (data gradient not zeroed where overwritten) is caught', async () => {
    await withBrokenRule(
      scatterNDRule,
      (ctx, right) => ({ ...right, 0: ctx.outputGrad(0)! }),
      () =>
        expectGrad(
          [
            { name: 'x', dims: [4, 3] },
            { name: 'i', dims: [2, 1], dtype: 'int64', data: int64Data([3, 1]) },
            { name: 'u', dims: [2, 3] },
          ],
          (b, [x, i, u]) => [b.op1('ScatterND', [x!, i!, u!])],
          { opset: 13, seed: 1 },
        ),
    );
  });
});

describe('ScatterElements gradients', () => {
  it('reduction none, any axis, unique per line, negative indices, int32 indices (opsets 11, 13, 16, 18)', async () => {
    const rng = new Random(324);
    for (let trial = 0; trial < 12; trial++) {
      const c = elementsCase(rng, false, trial % 2 === 1);
      const opset = [11, 13, 16, 18][trial % 4]!;
      const int32 = trial % 3 === 2;
      const axis = rng.uniform() < 0.5 ? c.axis : c.axis - c.data.length;
      await expectGrad(
        [
          { name: 'x', dims: c.data },
          { name: 'i', dims: c.indexDims, dtype: 'int64', data: int64Data(c.indices) },
          { name: 'u', dims: c.indexDims },
        ],
        (b, [x, i, u]) => [b.op1('ScatterElements', [x!, int32 ? b.op1('Cast', [i!], { to: 6 }) : i!, u!], { axis })],
        { opset, seed: 32400 + trial, directions: 2 },
      );
    }
  });

  it('reduction add with repeated indices (opsets 16, 18)', async () => {
    const rng = new Random(325);
    for (let trial = 0; trial < 6; trial++) {
      const c = elementsCase(rng, true, trial % 2 === 0);
      await expectGrad(
        [
          { name: 'x', dims: c.data },
          { name: 'i', dims: c.indexDims, dtype: 'int64', data: int64Data(c.indices) },
          { name: 'u', dims: c.indexDims },
        ],
        (b, [x, i, u]) => [b.op1('ScatterElements', [x!, i!, u!], { axis: c.axis, reduction: 'add' })],
        { opset: trial % 2 === 0 ? 16 : 18, seed: 32500 + trial, directions: 2 },
      );
    }
  });

  it('a wrong ScatterElements rule (updates read along the wrong axis) is caught', async () => {
    await withBrokenRule(
      scatterElementsRule,
      (ctx, right) => ({ ...right, 2: ctx.emit.op1('GatherElements', [ctx.outputGrad(0)!, ctx.node.inputs[1]!], { axis: 0 }) }),
      () =>
        expectGrad(
          [
            { name: 'x', dims: [3, 3] },
            { name: 'i', dims: [3, 2], dtype: 'int64', data: int64Data([2, 0, 1, 2, 0, 1]) },
            { name: 'u', dims: [3, 2] },
          ],
          (b, [x, i, u]) => [b.op1('ScatterElements', [x!, i!, u!], { axis: 1 })],
          { opset: 13, seed: 1 },
        ),
    );
  });
});
