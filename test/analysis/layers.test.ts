import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, loadModel, type Model } from '../../src/onnx/index.js';
import { analyzeModel } from '../../src/analysis/analyze.js';
import { modulePathOf } from '../../src/analysis/layers.js';
import { resolveTasks } from '../../src/analysis/task-spec.js';
import { REFERENCE_MODELS, REFERENCE_OPSETS } from '../../models/reference-models.js';

function analyze(model: Model) {
  return analyzeModel(model, resolveTasks(model));
}

function paramTotals(model: Model) {
  const a = analyze(model);
  let total = 0;
  let shared = 0;
  const perTask: Record<string, number> = {};
  for (const [p, tasks] of a.paramTasks) {
    const n = model.graph.initializers.get(p)!.numel;
    total += n;
    if (tasks.length >= 2) shared += n;
    else {
      const t = a.tasks[tasks[0]!]!.name;
      perTask[t] = (perTask[t] ?? 0) + n;
    }
  }
  return { a, total, shared, perTask };
}

describe('task and layer analysis of the reference models', () => {
  for (const ref of REFERENCE_MODELS) {
    for (const opset of REFERENCE_OPSETS) {
      it(`${ref.name} at opset ${opset}: exact counts`, () => {
        const { a, total, shared, perTask } = paramTotals(ref.build({ opset }));
        expect(total).toBe(ref.expected.parameters);
        expect(shared).toBe(ref.expected.sharedParameters);
        expect(a.sharedLayers).toHaveLength(ref.expected.sharedLayers);
        expect(perTask).toEqual(ref.expected.taskParameters);
        // Every task-specific layer belongs to its task's head.
        for (const l of a.layers.filter((x) => !x.shared)) {
          const task = a.tasks[l.tasks[0]!]!.name;
          expect(`${l.name}.`.startsWith(ref.heads[task]!)).toBe(true);
        }
      });
    }
    it(`${ref.name}: layer names are stable across the opset 13 and 17 builds`, () => {
      const names = (opset: number) => analyze(ref.build({ opset })).layers.map((l) => `${l.name}:${l.shared}`);
      expect(names(13)).toEqual(names(17));
    });
  }

  it('ResNet-18: 41 shared layers (20 conv, 20 BN, fc) in network order, 1,010 parameters per head', () => {
    const { a, shared, perTask } = paramTotals(REFERENCE_MODELS.find((r) => r.name === 'resnet18')!.build({ opset: 17 }));
    expect(shared).toBe(11_221_540);
    expect(perTask).toEqual({ T1: 1010, T2: 1010 });
    const ops = a.sharedLayers.map((l) => l.op);
    expect(ops.filter((o) => o === 'Conv')).toHaveLength(20);
    expect(ops.filter((o) => o === 'BatchNormalization')).toHaveLength(20);
    expect(a.sharedLayers.slice(0, 4).map((l) => l.name)).toEqual(['conv1', 'bn1', 'layer1.0.conv1', 'layer1.0.bn1']);
    expect(a.sharedLayers[a.sharedLayers.length - 1]!.name).toBe('fc');
    const bn = a.layers.find((l) => l.name === 'bn1')!;
    expect(bn.params).toEqual(['bn1.weight', 'bn1.bias']);
  });

  it('MatMul followed by a bias Add is one layer', () => {
    const a = analyze(REFERENCE_MODELS.find((r) => r.name === 'mlp')!.build({ opset: 17 }));
    const fc1 = a.layers.find((l) => l.name === 'fc1')!;
    expect(fc1.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Add']);
    expect(fc1.params).toEqual(['fc1.weight', 'fc1.bias']);
  });
});

describe('PyTorch-exported models group layers exactly as the PyTorch modules', () => {
  const truth = JSON.parse(readFileSync('test/fixtures/torch/multitask.modules.json', 'utf8')) as {
    modules: { module: string; params: { name: string }[] }[];
    exports: Record<string, { params: Record<string, { initializer: string | null; how: string; into?: { conv: string; weight: string; bias: string } }> }>;
  };
  for (const [file, info] of Object.entries(truth.exports)) {
    it(file, () => {
      const model = loadModel(`test/fixtures/torch/${file}`);
      const a = analyze(model);
      const expected = new Map<string, Set<string>>();
      for (const m of truth.modules) {
        for (const p of m.params) {
          const where = info.params[p.name]!;
          if (where.how === 'folded') {
            // Eval exports fold BN into the conv: the conv module owns the fused initializers.
            const conv = where.into!.conv;
            expected.set(conv, new Set([...(expected.get(conv) ?? []), where.into!.weight, where.into!.bias]));
          } else {
            expected.set(m.module, new Set([...(expected.get(m.module) ?? []), where.initializer!]));
          }
        }
      }
      const actual = new Map(a.layers.map((l) => [l.name, new Set(l.params)]));
      expect(actual).toEqual(expected);
      expect(a.layers.map((l) => l.name)).toEqual([...expected.keys()]);
      const dedup = Object.values(info.params).filter((p) => p.how === 'dedup');
      expect(a.sharedInitializers.map((s) => s.name)).toEqual(dedup.map((d) => d.initializer));
    });
  }
});

describe('module paths from node names', () => {
  it.each([
    ['/layer1/layer1.0/conv1/Conv', 'layer1.0.conv1'],
    ['/backbone/block2/downsample/downsample.0/Conv', 'backbone.block2.downsample.0'],
    ['/conv1/Conv', 'conv1'],
    ['/Relu', undefined],
    ['Conv_12', undefined],
  ])('%s → %s', (name, path) => expect(modulePathOf(name)).toBe(path));
});

describe('reachability', () => {
  it('separates shared, task-specific and dead parameters with three tasks', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 4]);
    const w = (n: string, r: number, c: number) => b.initializer(n, 'float32', [r, c], new Float32Array(r * c).fill(0.1));
    const h = b.op1('MatMul', [x, w('trunk.weight', 4, 4)], {}, { name: '/trunk/MatMul' });
    const h12 = b.op1('MatMul', [h, w('pair.weight', 4, 4)], {}, { name: '/pair/MatMul' });
    b.output(b.op1('MatMul', [h12, w('a.weight', 4, 2)], {}, { outputs: ['A'] }), 'float32');
    b.output(b.op1('MatMul', [h12, w('b.weight', 4, 2)], {}, { outputs: ['B'] }), 'float32');
    b.output(b.op1('MatMul', [h, w('c.weight', 4, 2)], {}, { outputs: ['C'] }), 'float32');
    b.op1('MatMul', [h, w('dead.weight', 4, 2)]);
    const model = b.model(17);
    const a = analyzeModel(model, resolveTasks(model));
    const tasksOf = (layer: string) => a.layers.find((l) => l.name === layer)!.tasks;
    expect(tasksOf('trunk')).toEqual([0, 1, 2]);
    expect(tasksOf('pair')).toEqual([0, 1]);
    expect(tasksOf('c')).toEqual([2]);
    expect(tasksOf('dead')).toEqual([]);
    expect(a.sharedLayers.map((l) => l.name)).toEqual(['trunk', 'pair']);
  });
});
