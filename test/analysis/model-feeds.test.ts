import { describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../src/analysis/task-spec.js';
import { makeDataset } from '../../src/data/dataset.js';
import { checkDataset, planFeeds } from '../../src/analysis/model-feeds.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import type { Model } from '../../src/onnx/model.js';
import { createGradientSession } from '../../src/conflict/gradient-session.js';

const CLASSES = 10;
const VOCAB = 7;

/** Token ids [N,3] → 7-row embedding → mean over tokens → two 10-class heads. */
function tokenModel(): Model {
  const b = new GraphBuilder();
  const ids = b.input('ids', 'int64', ['N', 3]);
  const table = b.initializer(
    'emb.weight',
    'float32',
    [VOCAB, 4],
    Float32Array.from({ length: VOCAB * 4 }, (_, i) => Math.sin(i)),
  );
  const embedded = b.op1('Gather', [table, ids], {}, { name: 'embed' });
  const pooled = b.op1('ReduceMean', [embedded], { axes: [1], keepdims: 0 }, { name: 'pool' });
  for (const t of ['A', 'B']) {
    const w = b.initializer(
      `${t}.weight`,
      'float32',
      [4, CLASSES],
      Float32Array.from({ length: 4 * CLASSES }, (_, i) => Math.cos(i + t.length)),
    );
    b.op1('MatMul', [pooled, w], {}, { name: `head${t}`, outputs: [t] });
    b.output(t, 'float32', ['N', CLASSES]);
  }
  return b.model(13);
}

const tasks: TaskSpec[] = ['A', 'B'].map((t) => ({ name: t, output: t, loss: 'cross_entropy', target: `${t}_target`, weight: 1, ignoreIndex: -1 }));

function data(ids: bigint[], labelsA: bigint[], labelsB = labelsA) {
  return makeDataset(
    {
      ids: { dtype: 'int64', dims: [ids.length / 3, 3], data: BigInt64Array.from(ids) },
      A_target: { dtype: 'int64', dims: [labelsA.length], data: BigInt64Array.from(labelsA) },
      B_target: { dtype: 'int64', dims: [labelsB.length], data: BigInt64Array.from(labelsB) },
    },
    'd.npz',
  );
}

describe('checkDataset validates values before any work', () => {
  const model = tokenModel();
  const plan = planFeeds(model, tasks);

  it('finds the embedding table behind the token-id input and the class count of each task', () => {
    expect(plan.inputs[0]!.indexRange).toEqual({ rows: VOCAB, node: 'embed', table: 'emb.weight' });
    expect(plan.targets.map((t) => t.labels)).toEqual([
      { task: 'A', classes: CLASSES, ignoreIndex: -1 },
      { task: 'B', classes: CLASSES, ignoreIndex: -1 },
    ]);
  });

  it('accepts labels 0…9 and the ignore index, token ids 0…6', () => {
    expect(() => checkDataset(data([0n, 6n, 3n, 1n, 2n, 5n], [0n, 9n], [-1n, 4n]), plan)).not.toThrow();
  });

  it.each([
    [-5n, 'label -5 at row 1 is outside \\[0, 10\\) and not the ignore index -1'],
    [10n, 'label 10 at row 1 is outside \\[0, 10\\)'],
    [-2n, 'label -2 at row 1'],
  ])('refuses label %s naming array, task and row', (label, expected) => {
    expect(() => checkDataset(data([0n, 1n, 2n, 3n, 4n, 5n], [3n, label]), plan)).toThrow(
      new RegExp(`d\\.npz: array "A_target" \\(targets of task "A", cross_entropy\\): ${expected}`),
    );
  });

  it('a custom ignore index is accepted, and -1 is then an error', () => {
    const custom = tasks.map((t) => ({ ...t, ignoreIndex: 255 }));
    const customPlan = planFeeds(model, custom);
    expect(() => checkDataset(data([0n, 1n, 2n, 3n, 4n, 5n], [255n, 2n]), customPlan)).not.toThrow();
    expect(() => checkDataset(data([0n, 1n, 2n, 3n, 4n, 5n], [-1n, 2n]), customPlan)).toThrow(/label -1 at row 0 .* not the ignore index 255/);
  });

  it.each([
    [7n, 4],
    [-1n, 5],
  ])('refuses token id %s (flat position %i) against the 7-row embedding', (id, position) => {
    const ids = [0n, 1n, 2n, 3n, 4n, 5n];
    ids[position] = id;
    expect(() => checkDataset(data(ids, [1n, 2n]), plan)).toThrow(
      new RegExp(`d\\.npz: array "ids" row 1 holds index ${id}, outside \\[0, 7\\) of the 7-row table "emb\\.weight" \\(Gather "embed"\\)`),
    );
  });

  it('float class labels are refused', () => {
    const d = makeDataset({
      ...Object.fromEntries(data([0n, 1n, 2n, 3n, 4n, 5n], [1n, 2n]).arrays),
      A_target: { dtype: 'float32', dims: [2], data: Float32Array.of(1, 2) },
    });
    expect(() => checkDataset(d, plan)).toThrow(/holds float32 values; class labels must be integers/);
  });

  it('without the check, onnxruntime reads label -5 as class 5 (why the check exists)', async () => {
    const session = createGradientSession(model, tasks);
    try {
      const feeds = (labels: bigint[]) => Object.fromEntries([...data([0n, 1n, 2n, 3n, 4n, 5n], labels).arrays]);
      const negative = await session.run(feeds([3n, -5n]));
      const five = await session.run(feeds([3n, 5n]));
      expect(negative.losses['A']).toBeCloseTo(five.losses['A']!, 6);
    } finally {
      await session.release();
    }
  });
});
