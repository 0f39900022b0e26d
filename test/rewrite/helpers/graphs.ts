import { GraphBuilder, float } from '../../../src/onnx/builder.js';
import type { Model } from '../../../src/onnx/model.js';
import { Random } from '../../../src/util/random.js';
import type { TaskRef } from '../../../src/rewrite/types.js';

/** A small multi-task model for the rewrite tests. */
export interface MultiTaskCase {
  name: string;
  model: Model;
  tasks: TaskRef[];
}

/** Adds float initializers with seeded random values. */
class Params {
  private readonly rng: Random;
  constructor(
    private readonly b: GraphBuilder,
    seed: number,
  ) {
    this.rng = new Random(seed);
  }
  normal(name: string, dims: number[], std = 0.4, mean = 0): string {
    const n = dims.reduce((a, c) => a * c, 1);
    return this.b.initializer(name, 'float32', dims, this.rng.fillNormal(new Float32Array(n), std, mean));
  }
  positive(name: string, dims: number[]): string {
    const n = dims.reduce((a, c) => a * c, 1);
    return this.b.initializer(name, 'float32', dims, this.rng.fillUniform(new Float32Array(n), 0.5, 1.5));
  }
}

function gemm(b: GraphBuilder, p: Params, name: string, x: string, inF: number, outF: number, output?: string): string {
  const w = p.normal(`${name}.weight`, [outF, inF]);
  const bias = p.normal(`${name}.bias`, [outF], 0.1);
  return b.op1('Gemm', [x, w, bias], { transB: 1 }, { name, ...(output ? { outputs: [output] } : {}) });
}

function conv(b: GraphBuilder, p: Params, name: string, x: string, cin: number, cout: number, k: number, bias = true): string {
  const w = p.normal(`${name}.weight`, [cout, cin, k, k]);
  const inputs = bias ? [x, w, p.normal(`${name}.bias`, [cout], 0.1)] : [x, w];
  return b.op1('Conv', inputs, { kernel_shape: [k, k], pads: [(k - 1) / 2, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2] }, { name });
}

function bn(b: GraphBuilder, p: Params, name: string, x: string, c: number): string {
  const inputs = [
    x,
    p.normal(`${name}.weight`, [c], 0.1, 1),
    p.normal(`${name}.bias`, [c], 0.1),
    p.normal(`${name}.running_mean`, [c], 0.1),
    p.positive(`${name}.running_var`, [c]),
  ];
  return b.op1('BatchNormalization', inputs, { epsilon: float(1e-5) }, { name });
}

/** Two or three tasks on a shared MLP trunk (Gemm, then MatMul + Add, then a Shape-computed Reshape). */
export function mlpCase(taskCount: 2 | 3): MultiTaskCase {
  const b = new GraphBuilder();
  const p = new Params(b, 11);
  const x = b.input('x', 'float32', ['N', 8]);
  const h1 = b.op1('Relu', [gemm(b, p, 'fc1', x, 8, 16)], {}, { name: 'relu1' });
  const mm = b.op1('MatMul', [h1, p.normal('fc2.weight', [16, 12])], {}, { name: 'fc2' });
  const h2 = b.op1('Tanh', [b.op1('Add', [mm, p.normal('fc2.bias', [12], 0.1)], {}, { name: 'fc2_bias' })], {}, { name: 'tanh2' });
  // A shape computation on the trunk activation that every task reads (replicated with it).
  const batch = b.op1('Gather', [b.op1('Shape', [h2], {}, { name: 'shape' }), b.scalar('zero', 0, 'int64')], { axis: 0 }, { name: 'batch' });
  const target = b.op1(
    'Concat',
    [b.op1('Unsqueeze', [batch, b.int64s('axes0', [0])], {}, { name: 'batch1' }), b.int64s('minus1', [-1])],
    { axis: 0 },
    { name: 'flat_shape' },
  );
  const flat = b.op1('Reshape', [h2, target], {}, { name: 'flatten' });
  const tasks: TaskRef[] = [];
  for (let t = 0; t < taskCount; t++) {
    const out = `task${t}`;
    gemm(b, p, `head${t}`, flat, 12, 4, out);
    b.output(out, 'float32', ['N', 4]);
    tasks.push({ name: `t${t}`, output: out });
  }
  return { name: `mlp-${taskCount}`, model: b.model(13), tasks };
}

/**
 * Conv + BN + ReLU, MaxPool with an Indices output, a residual block (shared skip into Add),
 * then either MaxUnpool with the indices (used) or nothing reading them (dangling).
 */
export function cnnCase(indices: 'used' | 'dangling'): MultiTaskCase {
  const b = new GraphBuilder();
  const p = new Params(b, 12);
  const x = b.input('x', 'float32', ['N', 3, 8, 8]);
  const r1 = b.op1('Relu', [bn(b, p, 'bn1', conv(b, p, 'conv1', x, 3, 8, 3), 8)], {}, { name: 'relu1' });
  const [pooled, idx] = b.op('MaxPool', [r1], { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool', outputCount: 2 });
  const r2 = b.op1('Relu', [bn(b, p, 'bn2', conv(b, p, 'conv2', pooled!, 8, 8, 3, false), 8)], {}, { name: 'relu2' });
  const y3 = bn(b, p, 'bn3', conv(b, p, 'conv3', r2, 8, 8, 3, false), 8);
  const r3 = b.op1('Relu', [b.op1('Add', [y3, pooled!], {}, { name: 'residual' })], {}, { name: 'relu3' });
  const feat = indices === 'used' ? b.op1('MaxUnpool', [r3, idx!], { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'unpool' }) : r3;
  const flat = b.op1('Flatten', [b.op1('GlobalAveragePool', [feat], {}, { name: 'gap' })], {}, { name: 'flatten' });
  const tasks: TaskRef[] = [];
  for (const [t, n] of [
    ['seg', 5],
    ['cls', 3],
  ] as const) {
    gemm(b, p, `head_${t}`, flat, 8, n, t);
    b.output(t, 'float32', ['N', n]);
    tasks.push({ name: t, output: t });
  }
  return { name: `cnn-indices-${indices}`, model: b.model(13), tasks };
}

/**
 * Encoder–decoder with a skip Concat, an attention Mul between a decoder value and a shared
 * skip value, and a Shape→Gather→Unsqueeze→Concat→Reshape flatten in one head.
 */
export function encoderDecoderCase(): MultiTaskCase {
  const b = new GraphBuilder();
  const p = new Params(b, 13);
  const x = b.input('x', 'float32', ['N', 2, 8, 8]);
  const e1 = b.op1('Relu', [conv(b, p, 'enc1', x, 2, 4, 3)], {}, { name: 'enc1_relu' });
  const pooled = b.op1('MaxPool', [e1], { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool' });
  const e2 = b.op1('Relu', [bn(b, p, 'enc2_bn', conv(b, p, 'enc2', pooled, 4, 8, 3), 8)], {}, { name: 'enc2_relu' });
  const scales = b.constant('up_scales', 'float32', [4], Float32Array.of(1, 1, 2, 2));
  const up = b.op1('Resize', [e2, '', scales], { mode: 'nearest' }, { name: 'up' });
  const cat = b.op1('Concat', [up, e1], { axis: 1 }, { name: 'skip_cat' });
  const d = b.op1('Relu', [conv(b, p, 'dec', cat, 12, 6, 3)], {}, { name: 'dec_relu' });
  const tasks: TaskRef[] = [];

  b.op1(
    'Conv',
    [d, p.normal('depth_head.weight', [1, 6, 1, 1]), p.normal('depth_head.bias', [1], 0.1)],
    { kernel_shape: [1, 1] },
    { name: 'depth_head', outputs: ['depth'] },
  );
  b.output('depth', 'float32', ['N', 1, 8, 8]);
  tasks.push({ name: 'depth', output: 'depth' });

  const batch = b.op1('Gather', [b.op1('Shape', [d], {}, { name: 'shape' }), b.scalar('zero', 0, 'int64')], { axis: 0 }, { name: 'batch' });
  const target = b.op1(
    'Concat',
    [b.op1('Unsqueeze', [batch, b.int64s('axes0', [0])], {}, { name: 'batch1' }), b.int64s('minus1', [-1])],
    { axis: 0 },
    { name: 'flat_shape' },
  );
  const flat = b.op1('Reshape', [d, target], {}, { name: 'flatten' });
  gemm(b, p, 'cls_head', flat, 6 * 8 * 8, 5, 'cls');
  b.output('cls', 'float32', ['N', 5]);
  tasks.push({ name: 'cls', output: 'cls' });

  const att = b.op1('Sigmoid', [conv(b, p, 'att', e1, 4, 6, 1)], {}, { name: 'att_sigmoid' });
  const gated = b.op1('Mul', [d, att], {}, { name: 'att_mul' });
  b.op1('Conv', [gated, p.normal('edge_head.weight', [1, 6, 3, 3])], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name: 'edge_head', outputs: ['edge'] });
  b.output('edge', 'float32', ['N', 1, 8, 8]);
  tasks.push({ name: 'edge', output: 'edge' });
  return { name: 'encoder-decoder', model: b.model(13), tasks };
}

/**
 * Three tasks: head C reads the shared value after fc1, layer fc2 reaches only tasks A and B,
 * and task A's output is both a graph output and an input of task B's head.
 */
export function partialReachCase(): MultiTaskCase {
  const b = new GraphBuilder();
  const p = new Params(b, 14);
  const x = b.input('x', 'float32', ['N', 6]);
  const h1 = b.op1('Relu', [gemm(b, p, 'fc1', x, 6, 8)], {}, { name: 'relu1' });
  gemm(b, p, 'head_c', h1, 8, 3, 'out_c');
  const h2 = b.op1('Relu', [gemm(b, p, 'fc2', h1, 8, 8)], {}, { name: 'relu2' });
  gemm(b, p, 'head_a', h2, 8, 3, 'out_a');
  const cat = b.op1('Concat', [h2, 'out_a'], { axis: 1 }, { name: 'cat_b' });
  gemm(b, p, 'head_b', cat, 11, 3, 'out_b');
  for (const o of ['out_a', 'out_b', 'out_c']) b.output(o, 'float32', ['N', 3]);
  b.graph.valueInfo.push({ name: h2, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 8 }] } } } });
  const tasks = ['a', 'b', 'c'].map((t) => ({ name: t.toUpperCase(), output: `out_${t}` }));
  return { name: 'partial-reach', model: b.model(13), tasks };
}

/** A Split whose outputs go to different tasks, plus an Add of both halves for a third task. */
export function splitCase(): MultiTaskCase {
  const b = new GraphBuilder();
  const p = new Params(b, 15);
  const x = b.input('x', 'float32', ['N', 6]);
  const h = b.op1('Relu', [gemm(b, p, 'fc1', x, 6, 8)], {}, { name: 'relu1' });
  const [s0, s1] = b.op('Split', [h, b.int64s('split_sizes', [4, 4])], { axis: 1 }, { name: 'split', outputCount: 2 });
  gemm(b, p, 'head_a', s0!, 4, 2, 'out_a');
  gemm(b, p, 'head_b', s1!, 4, 2, 'out_b');
  const sum = b.op1('Add', [s0!, s1!], {}, { name: 'halves' });
  gemm(b, p, 'head_c', gemm(b, p, 'fc_c', sum, 4, 4), 4, 2, 'out_c');
  for (const o of ['out_a', 'out_b', 'out_c']) b.output(o, 'float32', ['N', 2]);
  const tasks = ['a', 'b', 'c'].map((t) => ({ name: t, output: `out_${t}` }));
  return { name: 'split', model: b.model(13), tasks };
}

/** BatchNormalization in training mode (opset 15): running-stat outputs exist but nothing reads them. */
export function trainingBnCase(): MultiTaskCase {
  const b = new GraphBuilder();
  const p = new Params(b, 16);
  const x = b.input('x', 'float32', [4, 3, 5, 5]);
  const c = conv(b, p, 'conv1', x, 3, 4, 3);
  const inputs = [
    c,
    p.normal('bn1.weight', [4], 0.1, 1),
    p.normal('bn1.bias', [4], 0.1),
    p.normal('bn1.running_mean', [4], 0.1),
    p.positive('bn1.running_var', [4]),
  ];
  const [y] = b.op('BatchNormalization', inputs, { epsilon: float(1e-5), training_mode: 1 }, { name: 'bn1', outputCount: 3 });
  const flat = b.op1('Flatten', [b.op1('GlobalAveragePool', [b.op1('Relu', [y!], {}, { name: 'relu1' })], {}, { name: 'gap' })], {}, { name: 'flatten' });
  const tasks: TaskRef[] = [];
  for (const t of ['u', 'v']) {
    gemm(b, p, `head_${t}`, flat, 4, 2, `out_${t}`);
    b.output(`out_${t}`, 'float32', [4, 2]);
    tasks.push({ name: t, output: `out_${t}` });
  }
  return { name: 'training-bn', model: b.model(15), tasks };
}

export function allCases(): MultiTaskCase[] {
  return [mlpCase(2), mlpCase(3), cnnCase('used'), cnnCase('dangling'), encoderDecoderCase(), partialReachCase(), splitCase(), trainingBnCase()];
}
