/**
 * The rewritten model trains elsewhere: `scripts/train-elsewhere/torch_train.py` trained the
 * committed rewrite of a corpus ResNet in PyTorch (an ONNX interpreter written with PyTorch ops,
 * autograd, torch.optim.SGD, PyTorch's BatchNorm running-statistics rule); `recon train` on the
 * same model, data, order and settings must land on the same losses, parameters and running
 * statistics, and its two output forms must compute what PyTorch computes with the trained weights.
 * Tolerances come from the fixture: 10× the distance between PyTorch's float32 and float64 runs.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/load.js';
import { serializeModel } from '../../src/onnx/save.js';
import type { Model } from '../../src/onnx/model.js';
import type { Node } from '../../src/onnx/node.js';
import { readNpz } from '../../src/data/npz.js';
import { readTaskSpecFile } from '../../src/analysis/task-spec.js';
import { reconRewrite } from '../../src/rewrite/recon.js';
import { checkTrainingReadiness } from '../../src/rewrite/training-readiness.js';
import { RuntimeSession } from '../../src/runtime/session.js';
import { cli } from '../cli/helpers.js';

const DIR = 'test/fixtures/train-elsewhere';
const CORPUS = 'test/fixtures/corpus/resnet_basic';
const ORIGINAL = `${CORPUS}/resnet_basic_op17_train_nofold.onnx`;
const TASKS = `${CORPUS}/resnet_basic.tasks.json`;
const MODEL = `${DIR}/resnet_basic.recon.onnx`;

interface Reference {
  modelSha256: string;
  tasks: string[];
  settings: { steps: number; batchSize: number; lr: number; momentum: number; seed: number };
  losses: number[][];
  lossTolerance: number[][];
  tensors: Record<string, { tol: number; kind: string; change: number }>;
  outputs: Record<string, { tol: number }>;
}

const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8')) as Reference;
const expected = readNpz(`${DIR}/reference.npz`);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function runProbe(model: Model): Promise<Record<string, Float32Array>> {
  const probe = readNpz(`${DIR}/probe.npz`);
  const session = await RuntimeSession.create(serializeModel(model));
  try {
    const out = await session.run({ image: probe.get('image')! }, ref.tasks);
    return Object.fromEntries(ref.tasks.map((t) => [t, out[t]!.data as Float32Array]));
  } finally {
    await session.release();
  }
}

describe('a rewritten model trained in PyTorch and by recon train', () => {
  let work: string;
  let inference: Model;
  let training: Model;
  let metrics: { losses: { steps: number[]; perTask: Record<string, number[]> }; trainingForm: string };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'recon-train-elsewhere-'));
    const s = ref.settings;
    const r = await cli(
      'train',
      MODEL,
      '--tasks',
      TASKS,
      '--data',
      `${DIR}/data.npz`,
      '--steps',
      String(s.steps),
      '--batch-size',
      String(s.batchSize),
      '--no-shuffle',
      '--seed',
      String(s.seed),
      '--optimizer',
      'sgd',
      '--lr',
      String(s.lr),
      '--momentum',
      String(s.momentum),
      '--keep-training-form',
      '-o',
      join(work, 'trained.onnx'),
    );
    expect(r.code, r.stderr).toBe(0);
    inference = loadModel(join(work, 'trained.onnx'));
    training = loadModel(join(work, 'trained.training.onnx'));
    metrics = JSON.parse(readFileSync(join(work, 'trained.onnx.metrics.json'), 'utf8'));
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('the fixture is the rewrite recon-onnx makes today of the corpus model', async () => {
    expect(createHash('sha256').update(readFileSync(MODEL)).digest('hex')).toBe(ref.modelSha256);
    const summary = JSON.parse(readFileSync(`${DIR}/resnet_basic.rewrite.json`, 'utf8')) as { layers: string[] };
    // The CLI records how the layers were chosen in the provenance metadata, so it is part of the bytes.
    const provenance = { selection: { rule: 'explicit', layers: summary.layers } };
    const again = await reconRewrite(loadModel(ORIGINAL), readTaskSpecFile(TASKS), summary.layers, { provenance });
    expect(createHash('sha256').update(serializeModel(again.model)).digest('hex')).toBe(ref.modelSha256);
  });

  it('losses per step match PyTorch', () => {
    expect(metrics.losses.steps).toEqual([...Array(ref.settings.steps).keys()]);
    ref.tasks.forEach((t, k) => {
      for (let s = 0; s < ref.settings.steps; s++) {
        const ours = metrics.losses.perTask[t]![s]!;
        expect(Math.abs(ours - ref.losses[s]![k]!), `${t} step ${s}: ${ours} vs ${ref.losses[s]![k]}`).toBeLessThanOrEqual(ref.lossTolerance[s]![k]!);
      }
    });
  });

  it('every updated parameter and running statistic matches PyTorch', () => {
    const names = Object.keys(ref.tensors);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const { tol, change } = ref.tensors[name]!;
      // The test can only see a wrong update if the update is far larger than the tolerance.
      expect(tol, name).toBeLessThan(1e-2 * change);
      const ours = training.graph.initializers.get(name);
      expect(ours, `${name} missing from the trained model`).toBeDefined();
      const d = maxAbsDiff(ours!.data('float32'), expected.get(name)!.data as Float32Array);
      expect(d, `${name}: max |recon − torch| ${d.toExponential(3)} > ${tol.toExponential(3)}`).toBeLessThanOrEqual(tol);
    }
  });

  it('both forms hold the same trained tensors, and differ exactly in the BatchNormalization mode', () => {
    expect([...inference.graph.initializers.keys()].sort()).toEqual([...training.graph.initializers.keys()].sort());
    for (const [name, t] of training.graph.initializers) {
      expect(Buffer.from(inference.graph.initializers.get(name)!.rawBytes()).equals(Buffer.from(t.rawBytes())), name).toBe(true);
    }
    // The input was a training export: its BN nodes came with training_mode=1 and three outputs.
    const source = loadModel(MODEL);
    const describe = (n: Node) => ({ name: n.name, op: n.opType, inputs: n.inputs, attrs: n.attributeProtos.map((a) => a.name).sort() });
    expect(training.graph.nodes.map((n) => ({ ...describe(n), outputs: n.outputs }))).toEqual(
      source.graph.nodes.map((n) => ({ ...describe(n), outputs: n.outputs })),
    );
    expect(inference.graph.nodes).toHaveLength(training.graph.nodes.length);
    let batchNorms = 0;
    inference.graph.nodes.forEach((n, i) => {
      const t = training.graph.nodes[i]!;
      if (t.opType === 'BatchNormalization') {
        batchNorms++;
        expect(t.attrs.int('training_mode', 0)).toBe(1);
        expect(t.outputs).toHaveLength(3);
        expect(n.attrs.has('training_mode')).toBe(false);
        expect(n.outputs).toEqual([t.outputs[0]]);
        expect(n.inputs).toEqual(t.inputs);
      } else {
        expect(describe(n)).toEqual(describe(t));
        expect(n.outputs).toEqual(t.outputs);
      }
    });
    expect(batchNorms).toBe(10);
  });

  it('onnxruntime runs both forms and computes what PyTorch computes with the trained weights', async () => {
    for (const [form, model] of [
      ['eval', inference],
      ['train', training],
    ] as const) {
      const out = await runProbe(model);
      for (const t of ref.tasks) {
        const key = `${form}.${t}`;
        const d = maxAbsDiff(out[t]!, expected.get(key)!.data as Float32Array);
        expect(d, `${key}: ${d.toExponential(3)}`).toBeLessThanOrEqual(ref.outputs[key]!.tol);
      }
    }
  });

  it('the rewritten model passes the onnxruntime-training readiness checks', async () => {
    const original = loadModel(ORIGINAL);
    const tasks = readTaskSpecFile(TASKS);
    const summary = JSON.parse(readFileSync(`${DIR}/resnet_basic.rewrite.json`, 'utf8')) as { layers: string[] };
    const result = await reconRewrite(original, tasks, summary.layers);
    const readiness = checkTrainingReadiness(original, result.model, tasks, result.summary);
    expect(readiness.checks.map((c) => [c.name, c.status])).toEqual([
      ['parameters-are-trainable-initializers', 'pass'],
      ['copies-start-from-originals', 'pass'],
      ['parameters-not-graph-inputs', 'pass'],
      ['batchnorm-form-kept', 'pass'],
      ['gradient-ops', 'pass'],
      ['protobuf-size', 'pass'],
    ]);
    expect(readiness.ready).toBe(true);
  });
});
