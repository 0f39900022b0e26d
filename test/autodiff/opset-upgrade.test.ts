import { describe, expect, it } from 'vitest';
import { GraphBuilder, float } from '../../src/onnx/builder.js';
import { Graph } from '../../src/onnx/graph.js';
import type { Model } from '../../src/onnx/model.js';
import { serializeModel } from '../../src/onnx/save.js';
import { RuntimeSession } from '../../src/runtime/session.js';
import type { HostTensor } from '../../src/runtime/ort-tensor.js';
import { Random } from '../../src/util/random.js';
import { upgradeOpset } from '../../src/autodiff/opset-upgrade.js';

const pick = <T>(rng: Random, items: readonly T[]): T => items[rng.int(items.length)]!;

/** A small model plus random feeds for it. */
interface Built {
  b: GraphBuilder;
  feeds: Record<string, HostTensor>;
}

function start(rng: Random, inputs: Record<string, number[]>): Built {
  const b = new GraphBuilder();
  const feeds: Record<string, HostTensor> = {};
  for (const [name, dims] of Object.entries(inputs)) {
    b.input(name, 'float32', dims);
    feeds[name] = { dtype: 'float32', dims, data: rng.fillNormal(new Float32Array(dims.reduce((a, d) => a * d, 1))) };
  }
  return { b, feeds };
}

async function run(model: Model, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const session = await RuntimeSession.create(serializeModel(model), { graphOptimizationLevel: 'disabled' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** Runs the model at its opset, upgrades a copy to each target, and compares every output. */
async function expectSameOutputs(built: Built, opset: number, outputs: string[], targets: number[] = [16, 17]): Promise<Model[]> {
  for (const o of outputs) built.b.graph.outputs.push({ name: o });
  const original = built.b.model(opset);
  const before = await run(original, built.feeds);
  const upgraded: Model[] = [];
  for (const target of targets) {
    const copy = built.b.model(opset);
    copy.graph = Graph.fromProto(original.graph.toProto());
    upgradeOpset(copy, target);
    expect(copy.opset('')).toBe(target);
    const after = await run(copy, built.feeds);
    for (const o of outputs) {
      expect(after[o]!.dims, o).toEqual(before[o]!.dims);
      const a = Array.from(after[o]!.data as Float32Array);
      const e = Array.from(before[o]!.data as Float32Array);
      for (let i = 0; i < a.length; i++)
        expect(Math.abs(a[i]! - e[i]!), `${o}[${i}] at opset ${target}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(e[i]!)));
    }
    upgraded.push(copy);
  }
  return upgraded;
}

function opTypes(m: Model): string[] {
  return m.graph.nodes.map((n) => n.opType);
}

describe('upgradeOpset', () => {
  it('ReduceSum, Squeeze, Unsqueeze and Split move their attributes to inputs at 13', async () => {
    const rng = new Random(71);
    for (let trial = 0; trial < 8; trial++) {
      const opset = pick(rng, [11, 12]);
      const built = start(rng, { x: [2, 1, 3, 4] });
      const b = built.b;
      const axes = pick(rng, [[0], [2, 3], [-1], [1, -2], undefined]);
      const r = b.op1('ReduceSum', ['x'], { axes, keepdims: rng.int(2) });
      const sq = b.op1('Squeeze', ['x'], { axes: pick(rng, [[1], [-3]]) });
      const un = b.op1('Unsqueeze', [sq], { axes: pick(rng, [[0], [0, 4], [-1], [1, -1]]) });
      const splitAxis = pick(rng, [2, 3, -1]);
      const size = splitAxis === 2 ? 3 : 4;
      const split = pick(rng, [undefined, size === 3 ? [1, 2] : [1, 3]]);
      const parts = b.op('Split', ['x'], { axis: splitAxis, split }, { outputCount: split ? 2 : size === 3 ? 3 : 2 });
      const [m] = await expectSameOutputs(built, opset, [r, un, ...parts]);
      for (const n of m!.graph.nodes) {
        expect(n.attrs.has('axes') || n.attrs.has('split'), n.opType).toBe(false);
      }
    }
  });

  it('Softmax, LogSoftmax and Hardmax keep their 2-D coercion semantics for every axis', async () => {
    const rng = new Random(72);
    for (const op of ['Softmax', 'LogSoftmax', 'Hardmax']) {
      for (const axis of [undefined, 0, 1, 2, 3, -1, -2, -4]) {
        const opset = pick(rng, [11, 12]);
        const built = start(rng, { x: [2, 3, 2, 3] });
        // Directly on the graph input (rank declared) and after a Relu (rank not declared).
        const direct = built.b.op1(op, ['x'], { axis });
        const hidden = built.b.op1(op, [built.b.op1('Relu', ['x'])], { axis });
        const [m] = await expectSameOutputs(built, opset, [direct, hidden]);
        // axis −1 is the last axis for any rank; 3 only where the rank is declared.
        const flattens = opTypes(m!).filter((t) => t === 'Flatten').length;
        expect(flattens, `${op} axis ${axis}`).toBe(axis === -1 ? 0 : axis === 3 ? 1 : 2);
      }
    }
  });

  it('BatchNormalization: inference form unchanged, training outputs become training_mode=1', async () => {
    const rng = new Random(73);
    const params = (b: GraphBuilder): string[] =>
      ['scale', 'bias', 'mean', 'var'].map((name, i) =>
        b.constant(
          name,
          'float32',
          [3],
          Float32Array.from({ length: 3 }, () => (i === 3 ? 0.5 + rng.uniform() : rng.normal())),
        ),
      );
    const inference = start(rng, { x: [2, 3, 4] });
    const y = inference.b.op1('BatchNormalization', ['x', ...params(inference.b)], { epsilon: float(1e-3) });
    await expectSameOutputs(inference, 11, [y]);

    const training = start(rng, { x: [4, 3, 2, 2] });
    const outs = training.b.op('BatchNormalization', ['x', ...params(training.b)], { momentum: float(0.8) }, { outputCount: 5 });
    const [m] = await expectSameOutputs(training, 13, outs.slice(0, 3), [14, 16]);
    const bn = m!.graph.nodes.find((n) => n.opType === 'BatchNormalization')!;
    expect(bn.outputs).toHaveLength(3);
    expect(bn.attrs.int('training_mode')).toBe(1);

    const reads = start(rng, { x: [4, 3, 2, 2] });
    const outs2 = reads.b.op('BatchNormalization', ['x', ...params(reads.b)], {}, { outputCount: 5 });
    reads.b.graph.outputs.push({ name: reads.b.op1('Relu', [outs2[3]!]) });
    expect(() => upgradeOpset(reads.b.model(11), 16)).toThrow(/saved mean\/variance/);
  });

  it('Dropout ratio, RoiAlign mode; Clip, Pad and Resize-11 forms survive', async () => {
    const rng = new Random(74);
    const built = start(rng, { x: [1, 2, 4, 4] });
    const b = built.b;
    const d = b.op1('Dropout', ['x'], { ratio: float(0.3) });
    const c = b.op1('Clip', [d, b.scalar('lo', -0.5), b.scalar('hi', 0.7)]);
    const p = b.op1('Pad', [c, b.int64s('pads', [0, 0, 1, 0, 0, 0, 0, 2])], { mode: 'reflect' });
    const empty = b.constant('empty', 'float32', [0], new Float32Array(0));
    const r = b.op1('Resize', [p, empty, b.constant('scales', 'float32', [4], Float32Array.of(1, 1, 1.5, 0.5))], { mode: 'linear' });
    const rois = b.constant('rois', 'float32', [2, 4], Float32Array.of(0, 0, 2.5, 2, 1, 0.5, 3, 3.5));
    const idx = b.constant('idx', 'int64', [2], BigInt64Array.of(0n, 0n));
    const roi = b.op1('RoiAlign', ['x', rois, idx], { output_height: 2, output_width: 2, sampling_ratio: 2 });
    const [m] = await expectSameOutputs(built, 11, [r, roi]);
    expect(m!.graph.nodes.find((n) => n.opType === 'Dropout')!.inputs).toHaveLength(2);
    expect(m!.graph.nodes.find((n) => n.opType === 'RoiAlign')!.attrs.string('coordinate_transformation_mode')).toBe('output_half_pixel');
  });

  it('upgrades nodes inside If branches', async () => {
    const rng = new Random(75);
    const built = start(rng, { x: [2, 3] });
    const b = built.b;
    const branch = (axes: number[]): Graph => {
      const g = new GraphBuilder();
      const out = g.op1('Unsqueeze', ['x'], { axes });
      g.graph.outputs.push({ name: out, type: { tensorType: { elemType: 1 } } });
      return g.graph;
    };
    const cond = b.op1('Greater', [b.op1('ReduceSum', ['x'], { keepdims: 0 }), b.scalar('zero', 0)]);
    const y = b.op1('If', [cond], {});
    const node = b.graph.nodes.at(-1)!;
    node.attributeProtos.push({ name: 'then_branch', type: 5, g: branch([0]).toProto() }, { name: 'else_branch', type: 5, g: branch([0]).toProto() });
    const [m] = await expectSameOutputs(built, 12, [y]);
    const then = m!.graph.nodes.find((n) => n.opType === 'If')!.attributeProtos.find((a) => a.name === 'then_branch')!.g!;
    expect(then.node![0]!.input).toHaveLength(2);
  });

  it('refuses sources below 11 and targets above 17; no-op when already there', () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [2]);
    b.graph.outputs.push({ name: b.op1('Relu', ['x']) });
    expect(() => upgradeOpset(b.model(10), 16)).toThrow(/opsets 11 and later/);
    expect(() => upgradeOpset(b.model(13), 18)).toThrow(/stops at opset 17/);
    const m = b.model(17);
    upgradeOpset(m, 16);
    expect(m.opset('')).toBe(17);
  });
});
