import { describe, expect, it } from 'vitest';
import { GraphBuilder, serializeModel } from '../../src/onnx/index.js';
import { appendLoss } from '../../src/autodiff/losses.js';
import { parseTaskSpec, type LossKind } from '../../src/analysis/task-spec.js';
import { RuntimeSession } from '../../src/runtime/session.js';
import { Random } from '../../src/util/random.js';
import { gradcheck } from './gradcheck.js';

const N = 4;
const C = 3;

/** PyTorch's definitions, in float64, for the value check. */
function reference(kind: LossKind, x: Float32Array, t: ArrayLike<number>, dims: number[], ignoreIndex = -1): number {
  const n = x.length;
  const mean = (f: (i: number) => number): number => {
    let s = 0;
    for (let i = 0; i < n; i++) s += f(i);
    return s / n;
  };
  switch (kind) {
    case 'mse':
      return mean((i) => (x[i]! - t[i]!) ** 2);
    case 'l1':
      return mean((i) => Math.abs(x[i]! - t[i]!));
    case 'smooth_l1':
      return mean((i) => {
        const d = Math.abs(x[i]! - t[i]!);
        return d < 1 ? 0.5 * d * d : d - 0.5;
      });
    case 'bce_with_logits':
      return mean((i) => Math.max(x[i]!, 0) - x[i]! * t[i]! + Math.log1p(Math.exp(-Math.abs(x[i]!))));
    case 'cosine': {
      const [b, c, s] = [dims[0]!, dims[1]!, dims.slice(2).reduce((p, q) => p * q, 1)];
      let total = 0;
      for (let i = 0; i < b; i++) {
        for (let k = 0; k < s; k++) {
          let dot = 0,
            nx = 0,
            nt = 0;
          for (let j = 0; j < c; j++) {
            const a = x[(i * c + j) * s + k]!;
            const v = t[(i * c + j) * s + k]!;
            dot += a * v;
            nx += a * a;
            nt += v * v;
          }
          total += 1 - dot / (Math.max(Math.sqrt(nx), 1e-8) * Math.max(Math.sqrt(nt), 1e-8));
        }
      }
      return total / (b * s);
    }
    case 'cross_entropy': {
      const [b, c, s] = [dims[0]!, dims[1]!, dims.slice(2).reduce((p, q) => p * q, 1)];
      let total = 0;
      let count = 0;
      for (let i = 0; i < b; i++) {
        for (let k = 0; k < s; k++) {
          const label = t[i * s + k]!;
          if (label === ignoreIndex) continue;
          let m = -Infinity;
          for (let j = 0; j < c; j++) m = Math.max(m, x[(i * c + j) * s + k]!);
          let z = 0;
          for (let j = 0; j < c; j++) z += Math.exp(x[(i * c + j) * s + k]! - m);
          total += -(x[(i * c + label) * s + k]! - m - Math.log(z));
          count++;
        }
      }
      return total / count;
    }
    case 'none':
      return x[0]!;
  }
}

async function lossValue(
  kind: LossKind,
  dims: number[],
  targetDims: number[],
  x: Float32Array,
  target: Float32Array | BigInt64Array,
  weight = 1,
  ignoreIndex = -1,
): Promise<number> {
  const b = new GraphBuilder();
  const p = b.input('p', 'float32', dims);
  const isIndex = target instanceof BigInt64Array;
  const t = isIndex ? b.initializer('t', 'int64', targetDims, target) : b.initializer('t', 'float32', targetDims, target as Float32Array);
  const [task] = parseTaskSpec({ tasks: [{ name: 'a', loss: kind, weight, ignoreIndex }] }, 'test');
  const loss = appendLoss(b, task!, p, t, { prediction: dims, target: targetDims }, 17);
  b.op1('Identity', [loss], {}, { outputs: ['loss'] });
  b.output('loss', 'float32', []);
  const s = await RuntimeSession.create(serializeModel(b.model(17)));
  const out = await s.run({ p: { dtype: 'float32', dims, data: x } });
  await s.release();
  return (out['loss']!.data as Float32Array)[0]!;
}

describe('losses (PyTorch semantics, mean reduction)', () => {
  const rng = new Random(21);
  const dense = [N, C, 2, 2];
  const x = rng.fillNormal(new Float32Array(N * C * 4));
  const y = rng.fillNormal(new Float32Array(N * C * 4));
  const probs = y.map((v) => 1 / (1 + Math.exp(-v)));
  for (const [kind, target] of [
    ['mse', y],
    ['l1', y],
    ['smooth_l1', y.map((v) => v * 2)],
    ['bce_with_logits', probs],
    ['cosine', y],
  ] as const) {
    it(`${kind}: value equals the formula and the gradient matches finite differences`, async () => {
      expect(await lossValue(kind, dense, dense, x, target)).toBeCloseTo(reference(kind, x, target, dense), 5);
      expect(await lossValue(kind, dense, dense, x, target, 2.5)).toBeCloseTo(2.5 * reference(kind, x, target, dense), 4);
      const [task] = parseTaskSpec({ tasks: [{ name: 'a', loss: kind }] }, 'test');
      const r = await gradcheck(
        [{ name: 'p', dims: dense }],
        (b, [p]) => [appendLoss(b, task!, p!, b.initializer('t', 'float32', dense, target), { prediction: dense, target: dense }, 17)],
        { opset: 17, seed: 4, epsilon: 1e-2 },
      );
      expect(r.worst).toBeLessThan(2e-3);
    });
  }

  it('cross_entropy on [N,C] and dense [N,C,H,W] with ignored targets', async () => {
    const labels = BigInt64Array.from({ length: N * 4 }, (_, i) => BigInt(i % 5 === 0 ? -1 : i % C));
    const asNumbers = Array.from(labels, Number);
    expect(await lossValue('cross_entropy', dense, [N, 2, 2], x, labels)).toBeCloseTo(reference('cross_entropy', x, asNumbers, dense), 5);
    const flat = x.slice(0, N * C);
    const flatLabels = BigInt64Array.of(0n, 2n, 1n, 7n);
    expect(await lossValue('cross_entropy', [N, C], [N], flat, flatLabels, 1, 7)).toBeCloseTo(reference('cross_entropy', flat, [0, 2, 1, 7], [N, C], 7), 5);
    const [task] = parseTaskSpec({ tasks: [{ name: 'a', loss: 'cross_entropy' }] }, 'test');
    const r = await gradcheck(
      [{ name: 'p', dims: dense }],
      (b, [p]) => [appendLoss(b, task!, p!, b.initializer('t', 'int64', [N, 2, 2], labels), { prediction: dense, target: [N, 2, 2] }, 17)],
      { opset: 17, seed: 5, epsilon: 1e-2 },
    );
    expect(r.worst).toBeLessThan(2e-3);
  });

  it('refuses targets of the wrong shape, naming task, target and shapes', () => {
    const b = new GraphBuilder();
    const [task] = parseTaskSpec({ tasks: [{ name: 'seg' }] }, 'test');
    expect(() => appendLoss(b, task!, 'p', 't', { prediction: [4, 7, 8, 8], target: [4, 8] }, 17)).toThrow(
      /task "seg": cross_entropy target "seg_target" must have shape \[4,8,8\] \(class indices\), got \[4,8\]/,
    );
    const [mse] = parseTaskSpec({ tasks: [{ name: 'd', loss: 'mse' }] }, 'test');
    expect(() => appendLoss(b, mse!, 'p', 't', { prediction: [4, 1], target: [4] }, 17)).toThrow(/mse needs equal shapes/);
  });
});
