import { describe, expect, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { serializeModel } from '../../src/onnx/save.js';
import { makeValueInfo } from '../../src/onnx/value-info.js';
import { RuntimeSession } from '../../src/runtime/session.js';
import type { HostTensor } from '../../src/runtime/ort-tensor.js';
import { batchNormRule, decomposeTrainingBatchNorm, layerNormRule } from '../../src/autodiff/rules/normalization.js';
import { expectGrad, float, randomShape, withBrokenRule, type AttrInput } from './rule-test-util.js';

function positive(rng: Random, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => 0.3 + 2 * rng.uniform());
}

function normal(rng: Random, n: number): Float32Array {
  return rng.fillNormal(new Float32Array(n));
}

/** BN inputs: x [N, C, …], differentiable scale and bias, running statistics as fixed data. */
function bnInputs(rng: Random, dims: number[]) {
  const C = dims[1]!;
  return [
    { name: 'x', dims },
    { name: 'scale', dims: [C] },
    { name: 'bias', dims: [C] },
    { name: 'mean', dims: [C], data: normal(rng, C), differentiate: false },
    { name: 'var', dims: [C], data: positive(rng, C), differentiate: false },
  ];
}

describe('normalization gradients', () => {
  it('BatchNormalization in eval mode (running statistics), ranks 2–5, opsets 9/13/15', async () => {
    const rng = new Random(41);
    for (let trial = 0; trial < 6; trial++) {
      const dims = randomShape(rng, 2, 5, 3, 1);
      const attrs: Record<string, AttrInput> = rng.uniform() < 0.5 ? { epsilon: float(1e-3 + rng.uniform() * 0.1) } : {};
      await expectGrad(bnInputs(rng, dims), (b, names) => [b.op1('BatchNormalization', names, attrs)], {
        opset: [9, 13, 15][trial % 3]!,
        seed: 4100 + trial,
        batchNorm: 'eval',
      });
    }
  });

  it('BatchNormalization with training_mode=1 (opset 15) differentiates through batch statistics', async () => {
    const rng = new Random(42);
    for (let trial = 0; trial < 4; trial++) {
      const dims = randomShape(rng, 2, 4, 3, 2);
      // Training mode requires the running-statistics outputs; only y is differentiated.
      await expectGrad(
        bnInputs(rng, dims),
        (b, names) => [b.op('BatchNormalization', names, { training_mode: 1, momentum: float(0.8) }, { outputCount: 3 })[0]!],
        {
          opset: 15,
          seed: 4200 + trial,
          epsilon: 1e-2,
        },
      );
    }
  });

  it('decomposeTrainingBatchNorm matches onnxruntime training-mode BatchNormalization and exposes batch statistics', async () => {
    const rng = new Random(43);
    for (let trial = 0; trial < 4; trial++) {
      const dims = randomShape(rng, 2, 4, 3, 2);
      const C = dims[1]!;
      const n = dims.reduce((a, d) => a * d, 1);
      const feeds: Record<string, HostTensor> = {
        x: { dtype: 'float32', dims, data: normal(rng, n) },
        scale: { dtype: 'float32', dims: [C], data: normal(rng, C) },
        bias: { dtype: 'float32', dims: [C], data: normal(rng, C) },
        mean: { dtype: 'float32', dims: [C], data: normal(rng, C) },
        var: { dtype: 'float32', dims: [C], data: positive(rng, C) },
      };
      const epsilon = 1e-5 + 0.01 * rng.uniform();
      const build = (): { b: GraphBuilder; node: ReturnType<GraphBuilder['graph']['nodes']['at']> } => {
        const b = new GraphBuilder();
        for (const [k, v] of Object.entries(feeds)) b.input(k, 'float32', v.dims);
        b.op(
          'BatchNormalization',
          ['x', 'scale', 'bias', 'mean', 'var'],
          { epsilon: float(epsilon), momentum: float(0.7), training_mode: 1 },
          { outputs: ['y', 'rm', 'rv'] },
        );
        for (const o of ['y', 'rm', 'rv']) b.graph.outputs.push(makeValueInfo(o, 'float32', undefined));
        return { b, node: b.graph.nodes.at(-1) };
      };
      const run = async (g: GraphBuilder, outputs: string[]): Promise<Record<string, HostTensor>> => {
        const session = await RuntimeSession.create(serializeModel(g.model(15)), { graphOptimizationLevel: 'disabled' });
        try {
          return await session.run(feeds, outputs);
        } finally {
          await session.release();
        }
      };
      const reference = await run(build().b, ['y', 'rm', 'rv']);
      // Fused (one node, for the CPU provider) and primitive (standard ops, for the CUDA provider).
      for (const primitive of [false, true]) {
        const { b, node } = build();
        const stats = decomposeTrainingBatchNorm(b.graph, node!, 15, { primitive });
        const bns = b.graph.nodes.filter((x) => x.opType === 'BatchNormalization');
        if (primitive) expect(bns.length).toBe(0);
        else {
          // One training-mode node with momentum 0 that reads no running statistics (onnxruntime
          // writes the statistics outputs into the buffers of inputs 3 and 4).
          expect(bns.length).toBe(1);
          expect(bns[0]!.attrs.int('training_mode', 0)).toBe(1);
          expect(bns[0]!.attrs.float('momentum', 0.9)).toBe(0);
          expect(bns[0]!.inputs.slice(3).some((v) => v === 'mean' || v === 'var')).toBe(false);
        }
        b.graph.outputs.push({ name: stats.mean }, { name: stats.variance }, { name: stats.unbiasedVar });
        const ours = await run(b, ['y', 'rm', 'rv', stats.mean, stats.variance, stats.unbiasedVar]);
        const close = (a: HostTensor, r: ArrayLike<number>, tol: number): void => {
          const d = a.data as Float32Array;
          expect(d.length).toBe(r.length);
          for (let i = 0; i < d.length; i++) expect(Math.abs(d[i]! - r[i]!)).toBeLessThan(tol * (1 + Math.abs(r[i]!)));
        };
        close(ours['y']!, reference['y']!.data as Float32Array, 1e-5);
        close(ours['rm']!, reference['rm']!.data as Float32Array, 1e-5);
        close(ours['rv']!, reference['rv']!.data as Float32Array, 1e-5);
        // Batch statistics computed here in float64, as PyTorch defines them.
        const x = feeds['x']!.data as Float32Array;
        const per = n / C;
        const inner = dims.slice(2).reduce((a, d) => a * d, 1);
        for (let c = 0; c < C; c++) {
          const vals: number[] = [];
          for (let i = 0; i < dims[0]!; i++) for (let j = 0; j < inner; j++) vals.push(x[(i * C + c) * inner + j]!);
          const m = vals.reduce((a, v) => a + v, 0) / per;
          const ss = vals.reduce((a, v) => a + (v - m) ** 2, 0);
          expect((ours[stats.mean]!.data as Float32Array)[c]).toBeCloseTo(m, 5);
          expect((ours[stats.variance]!.data as Float32Array)[c]).toBeCloseTo(ss / per, 5);
          expect((ours[stats.unbiasedVar]!.data as Float32Array)[c]).toBeCloseTo(ss / (per - 1), 5);
        }
      }
    }
  });

  it('decomposeTrainingBatchNorm gradients match finite differences (opset 13, 15 and 18; fused and primitive)', async () => {
    const rng = new Random(44);
    for (let trial = 0; trial < 6; trial++) {
      const dims = randomShape(rng, 2, 5, 3, 2);
      // Opset 13 has no training_mode: the standard-op decomposition; from 14 both forms.
      const opset = [15, 18, 13][trial % 3]!;
      const primitive = trial % 2 === 1;
      await expectGrad(
        bnInputs(rng, dims),
        (b, names) => {
          const [y] = b.op('BatchNormalization', names, { epsilon: float(1e-3) });
          decomposeTrainingBatchNorm(b.graph, b.graph.nodes.at(-1)!, opset, { primitive });
          return [y!];
        },
        { opset, seed: 4400 + trial, epsilon: 1e-2 },
      );
    }
  });

  it('decomposed BN leaves shared initializers intact across runs at every optimisation level', async () => {
    // Two BNs whose scale and running_var are ones and bias and running_mean zeros: onnxruntime
    // deduplicates equal initializers, so a kernel writing into its running-statistics inputs
    // would corrupt the other node's scale (and the next run).
    const rng = new Random(49);
    const dims = [3, 2, 4];
    const n = 24;
    const x = normal(rng, n).map((v, i) => v + (i % 8 < 4 ? 3 : -1));
    const build = (opset: number): GraphBuilder => {
      const b = new GraphBuilder();
      b.input('x', 'float32', dims);
      const ones = (name: string): string => b.constant(name, 'float32', [2], Float32Array.of(1, 1));
      const zeros = (name: string): string => b.constant(name, 'float32', [2], Float32Array.of(0, 0));
      const [h] = b.op('BatchNormalization', ['x', ones('s1'), zeros('b1'), zeros('m1'), ones('v1')], {});
      b.op('BatchNormalization', [b.op1('Mul', [h!, b.scalar('k', 2)]), ones('s2'), zeros('b2'), zeros('m2'), ones('v2')], {}, { outputs: ['y'] });
      for (const node of b.graph.nodes.filter((v) => v.opType === 'BatchNormalization')) decomposeTrainingBatchNorm(b.graph, node, opset);
      b.graph.outputs.push(makeValueInfo('y', 'float32', dims));
      return b;
    };
    const reference = async (): Promise<Float32Array> => {
      const session = await RuntimeSession.create(serializeModel(build(13).model(13)), { graphOptimizationLevel: 'disabled' });
      try {
        return (await session.run({ x: { dtype: 'float32', dims, data: x } }))['y']!.data as Float32Array;
      } finally {
        await session.release();
      }
    };
    const expected = await reference();
    for (const level of ['disabled', 'basic', 'all'] as const) {
      const session = await RuntimeSession.create(serializeModel(build(15).model(15)), { graphOptimizationLevel: level });
      try {
        for (let run = 0; run < 2; run++) {
          const y = (await session.run({ x: { dtype: 'float32', dims, data: x } }))['y']!.data as Float32Array;
          for (let i = 0; i < n; i++) expect(Math.abs(y[i]! - expected[i]!), `${level}, run ${run}, element ${i}`).toBeLessThan(1e-4);
        }
      } finally {
        await session.release();
      }
    }
  });

  it('LayerNormalization (opset 17/18): any axis, with and without bias, epsilon', async () => {
    const rng = new Random(45);
    for (let trial = 0; trial < 8; trial++) {
      const dims = randomShape(rng, 1, 4, 4, 2);
      const axis = rng.int(2 * dims.length) - dims.length;
      const normalized = dims.slice(axis < 0 ? axis + dims.length : axis);
      // Scale/bias: the full normalised shape, or a broadcastable suffix of it.
      const paramShape = trial % 3 === 2 ? normalized.map((d, i) => (i === 0 ? 1 : d)) : normalized;
      const withBias = trial % 2 === 0;
      const attrs: Record<string, AttrInput> = { axis };
      if (rng.uniform() < 0.5) attrs.epsilon = float(0.01 + 0.1 * rng.uniform());
      const inputs = [
        { name: 'x', dims },
        { name: 'scale', dims: paramShape },
      ];
      if (withBias) inputs.push({ name: 'bias', dims: paramShape });
      await expectGrad(inputs, (b, names) => [b.op1('LayerNormalization', names, attrs)], {
        opset: trial < 4 ? 17 : 18,
        seed: 4500 + trial,
        epsilon: 1e-2,
      });
    }
  });

  it('LayerNormalization Mean and InvStdDev outputs carry gradients', async () => {
    const rng = new Random(46);
    for (const outputs of [[0, 1, 2], [1], [2], [1, 2]]) {
      // Without Y, scale and bias do not reach the loss: hold them fixed.
      const params = outputs.includes(0) ? {} : { differentiate: false };
      await expectGrad(
        [
          { name: 'x', dims: [2, 3, 4] },
          { name: 'scale', dims: [4], data: normal(rng, 4), ...params },
          { name: 'bias', dims: [4], data: normal(rng, 4), ...params },
        ],
        (b, names) => {
          const outs = b.op('LayerNormalization', names, { axis: -1, epsilon: float(0.05) }, { outputCount: 3 });
          return outputs.map((i) => outs[i]!);
        },
        { opset: 17, seed: 46, epsilon: 1e-2 },
      );
    }
  });

  it('InstanceNormalization: x, scale and bias', async () => {
    const rng = new Random(47);
    for (let trial = 0; trial < 5; trial++) {
      const dims = randomShape(rng, 3, 5, 3, 2);
      const C = dims[1]!;
      await expectGrad(
        [
          { name: 'x', dims },
          { name: 'scale', dims: [C] },
          { name: 'bias', dims: [C] },
        ],
        (b, names) => [b.op1('InstanceNormalization', names, rng.uniform() < 0.5 ? { epsilon: float(0.02) } : {})],
        { opset: trial % 2 === 0 ? 13 : 18, seed: 4700 + trial, epsilon: 1e-2 },
      );
    }
  });

  it('a wrong BatchNormalization or LayerNormalization rule is caught', async () => {
    const rng = new Random(48);
    await withBrokenRule(
      batchNormRule,
      (ctx, right) => ({ ...right, 1: ctx.emit.mul(right[1]!, ctx.emit.scalar(1.01)) }),
      () => expectGrad(bnInputs(rng, [2, 3, 2]), (b, n) => [b.op1('BatchNormalization', n)], { opset: 15, seed: 1, batchNorm: 'eval' }),
    );
    // Dropping the terms through the statistics (treating mean and variance as constants).
    await withBrokenRule(
      layerNormRule,
      (ctx, right) => ({
        ...right,
        0: ctx.emit.mul(
          ctx.emit.mul(ctx.outputGrad(0)!, ctx.node.inputs[1]!),
          ctx.emit.op1('Reciprocal', [ctx.emit.op1('Sqrt', [ctx.emit.reduceMean(ctx.emit.op1('Mul', [ctx.node.inputs[0]!, ctx.node.inputs[0]!]), [1], true)])]),
        ),
      }),
      () =>
        expectGrad(
          [
            { name: 'x', dims: [3, 4] },
            { name: 'scale', dims: [4] },
          ],
          (b, n) => [b.op1('LayerNormalization', n)],
          { opset: 17, seed: 1 },
        ),
    );
  });
});
