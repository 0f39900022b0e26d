import { describe, expect, it } from 'vitest';
import { createOptimizer, type OptimizerConfig, type OptimizerState } from '../../src/conflict/optimizer.js';

// A tiny "model": two named parameters and a fixed gradient per step (3 steps, lr changes at step 3).
const INITIAL: Record<string, number[]> = { w: [0.5, -1.25, 2.0], b: [0.1] };
const GRADS: Record<string, number[]>[] = [
  { w: [0.2, -0.4, 1.5], b: [-0.05] },
  { w: [-0.1, 0.3, 0.25], b: [0.02] },
  { w: [0.05, -0.2, -0.75], b: [0.0] },
];
const LRS = [0.1, 0.1, 0.01];

const f = Math.fround;

function freshParams(): Map<string, Float32Array> {
  return new Map(Object.entries(INITIAL).map(([k, v]) => [k, Float32Array.from(v)]));
}
const gradsAt = (s: number): Map<string, Float32Array> => new Map(Object.entries(GRADS[s]!).map(([k, v]) => [k, Float32Array.from(v)]));

function run(config: OptimizerConfig, steps = 3, params = freshParams(), opt = createOptimizer(config), from = 0): Map<string, Float32Array> {
  for (let s = from; s < from + steps; s++) opt.step(params, gradsAt(s), LRS[s]!);
  return params;
}

function expectRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number): void {
  expect(actual.length).toBe(expected.length);
  for (let k = 0; k < expected.length; k++) {
    const denom = Math.max(Math.abs(expected[k]!), 1e-30);
    expect(Math.abs(actual[k]! - expected[k]!) / denom).toBeLessThanOrEqual(rel);
  }
}

describe('SGD (torch.optim.SGD, momentum 0.9, weight decay 0.01, dampening 0, no nesterov)', () => {
  const config: OptimizerConfig = { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 };

  /** Hand-written torch steps for one scalar; `r` rounds where torch stores a float32 tensor. */
  function handSgd(p0: number, grads: number[], r: (x: number) => number): number {
    let p = r(p0);
    let buf = 0;
    for (let s = 0; s < grads.length; s++) {
      const d = r(grads[s]! + 0.01 * p); // d_p = grad + wd·θ
      buf = s === 0 ? d : r(r(0.9 * buf) + d); // buf = d_p on step 1, else 0.9·buf + d_p
      p = r(p - LRS[s]! * buf);
    }
    return p;
  }

  it('matches hand-computed steps in float32 semantics (1e-7 relative) and in float64 (1e-6)', () => {
    const params = run(config);
    for (const [name, p0] of Object.entries(INITIAL)) {
      const expected32 = p0.map((x, k) =>
        handSgd(
          x,
          GRADS.map((g) => g[name]![k]!),
          f,
        ),
      );
      const expected64 = p0.map((x, k) =>
        handSgd(
          x,
          GRADS.map((g) => g[name]![k]!),
          (v) => v,
        ),
      );
      expectRelClose(params.get(name)!, expected32, 1e-7);
      expectRelClose(params.get(name)!, expected64, 1e-6);
    }
  });

  it('first step uses the gradient itself as momentum buffer (θ − lr·(g + wd·θ))', () => {
    const params = run(config, 1);
    const w = params.get('w')!;
    for (let k = 0; k < 3; k++) {
      const expected = INITIAL['w']![k]! - 0.1 * (GRADS[0]!['w']![k]! + 0.01 * INITIAL['w']![k]!);
      expect(w[k]!).toBeCloseTo(expected, 6);
    }
  });

  it('without momentum it is plain gradient descent and keeps no buffers', () => {
    const opt = createOptimizer({ kind: 'sgd', lr: 0.1 });
    const params = run({ kind: 'sgd', lr: 0.1 }, 3, freshParams(), opt);
    const b = INITIAL['b']![0]! - LRS[0]! * -0.05 - LRS[1]! * 0.02 - LRS[2]! * 0;
    expect(params.get('b')![0]!).toBeCloseTo(b, 7);
    expect(Object.keys(opt.state().buffers)).toEqual([]);
  });
});

describe('Adam (torch.optim.Adam, L2 weight decay, bias correction, eps after the sqrt)', () => {
  const config: OptimizerConfig = { kind: 'adam', lr: 0.01, weightDecay: 0.01 };

  function handAdam(p0: number, grads: number[], r: (x: number) => number): number {
    const [b1, b2, eps] = [0.9, 0.999, 1e-8];
    let [p, m, v] = [r(p0), 0, 0];
    for (let s = 0; s < grads.length; s++) {
      const t = s + 1;
      const g = r(grads[s]! + 0.01 * p);
      m = r(m + (1 - b1) * (g - m));
      v = r(r(b2 * v) + (1 - b2) * g * g);
      const mHat = m / (1 - b1 ** t);
      const vHat = v / (1 - b2 ** t);
      p = r(p - (LRS[s]! * mHat) / (Math.sqrt(vHat) + eps));
    }
    return p;
  }

  it('matches hand-computed steps in float32 semantics (1e-7 relative) and in float64 (1e-6)', () => {
    const params = run(config);
    for (const [name, p0] of Object.entries(INITIAL)) {
      const grads = (k: number) => GRADS.map((g) => g[name]![k]!);
      expectRelClose(
        params.get(name)!,
        p0.map((x, k) => handAdam(x, grads(k), f)),
        1e-7,
      );
      expectRelClose(
        params.get(name)!,
        p0.map((x, k) => handAdam(x, grads(k), (v) => v)),
        1e-6,
      );
    }
  });

  it('first step moves every coordinate by lr·sign(g) (bias-corrected m̂/√v̂ = ±1)', () => {
    const params = run({ kind: 'adam', lr: 0.01 }, 1); // the step's lr (LRS[0] = 0.1) is what counts
    const w = params.get('w')!;
    for (let k = 0; k < 3; k++) expect(w[k]!).toBeCloseTo(INITIAL['w']![k]! - LRS[0]! * Math.sign(GRADS[0]!['w']![k]!), 6);
  });

  it('adds eps after the square root: lr·g/(|g| + eps) on the first step, not lr·g/√(g² + eps)', () => {
    const params = freshParams();
    createOptimizer({ kind: 'adam', lr: 0.1, eps: 0.5 }).step(params, new Map([['b', Float32Array.of(1.5)]]), 0.1);
    expect(params.get('b')![0]!).toBeCloseTo(0.1 - (0.1 * 1.5) / (1.5 + 0.5), 7);
  });

  it('a zero gradient on the first step leaves the parameter unchanged (eps keeps 0/0 away)', () => {
    const params = freshParams();
    createOptimizer({ kind: 'adam', lr: 0.01 }).step(params, new Map([['b', Float32Array.of(0)]]), 0.01);
    expect(params.get('b')![0]!).toBe(f(0.1));
  });
});

describe('optimizer state', () => {
  for (const config of [
    { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 },
    { kind: 'adam', lr: 0.01, weightDecay: 0.01, betas: [0.8, 0.99], eps: 1e-6 },
  ] as OptimizerConfig[]) {
    it(`${config.kind}: save after step 1 → JSON header + buffers → load → 2 more steps ≡ 3 uninterrupted steps`, () => {
      const straight = run(config);

      const params = freshParams();
      const first = createOptimizer(config);
      run(config, 1, params, first);
      const saved = first.state();
      // The header must survive JSON; buffers travel as float32 arrays (npz in checkpoints).
      const restoredState: OptimizerState = {
        header: JSON.parse(JSON.stringify(saved.header)) as OptimizerState['header'],
        buffers: Object.fromEntries(Object.entries(saved.buffers).map(([k, v]) => [k, Float32Array.from(v)])),
      };
      // state() is a snapshot: stepping the old optimizer further must not change it.
      const snapshot = Object.fromEntries(Object.entries(saved.buffers).map(([k, v]) => [k, Array.from(v)]));
      first.step(freshParams(), gradsAt(1), 0.1);
      expect(Object.fromEntries(Object.entries(saved.buffers).map(([k, v]) => [k, Array.from(v)]))).toEqual(snapshot);

      const second = createOptimizer(config);
      second.load(restoredState);
      run(config, 2, params, second, 1);
      for (const [name, p] of straight) expect(Array.from(params.get(name)!)).toEqual(Array.from(p));
    });
  }

  it('names buffers as torch does and counts steps per parameter', () => {
    const opt = createOptimizer({ kind: 'adam', lr: 0.01 });
    const params = freshParams();
    opt.step(params, gradsAt(0), 0.01);
    opt.step(params, new Map([['w', Float32Array.of(1, 1, 1)]]), 0.01); // b gets no gradient: skipped
    const s = opt.state();
    expect(Object.keys(s.buffers).sort()).toEqual(['exp_avg:b', 'exp_avg:w', 'exp_avg_sq:b', 'exp_avg_sq:w']);
    expect(s.header.steps).toEqual({ w: 2, b: 1 });
    expect(s.header).toMatchObject({ format: 'recon-onnx-optimizer', version: 1, kind: 'adam', betas: [0.9, 0.999], eps: 1e-8 });
  });

  it('refuses a state from a different optimizer or hyper-parameters', () => {
    const sgd = createOptimizer({ kind: 'sgd', lr: 0.1, momentum: 0.9 });
    expect(() => createOptimizer({ kind: 'adam', lr: 0.1 }).load(sgd.state())).toThrow(/kind sgd/);
    expect(() => createOptimizer({ kind: 'sgd', lr: 0.1, momentum: 0.5 }).load(sgd.state())).toThrow(/momentum/);
  });

  it('kind none never changes parameters', () => {
    const params = run({ kind: 'none', lr: 0.1 });
    for (const [name, p] of params) expect(Array.from(p)).toEqual(INITIAL[name]!.map(f));
  });

  it('rejects gradients that do not fit the parameters', () => {
    const opt = createOptimizer({ kind: 'sgd', lr: 0.1 });
    expect(() => opt.step(freshParams(), new Map([['x', Float32Array.of(1)]]), 0.1)).toThrow(/unknown parameter x/);
    expect(() => opt.step(freshParams(), new Map([['b', Float32Array.of(1, 2)]]), 0.1)).toThrow(/2 elements/);
  });
});

describe('stepCombined (gradients as weighted sums of parts, combined chunk by chunk)', () => {
  /** The sum the scan used to materialise: each weighted part added into a zeroed Float32Array. */
  function materialise(parts: Float32Array[], weights: number[], n: number): Float32Array {
    const g = new Float32Array(n);
    parts.forEach((part, i) => {
      for (let k = 0; k < n; k++) g[k]! += weights[i]! * part[k]!;
    });
    return g;
  }

  it('equals step on the materialised sums bit for bit (SGD and Adam, 0–3 parts, several chunks)', () => {
    // 10 007 elements cross chunk boundaries with a ragged last chunk.
    const sizes: Record<string, number> = { big: 10_007, small: 3 };
    const configs: OptimizerConfig[] = [
      { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 },
      { kind: 'sgd', lr: 0.1 },
      { kind: 'adam', lr: 1e-3, weightDecay: 0.02 },
    ];
    let seed = 1;
    const noise = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.sin(seed++ * 12.9898) * 3);
    for (const config of configs) {
      for (const partCount of [0, 1, 2, 3]) {
        const a = createOptimizer(config);
        const b = createOptimizer(config);
        const pa = new Map(Object.entries(sizes).map(([k, n]) => [k, noise(n)]));
        const pb = new Map([...pa].map(([k, v]) => [k, v.slice()]));
        for (let step = 0; step < 3; step++) {
          const combined = new Map(
            Object.entries(sizes).map(([k, n]) => [
              k,
              { parts: Array.from({ length: partCount }, () => noise(n)), weights: Array.from({ length: partCount }, (_, i) => 0.5 + i * 0.37) },
            ]),
          );
          a.stepCombined(pa, combined, 0.05);
          b.step(pb, new Map([...combined].map(([k, c]) => [k, materialise(c.parts, c.weights, sizes[k]!)])), 0.05);
        }
        for (const [k, v] of pa) expect(Array.from(v), `${config.kind} ${partCount} parts ${k}`).toEqual(Array.from(pb.get(k)!));
        expect(a.state()).toEqual(b.state());
      }
    }
  });

  it('refuses parts of the wrong size and mismatched weights', () => {
    const opt = createOptimizer({ kind: 'sgd', lr: 0.1 });
    const params = new Map([['w', new Float32Array(4)]]);
    expect(() => opt.stepCombined(params, new Map([['w', { parts: [new Float32Array(3)], weights: [1] }]]), 0.1)).toThrow(/3 elements/);
    expect(() => opt.stepCombined(params, new Map([['w', { parts: [new Float32Array(4)], weights: [] }]]), 0.1)).toThrow(/weights/);
    expect(() => opt.stepCombined(params, new Map([['v', { parts: [], weights: [] }]]), 0.1)).toThrow(/unknown parameter/);
  });
});
