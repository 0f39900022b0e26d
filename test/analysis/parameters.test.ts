import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/index.js';
import { analyzeModel } from '../../src/analysis/analyze.js';
import { resolveTasks } from '../../src/analysis/task-spec.js';
import { reconRewrite } from '../../src/rewrite/recon.js';

/** Export forms hand-written from what PyTorch 1.13 emits (see test/fixtures/corpus for the real files). */
function floats(n: number, fill = (i: number) => 0.01 * ((i * 37) % 11) - 0.05): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => fill(i));
}

function twoHeads(b: GraphBuilder, h: string, width: number): void {
  for (const t of ['A', 'B']) {
    const w = b.initializer(`head${t}.weight`, 'float32', [2, width], floats(2 * width));
    b.output(b.op1('Gemm', [h, w], { transB: 1 }, { name: `/head${t}/Gemm`, outputs: [t] }), 'float32');
  }
}

describe('parameter discovery through preparing ops', () => {
  it('Linear on rank-3 input: MatMul(x, Transpose(W)) + Add(b) is one layer with both parameters', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 3, 4]);
    const w = b.initializer('enc.fc.weight', 'float32', [5, 4], floats(20));
    const bias = b.initializer('enc.fc.bias', 'float32', [5], floats(5));
    const wt = b.op1('Transpose', [w], { perm: [1, 0] }, { name: '/enc/fc/Transpose' });
    const y = b.op1('Add', [bias, b.op1('MatMul', [x, wt], {}, { name: '/enc/fc/MatMul' })], {}, { name: '/enc/fc/Add' });
    const pooled = b.op1('ReduceMean', [y], { axes: [1], keepdims: 0 });
    twoHeads(b, pooled, 5);
    const model = b.model(13);
    const a = analyzeModel(model, resolveTasks(model));
    const fc = a.layers.find((l) => l.name === 'enc.fc')!;
    expect(fc.params).toEqual(['enc.fc.weight', 'enc.fc.bias']);
    expect(fc.nodes.map((n) => n.opType)).toEqual(['Transpose', 'MatMul', 'Add']);
    expect(fc.shared).toBe(true);
    expect(a.frozen).toEqual([]);
  });

  it('class token (Expand to the batch, Concat), layer-scale gamma, PReLU through Unsqueeze, GroupNorm as InstanceNorm with exporter constants', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 3, 4]);
    const cls = b.initializer('cls_token', 'float32', [1, 1, 4], floats(4));
    // The batch size comes from Shape(x): not data, so the expanded token is still a parameter.
    const n = b.op1('Gather', [b.op1('Shape', [x]), b.int64s('idx0', [0])]);
    const shape = b.op1('Concat', [n, b.int64s('rest', [1, 4])], { axis: 0 });
    const tok = b.op1('Concat', [b.op1('Expand', [cls, shape]), x], { axis: 1 }, { name: '/Concat' });
    const gamma = b.initializer('blocks.0.gamma', 'float32', [4], floats(4));
    const scaled = b.op1('Mul', [tok, gamma], {}, { name: '/blocks.0/Mul' });
    const slope = b.initializer(
      'act.weight',
      'float32',
      [4],
      floats(4, () => 0.25),
    );
    const act = b.op1(
      'PRelu',
      [b.op1('Transpose', [scaled], { perm: [0, 2, 1] }), b.op1('Unsqueeze', [slope, b.int64s('ax', [1])])],
      {},
      { name: '/act/PRelu' },
    );
    // GroupNorm(2 groups, 4 channels) exported at opset 13: InstanceNormalization over the groups
    // with the exporter's ones and zeros, then the module's weight and bias through Unsqueeze.
    const grouped = b.op1('Reshape', [act, b.int64s('g', [0, 2, -1])]);
    const ones = b.initializer(
      'onnx::InstanceNormalization_7',
      'float32',
      [2],
      floats(2, () => 1),
    );
    const zeros = b.initializer(
      'onnx::InstanceNormalization_8',
      'float32',
      [2],
      floats(2, () => 0),
    );
    const normed = b.op1('Reshape', [b.op1('InstanceNormalization', [grouped, ones, zeros], {}, { name: '/gn/InstanceNormalization' }), b.op1('Shape', [act])]);
    const gw = b.initializer('gn.weight', 'float32', [4], floats(4));
    const gb = b.initializer('gn.bias', 'float32', [4], floats(4));
    const ax = b.int64s('ax12', [1]);
    const gn = b.op1(
      'Add',
      [b.op1('Mul', [normed, b.op1('Unsqueeze', [gw, ax])], {}, { name: '/gn/Mul' }), b.op1('Unsqueeze', [gb, ax])],
      {},
      { name: '/gn/Add' },
    );
    twoHeads(b, b.op1('ReduceMean', [gn], { axes: [2], keepdims: 0 }), 4);
    const model = b.model(13);
    const a = analyzeModel(model, resolveTasks(model));
    const byName = new Map(a.layers.map((l) => [l.name, l]));
    expect([...byName.keys()]).toEqual(['cls_token', 'blocks.0.gamma', 'act', 'gn', 'headA', 'headB']);
    expect(byName.get('cls_token')!.op).toBe('Concat');
    expect(byName.get('gn')!.params).toEqual(['gn.weight', 'gn.bias']);
    expect(byName.get('act')!.op).toBe('PRelu');
    expect(a.frozen.map((f) => [f.name, f.kind])).toEqual([
      ['onnx::InstanceNormalization_7', 'exporter-constant'],
      ['onnx::InstanceNormalization_8', 'exporter-constant'],
    ]);
  });

  it('MultiheadAttention-style slices of one parameter are one layer; a tied weight is one layer applied twice; a bias merged by the exporter into two layers is listed as shared', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 4]);
    const inProj = b.initializer('attn.in_proj_weight', 'float32', [8, 4], floats(32));
    const part = (k: number) => b.op1('Slice', [inProj, b.int64s('s', [4 * k]), b.int64s('e', [4 * k + 4]), b.int64s('a', [0])]);
    const q = b.op1('Gemm', [x, part(0)], { transB: 1 }, { name: '/attn/Gemm' });
    const k = b.op1('Gemm', [x, part(1)], { transB: 1 }, { name: '/attn/Gemm_1' });
    const mixed = b.op1('Mul', [q, k]);
    const tied = b.initializer('emb.weight', 'float32', [4, 4], floats(16));
    const h1 = b.op1('MatMul', [mixed, tied], {}, { name: '/proj1/MatMul' });
    const h2 = b.op1('MatMul', [h1, tied], {}, { name: '/proj2/MatMul' });
    // An eval-mode exporter merges equal tensors: two Linear layers reading one zero bias.
    const zero = b.initializer(
      'onnx::Gemm_9',
      'float32',
      [4],
      floats(4, () => 0),
    );
    const l1 = b.op1('Gemm', [h2, b.initializer('onnx::Gemm_10', 'float32', [4, 4], floats(16))], { transB: 1 }, { name: '/l1/Gemm' });
    b.graph.nodes[b.graph.nodes.length - 1]!.inputs.push(zero);
    const l2 = b.op1(
      'Gemm',
      [
        l1,
        b.initializer(
          'onnx::Gemm_11',
          'float32',
          [4, 4],
          floats(16, (i) => 0.02 * (i % 5)),
        ),
        zero,
      ],
      { transB: 1 },
      { name: '/l2/Gemm' },
    );
    twoHeads(b, l2, 4);
    const model = b.model(13);
    const a = analyzeModel(model, resolveTasks(model));
    const attn = a.layers.find((l) => l.name === 'attn')!;
    expect(attn.params).toEqual(['attn.in_proj_weight']);
    expect(attn.nodes.filter((n) => n.opType === 'Gemm')).toHaveLength(2);
    const emb = a.layers.find((l) => l.name === 'emb')!;
    expect(emb.nodes.map((n) => n.name)).toEqual(['/proj1/MatMul', '/proj2/MatMul']);
    expect(a.sharedInitializers).toEqual([{ name: 'onnx::Gemm_9', layers: ['l1', 'l2'] }]);
  });

  it('BN running statistics and Resize scales are frozen, not parameters; parameters never reaching a task are dead layers', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 2, 4, 4]);
    const bn = b.op1(
      'BatchNormalization',
      [
        x,
        ...['weight', 'bias', 'running_mean', 'running_var'].map((p, i) =>
          b.initializer(
            `bn.${p}`,
            'float32',
            [2],
            floats(2, () => (i === 3 ? 1 : 0.5)),
          ),
        ),
      ],
      {},
      { name: '/bn/BatchNormalization' },
    );
    const scales = b.initializer('up.scales', 'float32', [4], Float32Array.of(1, 1, 2, 2));
    const up = b.op1('Resize', [bn, '', scales], { mode: 'nearest' });
    b.op1('Mul', [x, b.initializer('dead.weight', 'float32', [4], floats(4))], {}, { name: '/dead/Mul' });
    twoHeads(b, b.op1('Flatten', [b.op1('GlobalAveragePool', [up])]), 2);
    const model = b.model(13);
    const a = analyzeModel(model, resolveTasks(model));
    expect(a.layers.find((l) => l.name === 'bn')!.params).toEqual(['bn.weight', 'bn.bias']);
    expect(a.layers.find((l) => l.name === 'dead')!.tasks).toEqual([]);
    expect(a.frozen.map((f) => `${f.name}:${f.kind}`).sort()).toEqual([
      'bn.running_mean:non-differentiable',
      'bn.running_var:non-differentiable',
      'up.scales:non-differentiable',
    ]);
  });

  it('rewrite copies a parameter together with its preparation, per task', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 3, 4]);
    const w = b.initializer('fc.weight', 'float32', [4, 4], floats(16));
    const bias = b.initializer('fc.bias', 'float32', [4], floats(4));
    const y = b.op1(
      'Add',
      [b.op1('MatMul', [x, b.op1('Transpose', [w], { perm: [1, 0] }, { name: '/fc/Transpose' })], {}, { name: '/fc/MatMul' }), bias],
      {},
      { name: '/fc/Add' },
    );
    twoHeads(b, b.op1('ReduceMean', [y], { axes: [1], keepdims: 0 }), 4);
    const model = b.model(13);
    const tasks = resolveTasks(model);
    const r = await reconRewrite(model, tasks, ['fc']);
    const g = r.model.graph;
    for (const t of ['A', 'B']) {
      const transpose = g.nodes.find((n) => n.opType === 'Transpose' && n.inputs[0] === `fc.weight__${t}`);
      expect(transpose, `task ${t}'s copy of the weight goes through its own Transpose`).toBeDefined();
      expect(g.initializers.has(`fc.bias__${t}`)).toBe(true);
    }
    expect(g.nodes.some((n) => n.inputs.includes('fc.weight'))).toBe(false);
  });
});
