/**
 * `recon train` writes the inference form (BatchNormalization with running statistics, Dropout
 * gone) and, with --keep-training-form, the training form (BatchNormalization in training mode,
 * Dropout kept). Both are run by onnxruntime and checked against a forward pass written out here.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, float } from '../../src/onnx/builder.js';
import type { Model } from '../../src/onnx/model.js';
import type { Node } from '../../src/onnx/node.js';
import { loadModel } from '../../src/onnx/load.js';
import { saveModel, serializeModel } from '../../src/onnx/save.js';
import { writeNpz } from '../../src/data/npz.js';
import { writeTextFileAtomic } from '../../src/util/atomic-write.js';
import { RuntimeSession } from '../../src/runtime/session.js';
import { Random } from '../../src/util/random.js';
import { inferenceForm, trainingForm } from '../../src/train/model-forms.js';
import { cli } from '../cli/helpers.js';

const N = 8;
const EPS = 1e-5;

/**
 * x → Gemm → BatchNormalization (inference form, as an eval export has it) → Relu → Dropout(ratio 0,
 * training mode: the identity, so the training form stays exactly computable) → h;
 * T1 = Dropout(Gemm(h), ratio 0.5, training mode, seeded) — a graph output; T2 = Gemm(h).
 */
function dropoutModel(opset: number): Model {
  const b = new GraphBuilder();
  const rng = new Random(3);
  const p = (name: string, dims: number[], offset = 0) =>
    b.initializer(
      name,
      'float32',
      dims,
      rng.fillNormal(new Float32Array(dims.reduce((a, c) => a * c, 1)), 0.5).map((v) => v + offset),
    );
  const x = b.input('x', 'float32', ['N', 4]);
  const z = b.op1('Gemm', [x, p('fc.weight', [6, 4]), p('fc.bias', [6])], { transB: 1 }, { name: '/fc/Gemm' });
  const bn = b.op1(
    'BatchNormalization',
    [
      z,
      p('bn.weight', [6], 1),
      p('bn.bias', [6]),
      p('bn.running_mean', [6]),
      b.initializer(
        'bn.running_var',
        'float32',
        [6],
        Float32Array.from({ length: 6 }, (_, i) => 0.5 + i / 4),
      ),
    ],
    { epsilon: float(EPS), momentum: float(0.9) },
    { name: '/bn/BatchNormalization' },
  );
  const r = b.op1('Relu', [bn], {}, { name: '/relu/Relu' });
  const on = b.constant('training_on', 'bool', [], Uint8Array.of(1));
  const h = b.op1('Dropout', [r, b.scalar('ratio_zero', 0), on], {}, { name: '/drop/Dropout' });
  const y1 = b.op1('Gemm', [h, p('head1.weight', [3, 6]), p('head1.bias', [3])], { transB: 1 }, { name: '/head1/Gemm' });
  b.output(b.op1('Dropout', [y1, b.scalar('ratio_half', 0.5), on], { seed: 7 }, { name: '/head1/drop/Dropout', outputs: ['T1'] }), 'float32', ['N', 3]);
  b.output(b.op1('Gemm', [h, p('head2.weight', [2, 6]), p('head2.bias', [2])], { transB: 1 }, { name: '/head2/Gemm', outputs: ['T2'] }), 'float32', ['N', 2]);
  return b.model(opset);
}

function probeInput(): Float32Array {
  return new Random(11).fillNormal(new Float32Array(N * 4), 1);
}

/** The forward pass in float64 from the model's initializers; BN from the batch (`train`) or running statistics. */
function forward(model: Model, x: Float32Array, bnMode: 'train' | 'eval'): { T1: number[]; T2: number[] } {
  const w = (name: string) => Array.from(model.graph.initializers.get(name)!.data('float32'));
  const gemm = (input: number[][], weight: number[], bias: number[]) =>
    input.map((row) => bias.map((b, o) => b + row.reduce((s, v, i) => s + v * weight[o * row.length + i]!, 0)));
  const rows = Array.from({ length: N }, (_, i) => Array.from(x.subarray(i * 4, i * 4 + 4)));
  const z = gemm(rows, w('fc.weight'), w('fc.bias'));
  const [scale, shift, runMean, runVar] = [w('bn.weight'), w('bn.bias'), w('bn.running_mean'), w('bn.running_var')];
  const mean = scale.map((_, c) => (bnMode === 'eval' ? runMean[c]! : z.reduce((s, r) => s + r[c]!, 0) / N));
  const variance = scale.map((_, c) => (bnMode === 'eval' ? runVar[c]! : z.reduce((s, r) => s + (r[c]! - mean[c]!) ** 2, 0) / N));
  const h = z.map((r) => r.map((v, c) => Math.max(0, ((v - mean[c]!) / Math.sqrt(variance[c]! + EPS)) * scale[c]! + shift[c]!)));
  return { T1: gemm(h, w('head1.weight'), w('head1.bias')).flat(), T2: gemm(h, w('head2.weight'), w('head2.bias')).flat() };
}

async function run(model: Model, x: Float32Array): Promise<{ T1: Float32Array; T2: Float32Array }> {
  const session = await RuntimeSession.create(serializeModel(model));
  try {
    const out = await session.run({ x: { dtype: 'float32', dims: [N, 4], data: x } }, ['T1', 'T2']);
    return { T1: out['T1']!.data as Float32Array, T2: out['T2']!.data as Float32Array };
  } finally {
    await session.release();
  }
}

function closeTo(ours: ArrayLike<number>, want: readonly number[], what: string): void {
  expect(ours.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(ours[i]! - want[i]!), `${what}[${i}]: ${ours[i]} vs ${want[i]}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i]!)));
}

const describeNode = (n: Node) => ({ op: n.opType, inputs: n.inputs, outputs: n.outputs, attrs: n.attributeProtos.map((a) => a.name).sort() });

describe.each([17, 13])('recon train --keep-training-form, opset %i', (opset) => {
  let work: string;
  let source: Model;
  let inference: Model;
  let training: Model;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'recon-forms-'));
    source = dropoutModel(opset);
    saveModel(source, join(work, 'model.onnx'));
    const rng = new Random(5);
    writeNpz(join(work, 'train.npz'), {
      x: { dtype: 'float32', dims: [N, 4], data: rng.fillNormal(new Float32Array(N * 4), 1) },
      T1_target: { dtype: 'int64', dims: [N], data: BigInt64Array.from({ length: N }, (_, i) => BigInt(i % 3)) },
      T2_target: { dtype: 'float32', dims: [N, 2], data: rng.fillNormal(new Float32Array(N * 2), 1) },
    });
    writeTextFileAtomic(
      join(work, 'tasks.json'),
      JSON.stringify({
        tasks: [
          { name: 'T1', loss: 'cross_entropy' },
          { name: 'T2', loss: 'mse' },
        ],
      }),
    );
    const r = await cli(
      'train',
      join(work, 'model.onnx'),
      '--tasks',
      join(work, 'tasks.json'),
      '--data',
      join(work, 'train.npz'),
      '--steps',
      '2',
      '--batch-size',
      '4',
      '--keep-training-form',
      '-o',
      join(work, 'trained.onnx'),
    );
    expect(r.code, r.stderr).toBe(0);
    // The given BatchNormalization is in inference form already; only the training form converts it.
    expect(r.stderr).toContain('inference form: 1 × Dropout: removed; 1 × Dropout: replaced by Identity');
    expect(r.stderr).toContain('training form: 1 × BatchNormalization: batch statistics instead of running statistics');
    inference = loadModel(join(work, 'trained.onnx'));
    training = loadModel(join(work, 'trained.training.onnx'));
  }, 60_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('the training form is the input with BatchNormalization switched to training mode; Dropout kept as given', () => {
    expect(training.graph.nodes.map((n) => n.name)).toEqual(source.graph.nodes.map((n) => n.name));
    training.graph.nodes.forEach((n, i) => {
      const given = source.graph.nodes[i]!;
      if (n.opType !== 'BatchNormalization') return expect(describeNode(n)).toEqual(describeNode(given));
      expect(n.inputs).toEqual(given.inputs);
      expect(n.outputs[0]).toBe(given.outputs[0]);
      if (opset >= 14) {
        expect(n.attrs.int('training_mode', 0)).toBe(1);
        expect(n.outputs).toHaveLength(3);
      } else {
        expect(n.attrs.has('training_mode')).toBe(false);
        expect(n.outputs).toHaveLength(5);
      }
    });
    expect([...training.graph.initializers.keys()].sort()).toEqual([...source.graph.initializers.keys()].sort());
  });

  it('the inference form differs from the training form exactly in BatchNormalization mode and the Dropouts', () => {
    const relu = source.graph.nodes.find((n) => n.name === '/relu/Relu')!.outputs[0]!;
    const trunkDrop = source.graph.nodes.find((n) => n.name === '/drop/Dropout')!.outputs[0]!;
    const byName = new Map(training.graph.nodes.map((n) => [n.name, n]));
    expect(inference.graph.nodes.map((n) => n.name)).toEqual(training.graph.nodes.map((n) => n.name).filter((n) => n !== '/drop/Dropout'));
    for (const n of inference.graph.nodes) {
      const t = byName.get(n.name)!;
      if (n.name === '/bn/BatchNormalization') {
        expect(n.attrs.has('training_mode')).toBe(false);
        expect(n.outputs).toEqual([t.outputs[0]]);
        expect(n.inputs).toEqual(t.inputs);
      } else if (n.name === '/head1/drop/Dropout') {
        expect(describeNode(n)).toEqual({ op: 'Identity', inputs: [t.inputs[0]], outputs: ['T1'], attrs: [] });
      } else {
        // Readers of the removed Dropout read its input instead.
        expect(describeNode(n)).toEqual({ ...describeNode(t), inputs: t.inputs.map((v) => (v === trunkDrop ? relu : v)) });
      }
    }
    // Only the Dropouts' ratio and training-mode constants are gone; the trained tensors are identical.
    const gone = [...training.graph.initializers.keys()].filter((k) => !inference.graph.initializers.has(k)).sort();
    expect(gone).toEqual(['ratio_half', 'ratio_zero', 'training_on']);
    for (const [k, t] of inference.graph.initializers)
      expect(Buffer.from(t.rawBytes()).equals(Buffer.from(training.graph.initializers.get(k)!.rawBytes())), k).toBe(true);
    // Training changed the weights and the running statistics.
    for (const k of ['fc.weight', 'bn.running_mean', 'bn.running_var']) {
      expect(Buffer.from(inference.graph.initializers.get(k)!.rawBytes()).equals(Buffer.from(source.graph.initializers.get(k)!.rawBytes())), k).toBe(false);
    }
  });

  it('onnxruntime runs the inference form: running statistics, no dropout', async () => {
    const x = probeInput();
    const want = forward(inference, x, 'eval');
    const out = await run(inference, x);
    closeTo(out.T1, want.T1, 'T1');
    closeTo(out.T2, want.T2, 'T2');
  });

  it('onnxruntime runs the training form: batch statistics, and the output Dropout drops or scales by 2', async () => {
    const x = probeInput();
    const want = forward(training, x, 'train');
    const out = await run(training, x);
    closeTo(out.T2, want.T2, 'T2');
    let dropped = 0;
    want.T1.forEach((y, i) => {
      const v = out.T1[i]!;
      if (v === 0 && y !== 0) dropped++;
      else expect(Math.abs(v - 2 * y), `T1[${i}]: ${v} is neither 0 nor 2 × ${y}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(2 * y)));
    });
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(want.T1.length);
  });
});

describe('recon train output options', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'recon-forms-opts-'));
    saveModel(dropoutModel(17), join(work, 'model.onnx'));
    writeNpz(join(work, 'train.npz'), {
      x: { dtype: 'float32', dims: [4, 4], data: new Float32Array(16) },
      T1_target: { dtype: 'int64', dims: [4], data: new BigInt64Array(4) },
      T2_target: { dtype: 'float32', dims: [4, 2], data: new Float32Array(8) },
    });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const base = () => [
    'train',
    join(work, 'model.onnx'),
    '--task',
    'T1',
    '--task',
    'T2:mse',
    '--data',
    join(work, 'train.npz'),
    '--steps',
    '1',
    '--batch-size',
    '4',
  ];

  it.each([
    [['--training-output', 'x.onnx', '-o', 'out.onnx'], '--training-output needs --keep-training-form'],
    [['-o', 'model.onnx'], 'is the model'],
    [['--keep-training-form', '--training-output', 'out.onnx', '-o', 'out.onnx'], '--training-output'],
    [['--keep-training-form', '-o', 'out.onnx', '--metrics', 'out.training.onnx'], '--metrics'],
    [['--keep-training-form', '--bn', 'eval', '-o', 'out.onnx'], '--bn eval trains with frozen running statistics'],
  ])('%j is refused before any work, in one line', async (extra, message) => {
    const argv = [...base(), ...extra.map((a) => (a.endsWith('.onnx') ? join(work, a) : a))];
    const r = await cli(...argv);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(message);
    expect(existsSync(join(work, 'out.onnx'))).toBe(false);
    expect(existsSync(join(work, 'x.onnx'))).toBe(false);
  });

  it('a model a form cannot be derived from is refused before training', async () => {
    const model = dropoutModel(17);
    // The BN's running-mean output read by a graph output: the inference form cannot drop it.
    const bnNode = model.graph.nodes.find((n) => n.opType === 'BatchNormalization')!;
    bnNode.setAttr('training_mode', { kind: 'int', value: 1 });
    bnNode.outputs = [bnNode.outputs[0]!, 'bn_mean_out', 'bn_var_out'];
    model.graph.outputs.push({ name: 'bn_mean_out' });
    expect(() => inferenceForm(model)).toThrow(/running-statistics output "bn_mean_out" is a graph output/);
    // The training form of a model already in training form changes nothing.
    expect(trainingForm(model).changes).toEqual([]);
  });
});
