import { describe, expect, it } from 'vitest';
import type { Model } from '../../src/onnx/model.js';
import type { Node } from '../../src/onnx/node.js';
import { tensorTypeOf } from '../../src/onnx/value-info.js';
import { rewrite } from '../../src/rewrite/rewrite.js';
import type { LayerRef } from '../../src/rewrite/types.js';
import { cnnCase, encoderDecoderCase, mlpCase, partialReachCase, splitCase, trainingBnCase, type MultiTaskCase } from './helpers/graphs.js';
import { parameterOwners } from './helpers/layers.js';
import { verify } from '../../src/rewrite/verify.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { makeValueInfo } from '../../src/onnx/value-info.js';

function layers(c: MultiTaskCase, ...names: string[]): LayerRef[] {
  const all = parameterOwners(c.model.graph);
  return names.map((n) => {
    const l = all.find((x) => x.name === n);
    if (!l) throw new Error(`no layer ${n}`);
    return l;
  });
}

function node(m: Model, name: string): Node {
  const n = m.graph.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name} (have ${m.graph.nodes.map((x) => x.name).join(', ')})`);
  return n;
}

function nodeNames(m: Model): string[] {
  return m.graph.nodes.map((n) => n.name);
}

describe('rewrite structure', () => {
  it('MLP: a branched Gemm gets per-task weights; downstream clones share the later weights', async () => {
    const c = mlpCase(2);
    const { model, summary } = rewrite(c.model, { layers: layers(c, 'fc1'), tasks: c.tasks });
    expect(nodeNames(model)).not.toContain('fc1');
    expect(node(model, 'fc1__t0').inputs).toEqual(['x', 'fc1.weight__t0', 'fc1.bias__t0']);
    expect(node(model, 'fc1__t1').inputs).toEqual(['x', 'fc1.weight__t1', 'fc1.bias__t1']);
    expect(node(model, 'fc2__t0').inputs).toEqual(['relu1_out__t0', 'fc2.weight']);
    expect(node(model, 'fc2__t1').inputs).toEqual(['relu1_out__t1', 'fc2.weight']);
    // The shape computation reads a per-task activation, so it is replicated too.
    expect(node(model, 'shape__t0').inputs).toEqual(['tanh2_out__t0']);
    expect(node(model, 'flatten__t1').inputs).toEqual(['tanh2_out__t1', 'flat_shape_out__t1']);
    // Heads reach one task: kept under their names, reading their task's branch.
    expect(node(model, 'head0').inputs).toEqual(['flatten_out__t0', 'head0.weight', 'head0.bias']);
    expect(node(model, 'head1').outputs).toEqual(['task1']);
    const g = model.graph;
    expect(g.initializers.has('fc1.weight')).toBe(false);
    expect([...g.initializers.get('fc1.weight__t1')!.data('float32')]).toEqual([...c.model.graph.initializers.get('fc1.weight')!.data('float32')]);
    expect(summary.branched).toEqual([
      {
        name: 'fc1',
        nodes: ['fc1'],
        tasks: ['t0', 't1'],
        params: [
          { original: 'fc1.weight', copies: { t0: 'fc1.weight__t0', t1: 'fc1.weight__t1' } },
          { original: 'fc1.bias', copies: { t0: 'fc1.bias__t0', t1: 'fc1.bias__t1' } },
        ],
      },
    ]);
    expect(summary.valueOrigins['relu1_out__t1']).toBe('relu1_out');
    expect((await verify(c.model, model)).ok).toBe(true);
  });

  it('CNN: a branched BN copies scale, bias and running statistics; MaxPool indices follow their branch', () => {
    const c = cnnCase('used');
    const { model } = rewrite(c.model, { layers: layers(c, 'bn1'), tasks: c.tasks });
    expect(node(model, 'bn1__seg').inputs).toEqual(['conv1_out', 'bn1.weight__seg', 'bn1.bias__seg', 'bn1.running_mean__seg', 'bn1.running_var__seg']);
    for (const p of ['weight', 'bias', 'running_mean', 'running_var']) expect(model.graph.initializers.has(`bn1.${p}`)).toBe(false);
    expect(node(model, 'conv1').inputs).toEqual(['x', 'conv1.weight', 'conv1.bias']);
    expect(node(model, 'pool__cls').outputs).toEqual(['pool_out0__cls', 'pool_out1__cls']);
    expect(node(model, 'unpool__cls').inputs).toEqual(['relu3_out__cls', 'pool_out1__cls']);
    expect(node(model, 'residual__seg').inputs).toEqual(['bn3_out__seg', 'pool_out0__seg']);
  });

  it('CNN: a residual Add pairs the per-task branch with the shared skip', () => {
    const c = cnnCase('dangling');
    const { model } = rewrite(c.model, { layers: layers(c, 'conv3'), tasks: c.tasks });
    expect(node(model, 'residual__seg').inputs).toEqual(['bn3_out__seg', 'pool_out0']);
    expect(node(model, 'residual__cls').inputs).toEqual(['bn3_out__cls', 'pool_out0']);
    expect(node(model, 'pool').outputs).toEqual(['pool_out0', 'pool_out1']);
    expect(node(model, 'bn3__cls').inputs.slice(1)).toEqual(['bn3.weight', 'bn3.bias', 'bn3.running_mean', 'bn3.running_var']);
  });

  it('encoder–decoder: skip Concat and attention Mul mix per-task and shared inputs', () => {
    const c = encoderDecoderCase();
    const { model } = rewrite(c.model, { layers: layers(c, 'enc2'), tasks: c.tasks });
    for (const t of ['depth', 'cls', 'edge']) expect(node(model, `skip_cat__${t}`).inputs).toEqual([`up_out__${t}`, 'enc1_relu_out']);
    // The attention path reaches the edge task only: kept, reading that task's decoder output.
    expect(node(model, 'att_mul').inputs).toEqual(['dec_relu_out__edge', 'att_sigmoid_out']);
    expect(node(model, 'shape').inputs).toEqual(['dec_relu_out__cls']);
    expect(nodeNames(model)).not.toContain('shape__cls');
  });

  it('partial reach: a layer reaching 2 of 3 tasks is copied twice; a graph output read by another head is per task', () => {
    const c = partialReachCase();
    const { model } = rewrite(c.model, { layers: layers(c, 'fc1'), tasks: c.tasks });
    expect(['fc1__A', 'fc1__B', 'fc1__C'].every((n) => nodeNames(model).includes(n))).toBe(true);
    expect(node(model, 'head_c').inputs[0]).toBe('relu1_out__C');
    expect(nodeNames(model)).toContain('fc2__B');
    expect(nodeNames(model)).not.toContain('fc2__C');
    expect(node(model, 'fc2__A').inputs).toEqual(['relu1_out__A', 'fc2.weight', 'fc2.bias']);
    expect(node(model, 'head_a__A').outputs).toEqual(['out_a']);
    expect(node(model, 'head_a__B').outputs).toEqual(['out_a__B']);
    expect(node(model, 'cat_b').inputs).toEqual(['relu2_out__B', 'out_a__B']);
    const info = new Map(model.graph.valueInfo.map((vi) => [vi.name, tensorTypeOf(vi)]));
    expect(info.get('relu2_out__A')).toEqual({ dtype: 'float32', dims: ['N', 8] });
    expect(info.get('out_a__B')).toEqual({ dtype: 'float32', dims: ['N', 3] });
    expect(info.has('relu2_out')).toBe(false);

    const second = rewrite(c.model, { layers: layers(c, 'fc2'), tasks: c.tasks }).model;
    expect(second.graph.initializers.has('fc2.weight__C')).toBe(false);
    expect(node(second, 'head_c').inputs[0]).toBe('relu1_out');
  });

  it('Split: each clone produces every output; consumers pick their task', () => {
    const c = splitCase();
    const { model } = rewrite(c.model, { layers: layers(c, 'fc1'), tasks: c.tasks });
    expect(node(model, 'split__b').outputs).toEqual(['split_out0__b', 'split_out1__b']);
    expect(node(model, 'split__a').inputs).toEqual(['relu1_out__a', 'split_sizes']);
    expect(node(model, 'head_a').inputs[0]).toBe('split_out0__a');
    expect(node(model, 'halves').inputs).toEqual(['split_out0__c', 'split_out1__c']);
  });

  it('training-mode BN: all three outputs get per-task names', () => {
    const c = trainingBnCase();
    const { model } = rewrite(c.model, { layers: layers(c, 'bn1'), tasks: c.tasks });
    expect(node(model, 'bn1__v').outputs).toEqual(['bn1_out0__v', 'bn1_out1__v', 'bn1_out2__v']);
  });

  it('a taken name gets a numeric suffix; opset and IR version are kept', () => {
    const c = mlpCase(2);
    const g = c.model.graph;
    g.initializers.set('fc1.weight__t0', g.initializers.get('fc1.weight')!.renamed('fc1.weight__t0'));
    g.nodes.find((n) => n.name === 'relu1')!.name = 'fc1__t1';
    const { model } = rewrite(c.model, { layers: layers(c, 'fc1'), tasks: c.tasks });
    expect(node(model, 'fc1__t0').inputs[1]).toBe('fc1.weight__t0_1');
    expect(node(model, 'fc1__t1_1').inputs[1]).toBe('fc1.weight__t1');
    expect(node(model, 'fc1__t1__t1').inputs).toEqual(['fc1_out__t1']);
    expect(model.graph.initializers.has('fc1.weight__t0')).toBe(true);
    expect(model.opset()).toBe(13);
    expect(model.irVersion).toBe(c.model.irVersion);
  });
  it('an initializer shared by two selected layers gets copies for each; one read outside the selection stays', async () => {
    const c = partialReachCase();
    const g = c.model.graph;
    // An exporter merging equal tensors: fc2 reads fc1's bias (both [8]).
    g.initializers.set('fc2.bias', g.initializers.get('fc1.bias')!.renamed('fc2.bias'));
    node(c.model, 'fc2').inputs[2] = 'fc1.bias';
    g.initializers.delete('fc2.bias');
    const fc1 = { name: 'fc1', nodes: ['fc1'], params: ['fc1.weight', 'fc1.bias'] };
    const fc2 = { name: 'fc2', nodes: ['fc2'], params: ['fc2.weight', 'fc1.bias'] };
    const both = rewrite(c.model, { layers: [fc1, fc2], tasks: c.tasks });
    expect(node(both.model, 'fc1__A').inputs[2]).toBe('fc1.bias__A');
    expect(node(both.model, 'fc2__A').inputs[2]).toBe('fc1.bias__A_1');
    expect(both.summary.branched[1]!.params[1]).toEqual({ original: 'fc1.bias', copies: { A: 'fc1.bias__A_1', B: 'fc1.bias__B_1' } });
    expect(both.model.graph.initializers.has('fc1.bias')).toBe(false);
    expect((await verify(c.model, both.model)).ok).toBe(true);

    const one = rewrite(c.model, { layers: [fc1], tasks: c.tasks }).model;
    expect(node(one, 'fc2__A').inputs[2]).toBe('fc1.bias');
    expect(one.graph.initializers.has('fc1.bias')).toBe(true);
    expect((await verify(c.model, one)).ok).toBe(true);
  });

  it('a parameter read through an Identity alias (PyTorch dedup) is branched with the alias', async () => {
    const c = mlpCase(2);
    const b = new GraphBuilder(c.model.graph);
    const alias = b.op1('Identity', ['fc1.bias'], {}, { name: 'fc1_bias_alias' });
    c.model.graph.nodes.unshift(c.model.graph.nodes.pop()!);
    node(c.model, 'fc1').inputs[2] = alias;
    const layer = { name: 'fc1', nodes: ['fc1_bias_alias', 'fc1'], params: ['fc1.weight', 'fc1.bias'] };
    const { model } = rewrite(c.model, { layers: [layer], tasks: c.tasks });
    expect(node(model, 'fc1_bias_alias__t1').inputs).toEqual(['fc1.bias__t1']);
    expect(node(model, 'fc1__t1').inputs).toEqual(['x', 'fc1.weight__t1', 'fc1_bias_alias_out__t1']);
    expect((await verify(c.model, model)).ok).toBe(true);
  });

  it('a branched parameter listed as a graph input (IR < 4 style) leaves the inputs', async () => {
    const c = mlpCase(2);
    c.model.graph.inputs.push(makeValueInfo('fc1.weight', 'float32', [16, 8]), makeValueInfo('fc2.weight', 'float32', [16, 12]));
    const { model } = rewrite(c.model, { layers: layers(c, 'fc1'), tasks: c.tasks });
    expect(model.graph.inputNames).toEqual(['x', 'fc2.weight']);
    expect((await verify(c.model, model)).ok).toBe(true);
  });
});
