/**
 * Micro-benchmark of one convolution's formulations on onnxruntime (CPU): forward (onnxruntime's
 * Conv in the first column), dX and dW of a Conv with ResNet-18's shapes, W as an initializer (a gradient scan) or as an input (training),
 * timed as the minimum over repeated runs (robust to background load).
 * Usage: npx tsx bench/conv-micro.ts [--batch N] [--train] [--runs K] [--only NAME-PREFIX]
 */
import * as ort from 'onnxruntime-node';
import { Graph } from '../src/onnx/graph.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { serializeModel } from '../src/onnx/save.js';
import { Emitter } from '../src/autodiff/emitter.js';
import { convInputGrad, convWeightGrad } from '../src/autodiff/rules/conv.js';
import type { ConvGeometry } from '../src/autodiff/rules/conv-geometry.js';
import type { ConvBorderSplit, ConvInputGradient, ConvWeightGradient } from '../src/autodiff/lowering.js';
import { convForwardIm2col, im2colBlockCount } from '../src/autodiff/lower/im2col.js';
import { Random } from '../src/util/random.js';
import { median } from './bench-util.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const batch = Number(flag('--batch') ?? 32);
const train = args.includes('--train');
const runs = Number(flag('--runs') ?? 15);
const only = flag('--only');

interface Case {
  name: string;
  c: number;
  m: number;
  hw: number;
  k: number;
  s: number;
  p: number;
}
// ResNet-18 on 36×36 inputs: the 3×3 convs of each stage and the strided ones.
const cases: Case[] = [
  { name: 'layer1 3x3', c: 64, m: 64, hw: 9, k: 3, s: 1, p: 1 },
  { name: 'layer2 3x3', c: 128, m: 128, hw: 5, k: 3, s: 1, p: 1 },
  { name: 'layer2.0 s2', c: 64, m: 128, hw: 9, k: 3, s: 2, p: 1 },
  { name: 'layer3 3x3', c: 256, m: 256, hw: 3, k: 3, s: 1, p: 1 },
  { name: 'layer4 3x3', c: 512, m: 512, hw: 2, k: 3, s: 1, p: 1 },
  { name: 'layer4.0 s2', c: 256, m: 512, hw: 3, k: 3, s: 2, p: 1 },
];

async function time(c: Case, which: 'fwd' | 'dx' | 'dw', variant: { dw: ConvWeightGradient; dx: ConvInputGradient; split: ConvBorderSplit }): Promise<number> {
  const out = Math.floor((c.hw + 2 * c.p - c.k) / c.s) + 1;
  const xShape = [batch, c.c, c.hw, c.hw];
  const yShape = [batch, c.m, out, out];
  const wShape = [c.m, c.c, c.k, c.k];
  const rng = new Random(1);
  const graph = new Graph();
  const b = new GraphBuilder(graph);
  b.input('x', 'float32', xShape);
  b.input('dy', 'float32', yShape);
  const wData = rng.fillNormal(new Float32Array(wShape.reduce((a, v) => a * v, 1)));
  if (train) b.input('w', 'float32', wShape);
  else b.initializer('w', 'float32', wShape, wData);
  const e = new Emitter(graph, 17, { conv: { weightGradient: variant.dw, inputGradient: variant.dx, split: variant.split } });
  const geo: ConvGeometry = { kernel: [c.k, c.k], strides: [c.s, c.s], dilations: [1, 1], padsBegin: [c.p, c.p], padsEnd: [c.p, c.p], group: 1 };
  // Forward: the first variant is onnxruntime's own Conv, the others the im2col form.
  const result =
    which === 'fwd'
      ? variant.dx === 'conv-transpose'
        ? e.op1('Conv', ['x', 'w'], { kernel_shape: geo.kernel, strides: geo.strides, pads: [...geo.padsBegin, ...geo.padsEnd] })
        : convForwardIm2col(e, 'x', 'w', undefined, geo, xShape, yShape)
      : which === 'dx'
        ? convInputGrad(e, 'dy', 'w', geo, xShape, yShape)
        : convWeightGrad(e, 'x', 'dy', geo, xShape, yShape);
  b.op1('Identity', [result], {}, { outputs: ['out'] });
  b.output('out', 'float32');
  const session = await ort.InferenceSession.create(serializeModel(b.model(17)), { graphOptimizationLevel: 'all', intraOpNumThreads: 2, logSeverityLevel: 3 });
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor('float32', rng.fillNormal(new Float32Array(xShape.reduce((a, v) => a * v, 1))), xShape),
    dy: new ort.Tensor('float32', rng.fillNormal(new Float32Array(yShape.reduce((a, v) => a * v, 1))), yShape),
  };
  if (train) feeds['w'] = new ort.Tensor('float32', wData, wShape);
  const times: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const t = performance.now();
    await session.run(feeds);
    if (i >= 2) times.push(performance.now() - t);
  }
  await session.release();
  return Math.min(...times) + 0 * median(times);
}

const variants = [
  { name: 'ConvTranspose / swapped conv', dw: 'swapped-conv', dx: 'conv-transpose', split: 'never' },
  { name: 'im2col, no split', dw: 'im2col-gemm', dx: 'im2col-gemm', split: 'never' },
  { name: 'im2col, split all', dw: 'im2col-gemm', dx: 'im2col-gemm', split: 'always' },
  { name: 'im2col, split by cost', dw: 'im2col-gemm', dx: 'im2col-gemm', split: 'auto' },
] as const;
console.log(`batch ${batch}${train ? ', W as input' : ''}: min ms over ${runs} runs`);
console.log(`| conv | grad | ${variants.map((v) => v.name).join(' | ')} | blocks (auto) |`);
for (const c of cases.filter((k) => !only || k.name.startsWith(only))) {
  for (const which of ['fwd', 'dx', 'dw'] as const) {
    const ms: string[] = [];
    for (const v of variants) ms.push((await time(c, which, v)).toFixed(2));
    const out = Math.floor((c.hw + 2 * c.p - c.k) / c.s) + 1;
    const geo: ConvGeometry = { kernel: [c.k, c.k], strides: [c.s, c.s], dilations: [1, 1], padsBegin: [c.p, c.p], padsEnd: [c.p, c.p], group: 1 };
    const blocks = im2colBlockCount(
      'auto',
      which === 'dx' ? 'input' : which === 'dw' ? 'weight' : 'forward',
      geo,
      [batch, c.c, c.hw, c.hw],
      [batch, c.m, out, out],
      !train,
    );
    console.log(`| ${c.name} | ${which} | ${ms.join(' | ')} | ${blocks} |`);
  }
}
