import { describe, expect, it } from 'vitest';
import { buildResnet18 } from '../../models/resnet18.js';
import { GraphBuilder, float } from '../../src/onnx/builder.js';
import type { Graph } from '../../src/onnx/graph.js';
import { countMacs, countParameters, measureCost, parameterInitializers, summarizeCost } from '../../src/rewrite/cost.js';
import { carryShapes, rewrite } from '../../src/rewrite/rewrite.js';
import { verify } from '../../src/rewrite/verify.js';
import { moduleLayers } from './helpers/modules.js';
import { shapesOf } from './helpers/shapes.js';

const zeros = (n: number) => new Float32Array(n);

describe('parameter count', () => {
  it('counts weights, biases, norm affine parameters, PRelu slopes and Gather tables once each', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 4, 3, 3]);
    const ids = b.input('ids', 'int64', [2]);
    b.initializer('conv.weight', 'float32', [4, 4, 1, 1], zeros(16));
    b.initializer('conv.bias', 'float32', [4], zeros(4));
    const bnParams = ['weight', 'bias', 'running_mean', 'running_var'].map((p) => b.initializer(`bn.${p}`, 'float32', [4], zeros(4)));
    const c1 = b.op1('Conv', [x, 'conv.weight', 'conv.bias'], { kernel_shape: [1, 1] });
    const c2 = b.op1('Conv', [c1, 'conv.weight', 'conv.bias'], { kernel_shape: [1, 1] }); // tied: counted once
    const y = b.op1('BatchNormalization', [c2, ...bnParams]);
    const slope = b.initializer('prelu.slope', 'float32', [4, 1, 1], zeros(4));
    const p = b.op1('PRelu', [y, slope]);
    const flat = b.op1('Reshape', [p, b.int64s('shape', [1, 36])]);
    b.initializer('mm.weight', 'float32', [36, 5], zeros(180));
    const mm = b.op1('Add', [b.op1('MatMul', [flat, 'mm.weight']), b.initializer('mm.bias', 'float32', [5], zeros(5))]);
    const ln = b.op1('LayerNormalization', [mm, b.initializer('ln.weight', 'float32', [5], zeros(5)), b.initializer('ln.bias', 'float32', [5], zeros(5))], {
      epsilon: float(1e-5),
    });
    const emb = b.op1('Gather', [b.initializer('emb.weight', 'float32', [10, 5], zeros(50)), ids]);
    const sum = b.op1('Add', [ln, emb]);
    // A parameter read through an Identity alias (PyTorch's deduplication) still counts, once.
    const alias = b.op1('Identity', ['ln.bias']);
    b.op1('Gemm', [sum, b.initializer('fc.weight', 'float32', [5, 5], zeros(25)), alias], { transB: 1 }, { outputs: ['out'] });
    const g = b.graph;
    expect([...parameterInitializers(g)].sort()).toEqual(
      ['bn.bias', 'bn.weight', 'conv.bias', 'conv.weight', 'emb.weight', 'fc.weight', 'ln.bias', 'ln.weight', 'mm.weight', 'prelu.slope'].sort(),
    );
    expect(countParameters(g)).toBe(16 + 4 + 8 + 4 + 180 + 10 + 50 + 25);
    // The rule is swappable, e.g. to count the Add bias of a MatMul + Add Linear.
    expect(countParameters(g, (n, i, t) => t.dtype === 'float32' && !t.name.includes('running') && (n.opType !== 'Add' || i === 1))).toBe(
      16 + 4 + 8 + 4 + 180 + 5 + 10 + 50 + 25,
    );
  });
});

describe('multiply-accumulates', () => {
  function single(build: (b: GraphBuilder) => void): Graph {
    const b = new GraphBuilder();
    build(b);
    return b.graph;
  }

  it('Conv (grouped), ConvTranspose, Gemm (transA) and MatMul; elementwise ops count 0', () => {
    const conv = single((b) => {
      b.initializer('w', 'float32', [8, 2, 3, 3], zeros(144));
      b.op1('Conv', ['x', 'w'], { group: 2 }, { outputs: ['y'] });
      b.op1('Add', ['y', 'y'], {}, { outputs: ['z'] });
    });
    expect(
      countMacs(
        conv,
        new Map([
          ['x', [1, 4, 6, 6]],
          ['y', [1, 8, 6, 6]],
          ['z', [1, 8, 6, 6]],
        ]),
      ),
    ).toBe(8 * 36 * 2 * 9);

    const deconv = single((b) => {
      b.initializer('w', 'float32', [3, 2, 3, 3], zeros(54));
      b.op1('ConvTranspose', ['x', 'w'], { strides: [2, 2] }, { outputs: ['y'] });
    });
    expect(
      countMacs(
        deconv,
        new Map([
          ['x', [1, 3, 4, 4]],
          ['y', [1, 2, 9, 9]],
        ]),
      ),
    ).toBe(48 * 2 * 9);

    const gemm = single((b) => {
      b.initializer('w', 'float32', [7, 5], zeros(35));
      b.op1('Gemm', ['a', 'w'], { transA: 1, transB: 1 }, { outputs: ['y'] });
    });
    expect(
      countMacs(
        gemm,
        new Map([
          ['a', [5, 1]],
          ['y', [1, 7]],
        ]),
      ),
    ).toBe(35);

    const matmul = single((b) => {
      b.op1('MatMul', ['a', 'b'], {}, { outputs: ['y'] });
    });
    expect(
      countMacs(
        matmul,
        new Map([
          ['a', [1, 3, 4]],
          ['b', [4, 6]],
          ['y', [1, 3, 6]],
        ]),
      ),
    ).toBe(72);
    expect(() => countMacs(matmul, new Map([['a', [1, 3, 4]]]))).toThrow(/no static shape for value "y"/);
  });

  it('summarizes a change', () => {
    expect(summarizeCost({ params: 200, macs: 1000, nodes: 10 }, { params: 250, macs: 1500, nodes: 14 }, ['a'])).toEqual({
      params: { before: 200, after: 250, increasePct: 25 },
      macs: { before: 1000, after: 1500, increasePct: 50 },
      nodesAdded: 4,
      duplicatedLayers: ['a'],
    });
  });
});

/** MACs of Recon's MnistResNet on 1×36×36, worked out by hand from the architecture table. */
function resnet18MacsByHand(): { total: number; heads: number } {
  const conv = (cout: number, hw: number, cin: number, k: number) => cout * hw * hw * cin * k * k;
  let total = conv(64, 18, 1, 7);
  const stages = [
    { c: 64, hw: 9, cin: 64 },
    { c: 128, hw: 5, cin: 64 },
    { c: 256, hw: 3, cin: 128 },
    { c: 512, hw: 2, cin: 256 },
  ];
  for (const s of stages) {
    total += conv(s.c, s.hw, s.cin, 3) + 3 * conv(s.c, s.hw, s.c, 3);
    if (s.cin !== s.c) total += conv(s.c, s.hw, s.cin, 1);
  }
  const heads = 2 * 100 * 10;
  return { total: total + 512 * 100 + heads, heads };
}

const RECON_MNIST_K25 = [
  'bn1',
  'layer1.0.bn1',
  'layer1.1.bn1',
  'layer1.0.bn2',
  'layer1.1.bn2',
  'layer2.0.bn1',
  'layer2.1.bn1',
  'conv1',
  'layer2.0.downsample.1',
  'layer2.0.bn2',
  'layer2.1.bn2',
  'layer1.0.conv1',
  'layer3.0.bn1',
  'layer3.1.bn1',
  'layer4.1.bn1',
  'layer4.0.bn1',
  'layer3.0.downsample.1',
  'layer3.0.bn2',
  'layer4.1.bn2',
  'layer3.1.bn2',
  'layer4.0.bn2',
  'layer4.0.downsample.1',
  'layer1.0.conv2',
  'layer1.1.conv1',
  'layer1.1.conv2',
];

describe('ResNet-18 (Multi-Fashion+MNIST)', () => {
  const model = buildResnet18({ opset: 13 });
  const tasks = [
    { name: 'T1', output: 'T1' },
    { name: 'T2', output: 'T2' },
  ];
  const feeds = { input: { dtype: 'float32' as const, dims: [1, 1, 36, 36], data: new Float32Array(36 * 36) } };
  const layers = moduleLayers(model.graph);

  it('has 78.5M MACs per image, 157.1M with conv1 branched', async () => {
    const hand = resnet18MacsByHand();
    expect(hand.total).toBe(78_549_200);
    const shapes = await shapesOf(model, feeds);
    expect(countMacs(model.graph, shapes)).toBe(hand.total);

    const { model: branched, summary } = rewrite(model, { layers: layers.filter((l) => l.name === 'conv1'), tasks });
    const expected = 2 * (hand.total - hand.heads) + hand.heads;
    expect(expected).toBe(157_096_400);
    expect(countMacs(branched.graph, await shapesOf(branched, feeds))).toBe(expected);
    expect(countMacs(branched.graph, carryShapes(shapes, summary))).toBe(expected);
  });

  it("Recon's published 25-layer selection gives 11,383,752 parameters and unchanged outputs", async () => {
    const selected = RECON_MNIST_K25.map((n) => layers.find((l) => l.name === n)!);
    expect(selected.every((l) => l !== undefined)).toBe(true);
    const { model: out, summary } = rewrite(model, { layers: selected, tasks });
    expect(summary.branched).toHaveLength(25);
    const shapes = await shapesOf(model, feeds);
    const before = measureCost(model.graph, shapes);
    const after = measureCost(out.graph, carryShapes(shapes, summary));
    expect(before.params).toBe(11_223_560);
    expect(after.params).toBe(11_383_752);
    const cost = summarizeCost(
      before,
      after,
      summary.branched.map((b) => b.name),
    );
    expect(cost.params.increasePct).toBeCloseTo(1.427, 3);
    expect(cost.macs.after).toBe(157_096_400);
    expect(cost.duplicatedLayers).toEqual(RECON_MNIST_K25);
    const check = await verify(model, out);
    expect(check.ok, JSON.stringify(check.worst)).toBe(true);
  });
});
