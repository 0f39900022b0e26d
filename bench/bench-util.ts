/** Shared setup of the benchmarks: a reference model, its tasks, and one deterministic batch. */
import type { ConvBorderSplit, ConvInputGradient, ConvWeightGradient, LoweringOverrides } from '../src/autodiff/lowering.js';
import { existsSync } from 'node:fs';
import { loadModel, type Model } from '../src/onnx/index.js';
import { readTaskSpecFile, type TaskSpec } from '../src/analysis/task-spec.js';
import type { HostTensor } from '../src/runtime/ort-tensor.js';
import { Random } from '../src/util/random.js';
import { buildResnet18 } from '../models/resnet18.js';

export type BenchModelName = 'resnet18' | 'transformer' | 'mobilenet' | 'unet';
export const BENCH_MODELS: readonly BenchModelName[] = ['resnet18', 'transformer', 'mobilenet', 'unet'];

/**
 * The PyTorch exports of bench/bench_models.py: the image size, and per task the output's shape
 * per sample and for cross-entropy tasks the class axis (the target drops it).
 */
const EXPORTED: Record<'mobilenet' | 'unet', { image: number[]; outputs: Record<string, { dims: number[]; classes?: boolean }> }> = {
  mobilenet: { image: [3, 64, 64], outputs: { cls: { dims: [10], classes: true }, box: { dims: [4] } } },
  unet: { image: [3, 32, 32], outputs: { seg: { dims: [5, 32, 32], classes: true }, depth: { dims: [1, 32, 32] } } },
};

export interface BenchModel {
  model: Model;
  tasks: TaskSpec[];
  /** Inputs and targets of one batch (random, seeded: every run feeds the same data). */
  feeds: Record<string, HostTensor>;
}

const int64s = (n: number, below: number, rng: Random): BigInt64Array => BigInt64Array.from({ length: n }, () => BigInt(rng.int(below)));

/**
 * A bench model and one batch. `taskCount` other than 2 (ResNet-18 only) builds the trunk with that
 * many heads T1…Tn in-process, for the scaling benchmark.
 */
export function benchModel(name: BenchModelName, batch: number, taskCount = 2): BenchModel {
  const rng = new Random(0);
  if (taskCount !== 2) {
    if (name !== 'resnet18') throw new Error('--tasks applies to resnet18 only');
    const model = buildResnet18({ opset: 17, tasks: taskCount });
    const tasks: TaskSpec[] = Array.from({ length: taskCount }, (_, i) => ({
      name: `T${i + 1}`,
      output: `T${i + 1}`,
      loss: 'cross_entropy',
      target: `T${i + 1}_target`,
      weight: 1,
      ignoreIndex: -100,
    }));
    const feeds: Record<string, HostTensor> = {
      input: { dtype: 'float32', dims: [batch, 1, 36, 36], data: rng.fillNormal(new Float32Array(batch * 36 * 36)) },
    };
    for (const t of tasks) feeds[t.target] = { dtype: 'int64', dims: [batch], data: int64s(batch, 10, rng) };
    return { model, tasks, feeds };
  }
  if (name === 'mobilenet' || name === 'unet') {
    const path = `bench/models/${name}_op17.onnx`;
    if (!existsSync(path)) throw new Error(`${path} is missing: export it with \`/usr/bin/python3 bench/bench_models.py\``);
    const model = loadModel(path);
    const tasks = readTaskSpecFile(`bench/models/${name}.tasks.json`);
    const image = [batch, ...EXPORTED[name].image];
    const feeds: Record<string, HostTensor> = {
      image: { dtype: 'float32', dims: image, data: rng.fillNormal(new Float32Array(image.reduce((a, v) => a * v, 1))) },
    };
    for (const task of tasks) {
      const out = EXPORTED[name].outputs[task.output]!;
      if (out.classes) {
        const dims = [batch, ...out.dims.slice(1)];
        feeds[task.target] = {
          dtype: 'int64',
          dims,
          data: int64s(
            dims.reduce((a, v) => a * v, 1),
            out.dims[0]!,
            rng,
          ),
        };
      } else {
        const dims = [batch, ...out.dims];
        feeds[task.target] = { dtype: 'float32', dims, data: rng.fillNormal(new Float32Array(dims.reduce((a, v) => a * v, 1))) };
      }
    }
    return { model, tasks, feeds };
  }
  const path = `models/${name}_op17.onnx`;
  if (!existsSync(path)) throw new Error(`${path} is missing: build the reference models with \`npx tsx models/build.ts\``);
  const model = loadModel(path);
  const tasks = readTaskSpecFile(`models/${name}.tasks.json`);
  const feeds: Record<string, HostTensor> =
    name === 'resnet18'
      ? {
          input: { dtype: 'float32', dims: [batch, 1, 36, 36], data: rng.fillNormal(new Float32Array(batch * 36 * 36)) },
          T1_target: { dtype: 'int64', dims: [batch], data: int64s(batch, 10, rng) },
          T2_target: { dtype: 'int64', dims: [batch], data: int64s(batch, 10, rng) },
        }
      : {
          tokens: { dtype: 'int64', dims: [batch, 12], data: int64s(batch * 12, 50, rng) },
          T1_target: { dtype: 'int64', dims: [batch], data: int64s(batch, 4, rng) },
          T2_target: { dtype: 'float32', dims: [batch, 1], data: rng.fillNormal(new Float32Array(batch)) },
        };
  return { model, tasks, feeds };
}

export function median(values: readonly number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * A/B switches for the benchmarks (not for users): RECON_BENCH_DW / RECON_BENCH_DX pick the conv
 * weight / input gradient formulation and RECON_BENCH_SPLIT the im2col border split, so one
 * harness can time each (passed as `GradientSessionOptions.lowering`).
 */
export function benchLowering(): LoweringOverrides {
  const dw = process.env['RECON_BENCH_DW'] as ConvWeightGradient | undefined;
  const dx = process.env['RECON_BENCH_DX'] as ConvInputGradient | undefined;
  const split = process.env['RECON_BENCH_SPLIT'] as ConvBorderSplit | undefined;
  return { conv: { ...(dw ? { weightGradient: dw } : {}), ...(dx ? { inputGradient: dx } : {}), ...(split ? { split } : {}) } };
}

/** Session-option overrides for A/B runs: RECON_BENCH_SPIN=0|1, RECON_BENCH_ARENA=0|1. */
export function benchSessionOptions(): { spinning?: boolean; memoryArena?: boolean } {
  const spin = process.env['RECON_BENCH_SPIN'];
  const arena = process.env['RECON_BENCH_ARENA'];
  return { ...(spin ? { spinning: spin === '1' } : {}), ...(arena ? { memoryArena: arena === '1' } : {}) };
}
