import { describe, expect, it } from 'vitest';
import { GraphBuilder, serializeModel, type Model } from '../../../src/onnx/index.js';
import { lowerForCuda, lowerMaxUnpool } from '../../../src/autodiff/lower/cuda.js';
import { cloneModel } from '../../../src/autodiff/gradient-graph.js';
import { RuntimeSession } from '../../../src/runtime/session.js';
import type { HostTensor } from '../../../src/runtime/ort-tensor.js';
import { Random } from '../../../src/util/random.js';
import { expectGrad } from '../rule-test-util.js';

/** MaxPool(kernel, stride) → scale → MaxUnpool, optionally with an output_shape input. */
function unpoolModel(dims: number[], kernel: number[], strides: number[], outputShape?: number[]): Model {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', dims);
  b.op1('Relu', [x]);
  const [pooled, indices] = b.op('MaxPool', [x], { kernel_shape: kernel, strides }, { outputCount: 2 });
  const inputs = [b.op1('Mul', [pooled!, b.scalar('s', 1.5)]), indices!];
  if (outputShape) inputs.push(b.int64s('output_shape', outputShape));
  b.output(b.op1('MaxUnpool', inputs, { kernel_shape: kernel, strides }, { name: 'unpool', outputs: ['y'] }), 'float32');
  return b.model(17);
}

async function runY(model: Model, feeds: Record<string, HostTensor>): Promise<Float32Array> {
  const s = await RuntimeSession.create(serializeModel(model), { graphOptimizationLevel: 'disabled' });
  try {
    return (await s.run(feeds))['y']!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe('forward lowerings for the CUDA execution provider', () => {
  it('MaxUnpool → ScatterElements computes what onnxruntime computes (random shapes, non-overlapping windows, output_shape)', async () => {
    const rng = new Random(7);
    for (let trial = 0; trial < 8; trial++) {
      const spatial = 1 + rng.int(2);
      const kernel = Array.from({ length: spatial }, () => 1 + rng.int(3));
      // Without output_shape MaxUnpool's size is (out − 1)·stride + kernel: only then equal to x's.
      const withShape = trial % 2 === 0;
      const strides = kernel.map((k) => (withShape ? k + rng.int(2) : k));
      const inSpatial = strides.map((st, i) => (withShape ? kernel[i]! + rng.int(5) : st * (1 + rng.int(3))));
      const dims = [1 + rng.int(2), 1 + rng.int(3), ...inSpatial];
      const model = unpoolModel(dims, kernel, strides, withShape ? dims : undefined);
      const feeds = { x: { dtype: 'float32' as const, dims, data: rng.fillNormal(new Float32Array(dims.reduce((a, d) => a * d, 1))) } };
      const lowered = cloneModel(model);
      expect(await lowerForCuda(lowered, feeds)).toBe(1);
      expect(lowered.graph.nodes.some((n) => n.opType === 'MaxUnpool')).toBe(false);
      expect(Array.from(await runY(lowered, feeds))).toEqual(Array.from(await runY(model, feeds)));
    }
  });

  it('overlapping windows are left alone (an index may be written twice)', async () => {
    const model = unpoolModel([1, 1, 6], [3], [1]);
    const feeds = { x: { dtype: 'float32' as const, dims: [1, 1, 6], data: Float32Array.of(1, 5, 2, 4, 3, 0) } };
    expect(await lowerForCuda(model, feeds)).toBe(0);
  });

  it('the lowered MaxUnpool differentiates correctly (finite differences)', async () => {
    for (const [dims, kernel] of [
      [
        [2, 3, 4, 6],
        [2, 2],
      ],
      [[1, 2, 7], [3]],
    ] as [number[], number[]][]) {
      await expectGrad(
        [{ name: 'x', dims }],
        (b, [x]) => {
          const [pooled, indices] = b.op('MaxPool', [x!], { kernel_shape: kernel, strides: kernel }, { outputCount: 2 });
          b.op1('MaxUnpool', [pooled!, indices!, b.int64s('shape', dims)], { kernel_shape: kernel, strides: kernel }, { outputs: ['unpooled'] });
          lowerMaxUnpool(b.graph, b.graph.nodes[b.graph.nodes.length - 1]!, dims, 'float32');
          expect(b.graph.nodes.some((n) => n.opType === 'MaxUnpool')).toBe(false);
          return ['unpooled'];
        },
        { opset: 17, seed: 9 },
      );
    }
  });
});
