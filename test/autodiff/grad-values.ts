import { GraphBuilder } from '../../src/onnx/builder.js';
import { serializeModel } from '../../src/onnx/save.js';
import { inferShapes } from '../../src/analysis/shapes.js';
import { buildGradients } from '../../src/autodiff/reverse-mode.js';
import { createDefaultRegistry } from '../../src/autodiff/register-all.js';
import { RuntimeSession } from '../../src/runtime/session.js';

/**
 * The gradient of ΣF(x) for fixed float32 data, as numbers: for direct assertions where finite
 * differences do not apply (a kink such as a zero norm, or a value compared with PyTorch's).
 */
export async function gradientOf(dims: number[], data: Float32Array, body: (b: GraphBuilder, x: string) => string, opset: number): Promise<number[]> {
  const b = new GraphBuilder();
  b.input('x', 'float32', dims);
  const y = body(b, 'x');
  b.op1('ReduceSum', [y], { keepdims: 0 }, { outputs: ['loss'] });
  b.graph.outputs.push({ name: 'loss' });
  const model = b.model(opset);
  const feeds = { x: { dtype: 'float32' as const, dims, data } };
  const shapes = await inferShapes(model, { feeds });
  const { grads } = buildGradients(model, createDefaultRegistry(), { losses: [{ task: 't', value: 'loss' }], wrt: ['x'], shapes });
  const g = grads.get('t')!.get('x')!;
  model.graph.outputs = [{ name: g }];
  const session = await RuntimeSession.create(serializeModel(model), { graphOptimizationLevel: 'disabled' });
  try {
    return Array.from((await session.run(feeds))[g]!.data as Float32Array);
  } finally {
    await session.release();
  }
}
