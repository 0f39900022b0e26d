import { describe, expect, it } from 'vitest';
import { serializeModel } from '../../src/onnx/index.js';
import { RuntimeSession, firstLine } from '../../src/runtime/session.js';
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
