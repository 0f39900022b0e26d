import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildResnet18 } from '../../models/resnet18.js';
import { serializeModel } from '../../src/onnx/save.js';
import { analyzeModel } from '../../src/analysis/analyze.js';
import { resolveTasks } from '../../src/analysis/task-spec.js';

describe('ResNet-18 with more task heads (scaling benchmarks)', () => {
  it('builds T heads on the same trunk; the default is the two-task reference model byte for byte', () => {
    const digest = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
    expect(digest(serializeModel(buildResnet18({ opset: 17, tasks: 2 })))).toBe(digest(serializeModel(buildResnet18({ opset: 17 }))));
    const model = buildResnet18({ opset: 17, tasks: 5 });
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['T1', 'T2', 'T3', 'T4', 'T5']);
    const analysis = analyzeModel(model, resolveTasks(model));
    // The trunk (41 layers, fc included) is shared by all five; each head is its task's own.
    expect(analysis.sharedLayers).toHaveLength(41);
    expect(analysis.layers.filter((l) => !l.shared)).toHaveLength(5);
  });
});
