import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import type { Model } from '../../src/onnx/model.js';
import type { Node } from '../../src/onnx/node.js';
import { ReconError } from '../../src/util/errors.js';
import { serializeModel } from '../../src/onnx/save.js';
import { RuntimeSession } from '../../src/runtime/session.js';
import type { HostTensor } from '../../src/runtime/ort-tensor.js';
import { Random } from '../../src/util/random.js';
import { lowerRecurrentModel, lowerRecurrentOps, recurrentLoweringFaults } from '../../src/autodiff/lower/recurrent.js';
import { buildGradientGraph } from '../../src/autodiff/gradient-graph.js';
import { createDefaultRegistry } from '../../src/autodiff/register-all.js';
import { expectGrad, pick } from './rule-test-util.js';

type Op = 'RNN' | 'GRU' | 'LSTM';
type Direction = 'forward' | 'reverse' | 'bidirectional';

interface Config {
  op: Op;
  direction: Direction;
  layout: 0 | 1;
  opset: number;
  seq: number;
  batch: number;
  input: number;
  hidden: number;
  bias: boolean;
  initialH: boolean;
  initialC: boolean;
  peepholes: boolean;
  /** A sequence_lens initializer holding the full length everywhere. */
  fullSeqLens: boolean;
  linearBeforeReset: 0 | 1;
  activations?: string[];
}

const GATES: Record<Op, number> = { RNN: 1, GRU: 3, LSTM: 4 };

function numDirections(c: Config): number {
  return c.direction === 'bidirectional' ? 2 : 1;
}

/** Graph inputs of a configuration with their shapes, in the op's input order. */
function inputShapes(c: Config): { name: string; dims: number[] }[] {
  const D = numDirections(c);
  const G = GATES[c.op];
  const out = [
    { name: 'X', dims: c.layout === 0 ? [c.seq, c.batch, c.input] : [c.batch, c.seq, c.input] },
    { name: 'W', dims: [D, G * c.hidden, c.input] },
    { name: 'R', dims: [D, G * c.hidden, c.hidden] },
  ];
  if (c.bias) out.push({ name: 'B', dims: [D, 2 * G * c.hidden] });
  const state = c.layout === 0 ? [D, c.batch, c.hidden] : [c.batch, D, c.hidden];
  if (c.initialH) out.push({ name: 'initial_h', dims: state });
  if (c.op === 'LSTM' && c.initialC) out.push({ name: 'initial_c', dims: state });
  if (c.op === 'LSTM' && c.peepholes) out.push({ name: 'P', dims: [D, 3 * c.hidden] });
  return out;
}

function outputNames(c: Config): string[] {
  return c.op === 'LSTM' ? ['Y', 'Y_h', 'Y_c'] : ['Y', 'Y_h'];
}

function attributes(c: Config, layout: 0 | 1): Record<string, number | string | string[] | undefined> {
  return {
    hidden_size: c.hidden,
    direction: c.direction,
    layout: c.opset >= 14 ? layout : undefined,
    linear_before_reset: c.op === 'GRU' ? c.linearBeforeReset : undefined,
    activations: c.activations,
  };
}

/** Appends the op node to `b` reading the named inputs; returns its outputs (Y, Y_h[, Y_c]). */
function addRecurrentNode(b: GraphBuilder, c: Config, names: Record<string, string>, layout: 0 | 1 = c.layout, outputs = outputNames(c)): string[] {
  let seqLens = '';
  if (c.fullSeqLens) seqLens = b.constant('sequence_lens', 'int32', [c.batch], new Int32Array(c.batch).fill(c.seq));
  const inputs = [names['X']!, names['W']!, names['R']!, names['B'] ?? '', seqLens, names['initial_h'] ?? '', names['initial_c'] ?? '', names['P'] ?? ''];
  while (inputs[inputs.length - 1] === '') inputs.pop();
  return b.op(c.op, inputs, attributes(c, layout), { name: `${c.op}_node`, outputs });
}

/**
 * The model with the op itself. onnxruntime's CPU kernels refuse layout 1, so the reference for
 * layout 1 is the layout-0 op between transposes (what the spec defines layout 1 to mean).
 */
function buildModel(c: Config, reference: boolean): Model {
  const b = new GraphBuilder();
  const names: Record<string, string> = {};
  for (const { name, dims } of inputShapes(c)) names[name] = b.input(name, 'float32', dims);
  if (reference && c.layout === 1) {
    const swapped: Record<string, string> = { ...names };
    swapped['X'] = b.op1('Transpose', [names['X']!], { perm: [1, 0, 2] });
    for (const s of ['initial_h', 'initial_c']) if (names[s]) swapped[s] = b.op1('Transpose', [names[s]!], { perm: [1, 0, 2] });
    const inner = addRecurrentNode(
      b,
      c,
      swapped,
      0,
      outputNames(c).map((o) => `${o}_time_major`),
    );
    b.op1('Transpose', [inner[0]!], { perm: [2, 0, 1, 3] }, { outputs: ['Y'] });
    for (let k = 1; k < inner.length; k++) b.op1('Transpose', [inner[k]!], { perm: [1, 0, 2] }, { outputs: [outputNames(c)[k]!] });
  } else {
    addRecurrentNode(b, c, names);
  }
  for (const o of outputNames(c)) b.output(o, 'float32');
  return b.model(c.opset);
}

function randomFeeds(c: Config, rng: Random): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  for (const { name, dims } of inputShapes(c)) {
    const data = rng.fillNormal(new Float32Array(dims.reduce((x, y) => x * y, 1)));
    // Weights of order 1/√H keep the gates out of saturation, where a wrong lowering would hide.
    const scale = name === 'X' || name.startsWith('initial') ? 1 : 0.7;
    for (let i = 0; i < data.length; i++) data[i]! *= scale;
    feeds[name] = { dtype: 'float32', dims, data };
  }
  return feeds;
}

async function run(model: Model, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const session = await RuntimeSession.create(serializeModel(model), { graphOptimizationLevel: 'disabled' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** Largest |reference − lowered| over every output (Infinity on a shape mismatch). */
async function loweringError(c: Config, seed: number, mutate?: (lowered: Model) => void): Promise<number> {
  const feeds = randomFeeds(c, new Random(seed));
  const expected = await run(buildModel(c, true), feeds);
  const lowered = buildModel(c, false);
  mutate?.(lowered);
  expect(await lowerRecurrentModel(lowered, feeds)).toBe(1);
  expect(lowered.graph.nodes.some((n) => n.opType === c.op)).toBe(false);
  const actual = await run(lowered, feeds);
  let worst = 0;
  for (const o of outputNames(c)) {
    const e = expected[o]!;
    const a = actual[o]!;
    if (e.dims.join() !== a.dims.join()) return Infinity;
    const ed = e.data as Float32Array;
    const ad = a.data as Float32Array;
    for (let i = 0; i < ed.length; i++) worst = Math.max(worst, Math.abs(ed[i]! - ad[i]!));
  }
  return worst;
}

function randomConfig(rng: Random, op: Op, direction: Direction, layout: 0 | 1): Config {
  const activations: Record<Op, string[]> = { RNN: ['Tanh', 'Relu', 'Sigmoid'], GRU: ['Sigmoid', 'Tanh', 'Relu'], LSTM: ['Sigmoid', 'Tanh', 'Relu'] };
  const c: Config = {
    op,
    direction,
    layout,
    opset: layout === 1 ? pick(rng, [14, 17, 18]) : pick(rng, [11, 13, 14, 17, 18]),
    seq: 1 + rng.int(5),
    batch: 1 + rng.int(3),
    input: 1 + rng.int(5),
    hidden: 1 + rng.int(5),
    bias: rng.uniform() < 0.7,
    initialH: rng.uniform() < 0.6,
    initialC: rng.uniform() < 0.6,
    peepholes: rng.uniform() < 0.5,
    fullSeqLens: rng.uniform() < 0.25,
    linearBeforeReset: rng.uniform() < 0.5 ? 1 : 0,
  };
  // Sometimes spell the activations out (the defaults, or other parameterless ones).
  if (rng.uniform() < 0.3) {
    const perDirection = { RNN: 1, GRU: 2, LSTM: 3 }[op];
    c.activations = Array.from({ length: perDirection * numDirections(c) }, () => pick(rng, activations[op]));
  }
  return c;
}

function describeConfig(c: Config): string {
  return JSON.stringify(c);
}

describe('recurrent ops lowered to standard ops', () => {
  it('computes what onnxruntime computes: every op × direction × layout, random sizes and optional inputs', async () => {
    const rng = new Random(2024);
    let seed = 0;
    for (const op of ['RNN', 'GRU', 'LSTM'] as const) {
      for (const direction of ['forward', 'reverse', 'bidirectional'] as const) {
        for (const layout of [0, 1] as const) {
          for (let rep = 0; rep < 4; rep++) {
            const c = randomConfig(rng, op, direction, layout);
            const err = await loweringError(c, ++seed);
            if (process.env.RNN_DEBUG) console.log(err.toExponential(2), describeConfig(c));
            expect(err, describeConfig(c)).toBeLessThan(1e-5);
          }
        }
      }
    }
  });

  it('covers the corners explicitly: everything optional absent, everything present, GRU both reset modes', async () => {
    const base = { layout: 0 as const, opset: 14, seq: 3, batch: 2, input: 3, hidden: 4, fullSeqLens: false };
    const cases: Config[] = [];
    for (const op of ['RNN', 'GRU', 'LSTM'] as const) {
      for (const all of [false, true]) {
        for (const linearBeforeReset of op === 'GRU' ? ([0, 1] as const) : ([0] as const)) {
          cases.push({ ...base, op, direction: 'bidirectional', bias: all, initialH: all, initialC: all, peepholes: all, fullSeqLens: all, linearBeforeReset });
        }
      }
    }
    for (const [i, c] of cases.entries()) expect(await loweringError(c, 100 + i), describeConfig(c)).toBeLessThan(1e-5);
  });

  it('the equivalence check catches a wrong lowering (swapped gates, the other GRU reset mode)', async () => {
    const c = (op: Op, linearBeforeReset: 0 | 1 = 0): Config => ({
      op,
      direction: 'forward',
      layout: 0,
      opset: 14,
      seq: 3,
      batch: 2,
      input: 3,
      hidden: 3,
      bias: true,
      initialH: true,
      initialC: true,
      peepholes: false,
      fullSeqLens: false,
      linearBeforeReset,
    });
    const swap =
      (i: number, j: number) =>
      (_op: Op, gates: string[]): string[] => {
        const out = gates.slice();
        [out[i], out[j]] = [gates[j]!, gates[i]!];
        return out;
      };
    try {
      recurrentLoweringFaults.permuteGates = swap(0, 1); // GRU z ↔ r
      expect(await loweringError(c('GRU'), 1)).toBeGreaterThan(1e-2);
      recurrentLoweringFaults.permuteGates = swap(1, 2); // LSTM o ↔ f
      expect(await loweringError(c('LSTM'), 2)).toBeGreaterThan(1e-2);
    } finally {
      delete recurrentLoweringFaults.permuteGates;
    }
    expect(await loweringError(c('GRU'), 1)).toBeLessThan(1e-5);
    // The reference computes linear_before_reset = 1; the lowered node is told 0.
    const wrongMode = await loweringError(c('GRU', 1), 3, (m) => m.graph.nodes[0]!.setAttr('linear_before_reset', { kind: 'int', value: 0 }));
    expect(wrongMode).toBeGreaterThan(1e-2);
  });

  it('lowers stacked layers, one level per shape probe', async () => {
    const b = new GraphBuilder();
    b.input('X', 'float32', [4, 2, 3]);
    const rng = new Random(9);
    const weight = (name: string, dims: number[]): string => {
      const data = rng.fillNormal(new Float32Array(dims.reduce((x, y) => x * y, 1)));
      return b.initializer(
        name,
        'float32',
        dims,
        data.map((v) => 0.5 * v),
      );
    };
    const [y1] = b.op(
      'LSTM',
      ['X', weight('W1', [2, 16, 3]), weight('R1', [2, 16, 4]), weight('B1', [2, 32])],
      { hidden_size: 4, direction: 'bidirectional' },
      { outputCount: 3 },
    );
    const x2 = b.op1('Reshape', [b.op1('Transpose', [y1!], { perm: [0, 2, 1, 3] }), b.int64s('shape', [4, 2, 8])]);
    b.op(
      'GRU',
      [x2, weight('W2', [1, 9, 8]), weight('R2', [1, 9, 3]), weight('B2', [1, 18])],
      { hidden_size: 3, linear_before_reset: 1 },
      { outputs: ['Y', 'Y_h'] },
    );
    b.output('Y', 'float32');
    b.output('Y_h', 'float32');
    const model = b.model(17);
    const feeds = { X: { dtype: 'float32' as const, dims: [4, 2, 3], data: rng.fillNormal(new Float32Array(24)) } };
    const expected = await run(model, feeds);
    expect(await lowerRecurrentModel(model, feeds)).toBe(2);
    const actual = await run(model, feeds);
    for (const o of ['Y', 'Y_h']) {
      const e = expected[o]!.data as Float32Array;
      const a = actual[o]!.data as Float32Array;
      expect(Math.max(...e.map((v, i) => Math.abs(v - a[i]!)))).toBeLessThan(1e-5);
    }
  });

  it('accepts sequence_lens computed from the static shape of X (full length for every sequence)', async () => {
    const c: Config = {
      op: 'LSTM',
      direction: 'reverse',
      layout: 0,
      opset: 17,
      seq: 4,
      batch: 3,
      input: 2,
      hidden: 3,
      bias: true,
      initialH: false,
      initialC: false,
      peepholes: false,
      fullSeqLens: false,
      linearBeforeReset: 0,
    };
    const err = await loweringError(c, 11, (m) => {
      const b = new GraphBuilder(m.graph);
      const shape = b.op1('Shape', ['X']);
      const length = b.op1('Gather', [shape, b.scalar('zero', 0, 'int64')]);
      const batch = b.op1('Gather', [shape, b.int64s('one', [1])]);
      const lens = b.op1('Cast', [b.op1('Expand', [length, batch])], { to: 6 });
      const node = m.graph.nodes.find((n) => n.opType === 'LSTM')!;
      node.inputs[4] = lens;
      m.graph.toposort();
    });
    expect(err).toBeLessThan(1e-5);
  });

  it('gradients through the lowered graph match finite differences (X, W, R, B, initial states, peepholes)', async () => {
    const rng = new Random(77);
    const cases: Config[] = [];
    for (const op of ['RNN', 'GRU', 'LSTM'] as const) {
      for (const direction of ['forward', 'reverse', 'bidirectional'] as const) {
        const c = randomConfig(rng, op, direction, direction === 'reverse' ? 1 : 0);
        Object.assign(c, {
          bias: true,
          initialH: true,
          initialC: true,
          peepholes: op === 'LSTM',
          fullSeqLens: false,
          activations: undefined,
          seq: 1 + Math.min(c.seq, 3),
          opset: 17,
        });
        cases.push(c);
      }
    }
    cases.push({ ...cases[3]!, linearBeforeReset: cases[3]!.linearBeforeReset === 1 ? 0 : 1 }); // GRU, the other reset mode
    cases.push({ ...cases[0]!, bias: false, initialH: false }); // RNN, nothing optional
    for (const [i, c] of cases.entries()) {
      const inputs = inputShapes(c);
      await expectGrad(
        inputs.map((s) => ({ name: s.name, dims: s.dims })),
        (b, names) => {
          const byName = Object.fromEntries(inputs.map((s, k) => [s.name, names[k]!]));
          const outputs = addRecurrentNode(
            b,
            c,
            byName,
            c.layout,
            outputNames(c).map((o) => b.name(o)),
          );
          lowerRecurrentOps(b.graph, { values: new Map(inputs.map((s) => [s.name, { dims: s.dims }])) }, c.opset);
          return outputs;
        },
        { opset: c.opset, seed: 300 + i, rtol: 5e-3 },
      );
    }
  });

  it('buildGradientGraph differentiates a model with recurrent layers (trainable weights vs finite differences)', async () => {
    const b = new GraphBuilder();
    const rng = new Random(5);
    b.input('X', 'float32', [3, 2, 3]);
    const weight = (name: string, dims: number[]): string => {
      const data = rng.fillNormal(new Float32Array(dims.reduce((x, y) => x * y, 1)));
      return b.initializer(
        name,
        'float32',
        dims,
        data.map((v) => 0.6 * v),
      );
    };
    const [, yh] = b.op(
      'GRU',
      ['X', weight('W', [1, 12, 3]), weight('R', [1, 12, 4]), weight('B', [1, 24])],
      { hidden_size: 4, linear_before_reset: 1 },
      { outputCount: 2 },
    );
    b.op1('Squeeze', [yh!, b.int64s('axes', [0])], {}, { outputs: ['pred'] });
    b.output('pred', 'float32', [2, 4]);
    const model = b.model(17);
    const feeds: Record<string, HostTensor> = {
      X: { dtype: 'float32', dims: [3, 2, 3], data: rng.fillNormal(new Float32Array(18)) },
      target: { dtype: 'float32', dims: [2, 4], data: rng.fillNormal(new Float32Array(8)) },
    };
    const params = ['W', 'R', 'B'];
    const gg = await buildGradientGraph(model, {
      tasks: [{ name: 'task', output: 'pred', loss: 'mse', target: 'target', weight: 1, ignoreIndex: -100 }],
      gramParams: [],
      trainableParams: params,
      batchNorm: 'eval',
      registry: createDefaultRegistry(),
      feeds,
    });
    expect(gg.model.graph.nodes.some((n) => n.opType === 'GRU')).toBe(false);
    const session = await RuntimeSession.create(serializeModel(gg.model), { graphOptimizationLevel: 'disabled' });
    try {
      const values: Record<string, Float32Array> = {};
      for (const p of params) values[p] = model.graph.initializers.get(p)!.data('float32') as Float32Array;
      const withParams = (shift: number, dir: Record<string, Float32Array>): Record<string, HostTensor> => {
        const f = { ...feeds };
        for (const p of params) {
          const t = model.graph.initializers.get(p)!;
          f[p] = { dtype: 'float32', dims: t.dims.slice(), data: values[p]!.map((v, i) => v + shift * dir[p]![i]!) };
        }
        return f;
      };
      const zero = Object.fromEntries(params.map((p) => [p, new Float32Array(values[p]!.length)]));
      const base = await session.run(withParams(0, zero));
      const dir = Object.fromEntries(params.map((p) => [p, rng.fillNormal(new Float32Array(values[p]!.length))]));
      let analytic = 0;
      for (const p of params) {
        const g = base[gg.gradientOutputs.get('task')!.get(p)!]!.data as Float32Array;
        g.forEach((v, i) => (analytic += v * dir[p]![i]!));
      }
      const eps = 1e-2;
      const loss = async (s: number): Promise<number> => (await session.run(withParams(s, dir), [gg.lossesOutput]))[gg.lossesOutput]!.data[0] as number;
      const numeric = ((await loss(eps)) - (await loss(-eps))) / (2 * eps);
      expect(Math.abs(numeric - analytic)).toBeLessThan(2e-3 * Math.max(1, Math.abs(analytic)));
    } finally {
      await session.release();
    }
  });

  describe('unsupported forms are refused with the node named', () => {
    const c: Config = {
      op: 'GRU',
      direction: 'forward',
      layout: 0,
      opset: 14,
      seq: 3,
      batch: 2,
      input: 2,
      hidden: 2,
      bias: false,
      initialH: false,
      initialC: false,
      peepholes: false,
      fullSeqLens: false,
      linearBeforeReset: 0,
    };
    const lower = (config: Config, edit: (b: GraphBuilder, node: Node | undefined) => void): void => {
      const b = new GraphBuilder();
      const names: Record<string, string> = {};
      for (const { name, dims } of inputShapes(config)) names[name] = b.input(name, 'float32', dims);
      addRecurrentNode(b, config, names);
      edit(b, b.graph.nodes.at(-1));
      lowerRecurrentOps(b.graph, { values: new Map(inputShapes(config).map((s) => [s.name, { dims: s.dims }])) }, config.opset);
    };
    const refused = (config: Config, edit: Parameters<typeof lower>[1], message: RegExp): void => {
      let error: unknown;
      try {
        lower(config, edit);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ReconError);
      expect((error as Error).message).toMatch(new RegExp(`"${config.op}_node"`));
      expect((error as Error).message).toMatch(message);
    };

    it('activations with parameters, clip, input_forget', () => {
      refused({ ...c, op: 'RNN', activations: ['LeakyRelu'] }, () => {}, /"activations".*LeakyRelu/);
      refused({ ...c, activations: ['HardSigmoid', 'Tanh'] }, () => {}, /"activations".*HardSigmoid/);
      refused({ ...c, direction: 'bidirectional', activations: ['Sigmoid', 'Tanh'] }, () => {}, /"activations" lists 2/);
      refused(c, (_b, n) => n!.setAttr('clip', { kind: 'float', value: 3 }), /"clip"/);
      refused({ ...c, op: 'LSTM' }, (_b, n) => n!.setAttr('input_forget', { kind: 'int', value: 1 }), /"input_forget"/);
    });

    it('sequence_lens shorter than the sequence, or not known at build time', () => {
      const withLens = (lens: number[]) => (b: GraphBuilder, n: Node | undefined) => {
        n!.inputs[3] = '';
        n!.inputs[4] = b.constant('lens', 'int32', [2], Int32Array.from(lens));
      };
      refused(c, withLens([3, 2]), /sequence_lens is \[3, 2\]/);
      refused(
        c,
        (b, n) => {
          n!.inputs[3] = '';
          n!.inputs[4] = b.input('lens', 'int32', [2]);
        },
        /sequence_lens \("lens"\) is not known/,
      );
      // Full lengths are fine.
      expect(() => lower(c, withLens([3, 3]))).not.toThrow();
    });
  });
});
