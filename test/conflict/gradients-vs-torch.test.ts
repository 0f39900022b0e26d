import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, serializeModel, type Model } from '../../src/onnx/index.js';
import { readNpz } from '../../src/data/npz.js';
import { toModelDtype } from '../../src/data/dataset.js';
import type { HostTensor } from '../../src/data/host-tensor.js';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { createGradientSession, type GradientSession } from '../../src/conflict/gradient-session.js';
import { cosineFromGram, normsFromGram, sumGrams, taskPairs } from '../../src/conflict/gram.js';
import { referenceModel } from '../../models/reference-models.js';

/** A fixture written by scripts/make_fixtures.py from PyTorch (see that script for the format). */
interface GradFixture {
  model: string;
  modelSha256: string;
  bn: 'train' | 'eval';
  tasks: unknown[];
  batch: string;
  losses: Record<string, number>;
  zeroBound: number[];
  params: Record<string, { numel: number; gram: number[][]; tolCos: number; tolNormRel: number; zero?: boolean; zeroTasks?: boolean[] }>;
  layers: Record<string, { params: string[]; gram: number[][]; tolCos: number; tolNormRel: number; zero?: boolean; zeroTasks?: boolean[] }>;
  full: string;
  fullParams: string[];
}

const DIR = 'test/fixtures/grads';
const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const sessions: GradientSession[] = [];
afterAll(async () => {
  for (const s of sessions) await s.release();
});

/** The model a fixture was made from: rebuilt from its builder (and proven identical), or the committed file. */
function fixtureModel(f: GradFixture): Model {
  const m = /^models\/(\w+)_op(\d+)\.onnx$/.exec(f.model);
  const model = m ? referenceModel(m[1]!).build({ opset: Number(m[2]) }) : loadModel(f.model);
  const sha = createHash('sha256')
    .update(m ? serializeModel(model) : readFileSync(f.model))
    .digest('hex');
  // A builder change without regenerated fixtures must fail loudly, not compare different models.
  expect(sha, `${f.model} changed since its fixture was made: run scripts/make_all_fixtures.sh`).toBe(f.modelSha256);
  return model;
}

describe('whole-model gradients against PyTorch', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(10);
  for (const file of fixtures) {
    it(file.replace('.json', ''), async () => {
      const f = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as GradFixture;
      const model = fixtureModel(f);
      const tasks = parseTaskSpec({ tasks: f.tasks }, file);
      const T = tasks.length;
      const session = createGradientSession(model, tasks, { batchNorm: f.bn, rawGradients: true, graphOptimizationLevel: 'basic' });
      sessions.push(session);
      const batch: Record<string, HostTensor> = {};
      for (const [k, v] of readNpz(join(DIR, f.batch))) batch[k] = v.dtype === 'int32' ? toModelDtype(v, 'int64', k) : v;
      const step = await session.run(batch);

      for (const t of tasks) {
        expect(Math.abs(step.losses[t.name]! - f.losses[t.name]! * t.weight) / Math.abs(f.losses[t.name]!), `loss ${t.name}`).toBeLessThan(1e-4);
      }
      expect(session.analysis.sharedLayers.length).toBeGreaterThan(0);
      const pairs = taskPairs(tasks.map((t) => t.name));
      const check = (what: string, ours: ArrayLike<number>, ref: number[][], tolCos: number, tolNormRel: number, zeroTasks?: boolean[]) => {
        const refFlat = ref.flat();
        const n = normsFromGram(ours, T);
        const r = normsFromGram(refFlat, T);
        const zero = tasks.map((_, i) => zeroTasks?.[i] === true);
        for (let i = 0; i < T; i++) {
          if (zero[i]) expect(n[i]!, `${what}: |g_${tasks[i]!.name}| should be ~0`).toBeLessThanOrEqual(f.zeroBound[i]!);
          else expect(Math.abs(n[i]! - r[i]!) / r[i]!, `${what}: norm ${tasks[i]!.name}`).toBeLessThanOrEqual(tolNormRel);
        }
        for (const p of pairs) {
          if (zero[p.i] || zero[p.j]) continue;
          expect(Math.abs(cosineFromGram(ours, T, p.i, p.j) - cosineFromGram(refFlat, T, p.i, p.j)), `${what}: cos ${p.key}`).toBeLessThanOrEqual(tolCos);
        }
      };
      for (const [param, gram] of step.paramGrams) {
        const ref = f.params[param];
        expect(ref, `fixture lacks parameter ${param}`).toBeDefined();
        check(`param ${param}`, gram, ref!.gram, ref!.tolCos, ref!.tolNormRel, ref!.zero ? tasks.map(() => true) : ref!.zeroTasks);
      }
      for (const layer of session.analysis.sharedLayers) {
        // The fixture groups by initializer name; where our grouping differs (a deduplicated bias
        // read through an Identity alias), rebuild the reference layer from its parameters.
        const named = f.layers[layer.name];
        const ref = named && [...named.params].sort().join() === [...layer.params].sort().join() ? named : undefined;
        const refGram =
          ref?.gram ??
          toMatrix(
            sumGrams(
              layer.params.map((p) => f.params[p]!.gram.flat()),
              T,
            ),
            T,
          );
        const tolCos = ref?.tolCos ?? Math.max(...layer.params.map((p) => f.params[p]!.tolCos));
        const tolNorm = ref?.tolNormRel ?? Math.max(...layer.params.map((p) => f.params[p]!.tolNormRel));
        check(`layer ${layer.name}`, step.layerGrams.get(layer.name)!, refGram, tolCos, tolNorm, ref?.zero ? tasks.map(() => true) : ref?.zeroTasks);
      }
      // Some full gradient tensors, element by element.
      const full = readNpz(join(DIR, f.full));
      let compared = 0;
      for (const [key, ref] of full) {
        const [task, param] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
        const ours = step.gradients.get(task)?.get(param);
        if (!ours) continue;
        const r = ref.data as Float32Array;
        let scale = 0;
        for (const v of r) scale = Math.max(scale, Math.abs(v));
        let worst = 0;
        for (let i = 0; i < r.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - r[i]!));
        expect(worst / Math.max(scale, 1e-12), `full gradient ${key}`).toBeLessThan(1e-3);
        compared++;
      }
      expect(compared).toBeGreaterThan(0);
      // Cosines and norms from PyTorch's full gradient tensors, computed here in float64 without
      // Gram matrices: a sign or scale error in cosineFromGram/normsFromGram cannot cancel out.
      let direct = 0;
      for (const param of f.fullParams) {
        const vectors = tasks.map((t) => full.get(`${t.name}/${param}`)?.data as Float32Array | undefined);
        const gram = step.paramGrams.get(param);
        const ref = f.params[param];
        if (!gram || !ref || vectors.some((v) => v === undefined)) continue;
        const dot = (a: Float32Array, b: Float32Array): number => a.reduce((acc, v, k) => acc + v * b[k]!, 0);
        const norms = vectors.map((v) => Math.sqrt(dot(v!, v!)));
        const ours = normsFromGram(gram, T);
        for (let i = 0; i < T; i++)
          if (norms[i]! > f.zeroBound[i]!) expect(Math.abs(ours[i]! - norms[i]!) / norms[i]!, `direct norm ${param}`).toBeLessThanOrEqual(ref.tolNormRel);
        for (const p of pairs) {
          if (norms[p.i]! <= f.zeroBound[p.i]! || norms[p.j]! <= f.zeroBound[p.j]!) continue;
          const cos = dot(vectors[p.i]!, vectors[p.j]!) / (norms[p.i]! * norms[p.j]!);
          expect(Math.abs(cosineFromGram(gram, T, p.i, p.j) - cos), `direct cos ${param} ${p.key}`).toBeLessThanOrEqual(ref.tolCos + 1e-6);
          direct++;
        }
      }
      expect(direct).toBeGreaterThan(0);
    });
  }
});

function toMatrix(flat: Float64Array, T: number): number[][] {
  return Array.from({ length: T }, (_, i) => Array.from(flat.subarray(i * T, (i + 1) * T)));
}
