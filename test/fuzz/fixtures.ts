/**
 * The sound inputs the fuzzer mutates: two small two-task models (one fed float features, one
 * fed token ids through an embedding), the same MLP with external data, datasets as .npz and as a
 * TensorProto folder, a task spec and a scan report. All built in-process, no Python.
 */
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { writeNpz } from '../../src/data/npz.js';
import { writeTensorDir } from '../../src/data/tensor-dir.js';
import type { HostTensor } from '../../src/data/host-tensor.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/save.js';
import type { Model } from '../../src/onnx/model.js';
import { Random } from '../../src/util/random.js';
import { runCli } from '../../src/cli/main.js';

export const ROWS = 8;
export const FEATURES = 6;
export const CLASSES = { A: 4, B: 3 } as const;
export const VOCAB = 7;
export const TOKENS = 3;

function randn(rng: Random, n: number, std: number): Float32Array {
  return rng.fillNormal(new Float32Array(n), std, 0);
}

function trunkAndHeads(b: GraphBuilder, rng: Random, features: string, width: number): void {
  const gemm = (name: string, x: string, inF: number, outF: number, output?: string): string =>
    b.op1(
      'Gemm',
      [
        x,
        b.initializer(`${name}.weight`, 'float32', [outF, inF], randn(rng, outF * inF, 0.5)),
        b.initializer(`${name}.bias`, 'float32', [outF], randn(rng, outF, 0.1)),
      ],
      { transB: 1 },
      { name, ...(output ? { outputs: [output] } : {}) },
    );
  const h1 = b.op1('Relu', [gemm('fc1', features, width, 8)], {}, { name: 'relu1' });
  const h2 = b.op1('Relu', [gemm('fc2', h1, 8, 8)], {}, { name: 'relu2' });
  for (const [task, classes] of Object.entries(CLASSES)) {
    gemm(`head${task}`, h2, 8, classes, task);
    b.output(task, 'float32', ['N', classes]);
  }
}

/** x [N,6] → fc1 → fc2 → heads A (4 classes) and B (3 classes). */
export function mlpModel(): Model {
  const b = new GraphBuilder();
  trunkAndHeads(b, new Random(3), b.input('x', 'float32', ['N', FEATURES]), FEATURES);
  return b.model(13);
}

/** ids [N,3] → 7-row embedding → mean over tokens → the same trunk and heads. */
export function tokenModel(): Model {
  const b = new GraphBuilder();
  const rng = new Random(4);
  const ids = b.input('ids', 'int64', ['N', TOKENS]);
  const table = b.initializer('emb.weight', 'float32', [VOCAB, FEATURES], randn(rng, VOCAB * FEATURES, 1));
  const pooled = b.op1('ReduceMean', [b.op1('Gather', [table, ids], {}, { name: 'embed' })], { axes: [1], keepdims: 0 }, { name: 'pool' });
  trunkAndHeads(b, rng, pooled, FEATURES);
  return b.model(13);
}

function labels(rng: Random, classes: number): HostTensor {
  return { dtype: 'int64', dims: [ROWS], data: BigInt64Array.from({ length: ROWS }, () => BigInt(rng.int(classes))) };
}

export function mlpData(seed = 5): Record<string, HostTensor> {
  const rng = new Random(seed);
  return {
    x: { dtype: 'float32', dims: [ROWS, FEATURES], data: randn(rng, ROWS * FEATURES, 1) },
    A_target: labels(rng, CLASSES.A),
    B_target: labels(rng, CLASSES.B),
  };
}

export function tokenData(seed = 6): Record<string, HostTensor> {
  const rng = new Random(seed);
  return {
    ids: { dtype: 'int64', dims: [ROWS, TOKENS], data: BigInt64Array.from({ length: ROWS * TOKENS }, () => BigInt(rng.int(VOCAB))) },
    A_target: labels(rng, CLASSES.A),
    B_target: labels(rng, CLASSES.B),
  };
}

export const TASK_SPEC = {
  tasks: [
    { name: 'A', output: 'A', loss: 'cross_entropy', target: 'A_target' },
    { name: 'B', output: 'B', loss: 'cross_entropy', target: 'B_target' },
  ],
};

/** Relative path → bytes of every fixture file (the folder layout each case starts from). */
export type FileSet = Map<string, Uint8Array>;

/** Builds the fixtures in `dir` (a scan report included) and returns them as a file set. */
export async function buildFixtures(dir: string): Promise<FileSet> {
  mkdirSync(join(dir, 'ext'), { recursive: true });
  saveModel(mlpModel(), join(dir, 'mlp.onnx'));
  saveModel(tokenModel(), join(dir, 'tok.onnx'));
  saveModel(mlpModel(), join(dir, 'ext', 'mlp.onnx'), { externalDataThreshold: 1, externalDataLocation: 'mlp.onnx.data' });
  writeNpz(join(dir, 'd.npz'), mlpData());
  writeNpz(join(dir, 'dz.npz'), mlpData(), { compress: true });
  writeNpz(join(dir, 'tok.npz'), tokenData());
  writeTensorDir(join(dir, 'dpb'), mlpData());
  writeFileSync(join(dir, 'spec.json'), `${JSON.stringify(TASK_SPEC)}\n`);
  let stderr = '';
  const code = await runCli(
    [
      'scan',
      join(dir, 'mlp.onnx'),
      '--tasks',
      join(dir, 'spec.json'),
      '--data',
      join(dir, 'd.npz'),
      '--steps',
      '2',
      '--batch-size',
      '4',
      '-o',
      join(dir, 'report.json'),
    ],
    {
      stdout: () => {},
      stderr: (t) => (stderr += t),
      interactive: false,
    },
  );
  if (code !== 0) throw new Error(`fixture scan failed: ${stderr}`);
  // Each case runs on copies in its own folder: the report names its model and data relative to
  // itself (as a scan run from the report's folder would), so they are the case's own files.
  const reportPath = join(dir, 'report.json');
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { model: { path: string }; settings: { data: string } };
  report.model.path = 'mlp.onnx';
  report.settings.data = 'd.npz';
  writeFileSync(reportPath, `${JSON.stringify(report, null, 2)}\n`);
  return readFileSet(dir);
}

export function readFileSet(dir: string): FileSet {
  const out: FileSet = new Map();
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return out;
}
