import { describe, expect, it } from 'vitest';
import { GraphBuilder, serializeModel } from '../../src/onnx/index.js';
import type { HostTensor } from '../../src/data/host-tensor.js';
import { RuntimeSession, explainRunFailure, firstLine } from '../../src/runtime/session.js';
import { referenceModel } from '../../models/reference-models.js';

describe('onnxruntime errors as one line', () => {
  it('drops the C++ source location and function signature', () => {
    const raw = '/onnxruntime_src/core/graph/model_load_utils.h:46 void onnxruntime::f(const std::map<int, int>&, bool) Opset 30 is under development.\nstack';
    expect(firstLine(new Error(raw))).toBe('Opset 30 is under development.');
    expect(firstLine(new Error('plain message\nmore'))).toBe('plain message');
  });

  it('a model stamped with an opset newer than onnxruntime-node runs fails with one clear line', async () => {
    const model = referenceModel('mlp').build({ opset: 17 });
    model.opsetImports = model.opsetImports.map((o) => (o.domain === '' ? { ...o, version: 30 } : o));
    const error = await RuntimeSession.create(serializeModel(model)).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('ReconError');
    expect(error?.message).toMatch(/Opset 30 .*till opset \d+/);
    expect(error?.message).not.toMatch(/onnxruntime_src|\n/);
  });
});

describe('session.run failures are one line naming the node, with a hint', () => {
  async function failure(build: (b: GraphBuilder) => void, feeds: Record<string, HostTensor>): Promise<Error | undefined> {
    const b = new GraphBuilder();
    build(b);
    const session = await RuntimeSession.create(serializeModel(b.model(17)));
    try {
      return await session.run(feeds).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    } finally {
      await session.release();
    }
  }

  it('an out-of-range index in a Gather names the node and hints at token ids', async () => {
    const error = await failure(
      (b) => {
        const ids = b.input('ids', 'int64', ['N']);
        b.initializer('emb.weight', 'float32', [10, 3], new Float32Array(30));
        b.op1('Gather', ['emb.weight', ids], {}, { name: '/emb/Gather', outputs: ['y'] });
        b.output('y', 'float32', ['N', 3]);
      },
      { ids: { dtype: 'int64', dims: [2], data: BigInt64Array.of(1n, 12n) } },
    );
    expect(error?.name).toBe('ReconError');
    expect(error?.message).toBe(
      'onnxruntime failed in Gather node "/emb/Gather": indices element out of data bounds, idx=12 must be within the inclusive range [-10,9] (hint: an index is out of range: check token ids against the embedding size and class labels against the number of classes)',
    );
  });

  it('a Reshape that cannot fit loses its C++ source location', async () => {
    const error = await failure(
      (b) => {
        const x = b.input('x', 'float32', ['N', 3]);
        b.op1('Reshape', [x, b.int64s('shape', [4])], {}, { name: 'flatten', outputs: ['y'] });
        b.output('y', 'float32', [4]);
      },
      { x: { dtype: 'float32', dims: [2, 3], data: new Float32Array(6) } },
    );
    expect(error?.name).toBe('ReconError');
    expect(error?.message).toMatch(/^onnxruntime failed in Reshape node "flatten": .*cannot be reshaped.*\(hint: shapes do not fit/);
    expect(error?.message).not.toMatch(/onnxruntime_src|\.h:\d|\.cc:\d|\n/);
  });

  it('a feed of the wrong type is wrapped too', async () => {
    const error = await failure(
      (b) => {
        const x = b.input('x', 'int64', ['N']);
        b.op1('Identity', [x], {}, { name: 'id', outputs: ['y'] });
        b.output('y', 'int64', ['N']);
      },
      { x: { dtype: 'float32', dims: [2], data: new Float32Array(2) } },
    );
    expect(error?.name).toBe('ReconError');
    expect(error?.message).toMatch(/^onnxruntime failed: Unexpected input data type.*\(hint: check the data's dtypes and shapes/);
  });

  it('a label out of range inside a loss names the task', () => {
    const error = explainRunFailure(
      new Error(
        "Non-zero status code returned while running GatherElements node. Name:'loss/T1/GatherElements' Status Message: GatherElements op: Value in indices must be within bounds [-10 , 9]. Actual value is 10",
      ),
    );
    expect(error.message).toBe(
      'onnxruntime failed in GatherElements node "loss/T1/GatherElements": GatherElements op: Value in indices must be within bounds [-10 , 9]. Actual value is 10 (hint: check the targets of task "T1" (class labels in range, shapes matching the output))',
    );
  });
});
