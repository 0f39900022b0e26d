/**
 * The onnxruntime-training readiness checks pass on a correct rewrite and fail on each kind of
 * damage they exist to catch: a parameter folded into a Constant node, a parameter declared as a
 * graph input, a copy that does not start from its original, a BatchNorm whose form changed.
 */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/load.js';
import { Node } from '../../src/onnx/node.js';
import { Tensor } from '../../src/onnx/tensor.js';
import { makeValueInfo } from '../../src/onnx/value-info.js';
import { readTaskSpecFile } from '../../src/analysis/task-spec.js';
import { reconRewrite } from '../../src/rewrite/recon.js';
import { checkTrainingReadiness } from '../../src/rewrite/training-readiness.js';
import { cloneModel } from '../../src/autodiff/gradient-graph.js';

const CORPUS = 'test/fixtures/corpus/resnet_basic';
const LAYERS = ['layer1.0.bn2', 'layer1.1.conv1'];

async function rewritten() {
  const original = loadModel(`${CORPUS}/resnet_basic_op17_train_nofold.onnx`);
  const tasks = readTaskSpecFile(`${CORPUS}/resnet_basic.tasks.json`);
  const result = await reconRewrite(original, tasks, LAYERS);
  return { original, tasks, result };
}

const statusOf = (r: ReturnType<typeof checkTrainingReadiness>, name: string) => r.checks.find((c) => c.name === name)!.status;

describe('checkTrainingReadiness', () => {
  it('passes a rewrite as the CLI makes it', async () => {
    const { original, tasks, result } = await rewritten();
    const r = checkTrainingReadiness(original, result.model, tasks, result.summary);
    expect(r.checks.every((c) => c.status === 'pass')).toBe(true);
    expect(r.ready).toBe(true);
  });

  it('fails when a per-task copy is folded into a Constant node', async () => {
    const { original, tasks, result } = await rewritten();
    const model = cloneModel(result.model);
    const name = 'layer1.1.conv1.weight__cls';
    const t = model.graph.initializers.get(name)!;
    model.graph.initializers.delete(name);
    model.graph.nodes.unshift(new Node({ name: 'folded', opType: 'Constant', inputs: [], outputs: [name] }).setAttr('value', { kind: 'tensor', value: t }));
    const r = checkTrainingReadiness(original, model, tasks, result.summary);
    expect(statusOf(r, 'parameters-are-trainable-initializers')).toBe('fail');
    expect(r.checks.find((c) => c.name === 'parameters-are-trainable-initializers')!.detail).toContain(name);
    expect(r.ready).toBe(false);
  });

  it('fails when a parameter is also a graph input', async () => {
    const { original, tasks, result } = await rewritten();
    const model = cloneModel(result.model);
    model.graph.inputs.push(makeValueInfo('stem.0.weight', 'float32', model.graph.initializers.get('stem.0.weight')!.dims.slice()));
    expect(statusOf(checkTrainingReadiness(original, model, tasks, result.summary), 'parameters-not-graph-inputs')).toBe('fail');
  });

  it('fails when a copy does not start from its original', async () => {
    const { original, tasks, result } = await rewritten();
    const model = cloneModel(result.model);
    const name = 'layer1.0.bn2.bias__reg';
    const t = model.graph.initializers.get(name)!;
    const data = t.data('float32').slice();
    data[0]! += 1;
    model.graph.initializers.set(name, Tensor.fromArray(name, 'float32', t.dims, data));
    expect(statusOf(checkTrainingReadiness(original, model, tasks, result.summary), 'copies-start-from-originals')).toBe('fail');
  });

  it('fails when a BatchNormalization copy lost the training form its origin had', async () => {
    const { original, tasks, result } = await rewritten();
    const model = cloneModel(result.model);
    const bn = model.graph.nodes.find((n) => n.opType === 'BatchNormalization' && n.inputs[1] === 'layer1.0.bn2.weight__cls')!;
    bn.removeAttr('training_mode');
    bn.outputs = bn.outputs.slice(0, 1);
    const r = checkTrainingReadiness(original, model, tasks, result.summary);
    expect(statusOf(r, 'batchnorm-form-kept')).toBe('fail');
    expect(r.checks.find((c) => c.name === 'batchnorm-form-kept')!.detail).toContain(bn.label);
  });
});
