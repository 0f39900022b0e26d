import { GraphBuilder } from '../../src/onnx/builder.js';
import type { Lowering } from '../../src/autodiff/lowering.js';
import { serializeModel } from '../../src/onnx/save.js';
import { makeValueInfo } from '../../src/onnx/value-info.js';
import { inferShapes } from '../../src/analysis/shapes.js';
import { buildGradients } from '../../src/autodiff/reverse-mode.js';
import { createDefaultRegistry } from '../../src/autodiff/register-all.js';
import type { GradientRegistry } from '../../src/autodiff/registry.js';
import { RuntimeSession } from '../../src/runtime/session.js';
import type { HostTensor } from '../../src/runtime/ort-tensor.js';
import { Random } from '../../src/util/random.js';

export interface GradcheckInput {
  name: string;
  dims: number[];
  /** Check the gradient of this input (float32 only). Default true for float inputs. */
  differentiate?: boolean;
  /** Fixed data (e.g. int64 indices); random N(0,1) float32 otherwise. */
  data?: HostTensor['data'];
  dtype?: 'float32' | 'int64';
}

export interface GradcheckOptions {
  opset: number;
  seed: number;
  /** Number of random directions. */
  directions?: number;
  /** Finite-difference step (relative to the direction's unit norm). */
  epsilon?: number;
  /** Relative tolerance on the directional derivative. */
  rtol?: number;
  batchNorm?: 'train' | 'eval';
  /** Transform the random float data (e.g. keep Log/Sqrt inputs positive). */
  positive?: boolean;
  /** The rules to differentiate with (default: createDefaultRegistry()). */
  registry?: GradientRegistry;
  /** Formulations the rules emit (default: the CPU's). */
  lowering?: Lowering;
}

export interface GradcheckResult {
  /** Worst |numeric − analytic| / max(|analytic|, |numeric|, ‖g‖/10) over directions. */
  worst: number;
  analytic: number[];
  numeric: number[];
}

/**
 * Checks a gradient rule (or a composition) against central finite differences: builds the graph
 * with `body`, projects every output on fixed random weights to get a scalar loss (accumulated in
 * float64 to keep the finite differences clean), differentiates it with the real builder, and
 * compares <grad, d> with (f(x+εd) − f(x−εd)) / 2ε along random directions d.
 */
export async function gradcheck(
  inputs: GradcheckInput[],
  body: (b: GraphBuilder, inputs: string[]) => string[],
  options: GradcheckOptions,
): Promise<GradcheckResult> {
  const rng = new Random(options.seed);
  const b = new GraphBuilder();
  const feeds: Record<string, HostTensor> = {};
  for (const input of inputs) {
    const dtype = input.dtype ?? 'float32';
    b.input(input.name, dtype, input.dims);
    const n = input.dims.reduce((x, y) => x * y, 1);
    if (input.data) {
      feeds[input.name] = { dtype, dims: input.dims, data: input.data } as HostTensor;
    } else {
      const data = rng.fillNormal(new Float32Array(n));
      if (options.positive) for (let i = 0; i < n; i++) data[i] = 0.5 + Math.abs(data[i]!);
      feeds[input.name] = { dtype: 'float32', dims: input.dims, data };
    }
  }
  const outputs = body(
    b,
    inputs.map((i) => i.name),
  );
  const probe = b.model(options.opset);
  const forwardShapes = await inferShapes(probe, { feeds });
  const terms: string[] = [];
  for (const y of outputs) {
    const dims = forwardShapes.values.get(y)!.dims;
    const n = dims.reduce((x, z) => x * z, 1);
    const weights = new Float64Array(n);
    for (let i = 0; i < n; i++) weights[i] = rng.normal();
    const w = b.constant('projection', 'float64', dims, weights);
    const y64 = b.op1('Cast', [y], { to: 11 });
    terms.push(b.op1('ReduceSum', [b.op1('Mul', [y64, w])], { keepdims: 0 }));
  }
  const loss64 = terms.length === 1 ? terms[0]! : b.op1('Sum', terms);
  const loss = b.op1('Cast', [loss64], { to: 1 }, { outputs: ['loss'] });
  b.graph.outputs = [makeValueInfo('loss64', 'float64', [])];
  b.op1('Identity', [loss64], {}, { outputs: ['loss64'] });
  void loss;
  const model = b.model(options.opset);
  const shapes = await inferShapes(model, { feeds });
  const wrt = inputs.filter((i) => (i.dtype ?? 'float32') === 'float32' && i.differentiate !== false).map((i) => i.name);
  const { grads } = buildGradients(model, options.registry ?? createDefaultRegistry(), {
    losses: [{ task: 'loss', value: 'loss' }],
    wrt,
    shapes,
    batchNorm: options.batchNorm ?? 'train',
    ...(options.lowering ? { lowering: options.lowering } : {}),
  });
  const gradNames = wrt.map((w) => grads.get('loss')!.get(w));
  gradNames.forEach((g, i) => {
    if (!g) throw new Error(`no gradient reached input ${wrt[i]}`);
  });
  for (const g of gradNames) model.graph.outputs.push({ name: g! });
  const session = await RuntimeSession.create(serializeModel(model), { graphOptimizationLevel: 'disabled' });
  try {
    const base = await session.run(feeds);
    const eps = options.epsilon ?? 1e-3;
    const rtol = options.rtol ?? 2e-3;
    const analytic: number[] = [];
    const numeric: number[] = [];
    let worst = 0;
    for (let k = 0; k < (options.directions ?? 3); k++) {
      const directions = wrt.map((w) => {
        const d = rng.fillNormal(new Float32Array(feeds[w]!.data.length));
        const norm = Math.hypot(...d);
        for (let i = 0; i < d.length; i++) d[i]! /= norm || 1;
        return d;
      });
      let dot = 0;
      let gradNormSq = 0;
      wrt.forEach((_, j) => {
        const g = base[gradNames[j]!]!.data as Float32Array;
        const d = directions[j]!;
        for (let i = 0; i < d.length; i++) {
          dot += g[i]! * d[i]!;
          gradNormSq += g[i]! * g[i]!;
        }
      });
      const shifted = async (sign: number): Promise<number> => {
        const f: Record<string, HostTensor> = { ...feeds };
        wrt.forEach((w, j) => {
          const x = feeds[w]!.data as Float32Array;
          const d = directions[j]!;
          const y = new Float32Array(x.length);
          for (let i = 0; i < x.length; i++) y[i] = x[i]! + sign * eps * d[i]!;
          f[w] = { dtype: 'float32', dims: feeds[w]!.dims, data: y };
        });
        const r = await session.run(f, ['loss64']);
        return (r['loss64']!.data as Float64Array)[0]!;
      };
      const fd = ((await shifted(1)) - (await shifted(-1))) / (2 * eps);
      analytic.push(dot);
      numeric.push(fd);
      // |<g,d>| <= ||g|| for unit d: measuring against a tenth of ||g|| keeps directions nearly
      // orthogonal to g from turning float32 rounding into a large relative error.
      const scale = Math.max(Math.abs(dot), Math.abs(fd), 0.1 * Math.sqrt(gradNormSq), 1e-6);
      worst = Math.max(worst, Math.abs(dot - fd) / scale);
    }
    if (!(worst <= rtol)) {
      throw new Error(
        `gradcheck failed: worst relative error ${worst.toExponential(2)} > ${rtol} (analytic ${analytic.map((v) => v.toPrecision(6))}, numeric ${numeric.map((v) => v.toPrecision(6))})`,
      );
    }
    return { worst, analytic, numeric };
  } finally {
    await session.release();
  }
}
