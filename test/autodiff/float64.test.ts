import { describe, it } from 'vitest';
import { Random } from '../../src/util/random.js';
import { expectGrad, randomShape } from './rule-test-util.js';

/**
 * Backward graphs of float64 models: every constant a rule emits must be float64 too, or
 * onnxruntime refuses the graph ("bound to different types"). Each op is fed a double tensor
 * (Cast of the float32 test input) and checked against finite differences.
 */
describe('float64 graphs', () => {
  const double = (b: Parameters<Parameters<typeof expectGrad>[1]>[0], x: string): string => b.op1('Cast', [x], { to: 11 });

  // onnxruntime's CPU provider has no double AveragePool or GlobalAveragePool kernel (the forward cannot run either).
  it('MaxPool (overlapping and strided windows)', async () => {
    const rng = new Random(81);
    for (const op of ['MaxPool']) {
      await expectGrad(
        [{ name: 'x', dims: [2, 3, 5, 5] }],
        (b, [x]) => [b.op1(op, [double(b, x!)], op === 'GlobalAveragePool' ? {} : { kernel_shape: [2, 2], strides: [2, 1] })],
        { opset: 18, seed: 81 + Math.floor(rng.uniform() * 100) },
      );
    }
  });

  it('ReduceMean, ReduceSum, ReduceMax (axes as an input, opset 18) and Softmax', async () => {
    const rng = new Random(82);
    for (const op of ['ReduceMean', 'ReduceSum', 'ReduceMax', 'Softmax']) {
      const dims = randomShape(rng, 2, 4, 4);
      await expectGrad(
        [{ name: 'x', dims }],
        (b, [x]) => {
          const x64 = double(b, x!);
          if (op === 'Softmax') return [b.op1(op, [x64], { axis: -1 })];
          return [b.op1(op, [x64, b.int64s('axes', [1])], { keepdims: 1 })];
        },
        { opset: 18, seed: 82 },
      );
    }
  });
});
