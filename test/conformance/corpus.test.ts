/**
 * Conformance corpus: real PyTorch exports (scripts/corpus/export_corpus.py) of ~20 multi-task
 * architectures at several opsets, with and without constant folding, BatchNorm in training and
 * eval form, checked against references computed by PyTorch autograd on the nn.Module itself.
 *
 * Per export:
 *  - inspect: the layers found add up to the parameters a correct tool must find, every PyTorch
 *    module that survives the export is a layer of the same name and size, shared flags agree;
 *  - grads: one gradient-session run on the committed batch gives PyTorch's losses and, per shared
 *    module, the norms and cosines of the task gradients (tolerances derived by the generator);
 *  - scan (opset 17, no folding, BN train or no BN): a three-step `runScan` (ew, SGD) gives
 *    PyTorch's losses and parameter norms.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/index.js';
import { readNpz } from '../../src/data/npz.js';
import type { HostTensor } from '../../src/data/host-tensor.js';
import { parseTaskSpec, type TaskSpec } from '../../src/analysis/task-spec.js';
import { analyzeModel } from '../../src/analysis/analyze.js';
import { createGradientSession } from '../../src/conflict/gradient-session.js';
import { cosineFromGram, normsFromGram, taskPairs } from '../../src/conflict/gram.js';
import { runScan } from '../../src/conflict/scan.js';
import { makeDataset } from '../../src/data/dataset.js';

type ModuleStatus = 'exact' | 'transformed' | 'fused' | 'fused-away' | 'folded' | 'dropped';

interface ModuleRef {
  name: string;
  params: string[];
  pytorchNumel: number;
  /** Parameters of this module in the export (0 when it vanished). */
  numel: number;
  status: ModuleStatus;
  shared: boolean;
}

interface GramRef {
  gram: number[][];
  tolCos: number;
  tolNormRel: number;
  zero?: boolean;
  zeroTasks?: boolean[];
}

interface SgdRef {
  lr: number;
  momentum: number;
  weightDecay: number;
  steps: number;
  /** [step][task] losses before each update. */
  losses: number[][];
  moduleNorms: Record<string, number>;
}

interface ExportRef {
  file: string;
  exportedAs?: string;
  duplicateOf?: string;
  opset: number;
  folding: boolean;
  bnMode: 'train' | 'eval' | null;
  fusedBN: boolean;
  pytorchParams: number;
  expectedParams: number;
  floatInitializersReachingLoss: number;
  foldedInitializers: { name: string; shape: number[] }[];
  constants: { name: string; numel: number }[];
  note: string | null;
  modules: ModuleRef[];
  losses: Record<string, number>;
  zeroBound: number[];
  grams: Record<string, GramRef>;
  sgd?: SgdRef;
}

interface ArchRef {
  arch: string;
  tasksFile: string;
  batch: string;
  exports: ExportRef[];
}

const ROOT = 'test/fixtures/corpus';
const archs: { dir: string; ref: ArchRef }[] = existsSync(ROOT)
  ? readdirSync(ROOT)
      .filter((d) => existsSync(join(ROOT, d, 'reference.json')))
      .sort()
      .map((d) => ({ dir: join(ROOT, d), ref: JSON.parse(readFileSync(join(ROOT, d, 'reference.json'), 'utf8')) as ArchRef }))
  : [];

/** Modules whose PyTorch parameters (possibly re-laid-out, or fused with a BatchNorm) are in the export. */
const PRESENT: ReadonlySet<ModuleStatus> = new Set(['exact', 'transformed', 'fused']);

function loadBatch(path: string): Record<string, HostTensor> {
  return Object.fromEntries(readNpz(path));
}

function loadTasks(dir: string, ref: ArchRef): TaskSpec[] {
  const file = join(dir, ref.tasksFile);
  return parseTaskSpec(JSON.parse(readFileSync(file, 'utf8')), file);
}

/** The session's BatchNormalization mode: a training-form export runs with batch statistics. */
function bnModeOf(e: ExportRef): 'train' | 'eval' {
  return e.bnMode === 'train' ? 'train' : 'eval';
}

function relErr(ours: number, ref: number): number {
  return Math.abs(ours - ref) / Math.max(Math.abs(ref), 1e-12);
}

describe('conformance corpus (PyTorch exports)', () => {
  it('has the corpus', () => {
    expect(archs.length).toBeGreaterThanOrEqual(20);
  });

  for (const { dir, ref } of archs) {
    describe(ref.arch, () => {
      for (const e of ref.exports) {
        const label = e.exportedAs ?? e.file;
        const path = join(dir, e.file);

        it(`${label} inspect`, () => {
          const model = loadModel(path);
          const analysis = analyzeModel(model, loadTasks(dir, ref));
          const byName = new Map(analysis.layers.map((l) => [l.name, l]));
          const params = new Set(analysis.layers.flatMap((l) => l.params));
          const numelOf = (p: string): number => model.graph.initializers.get(p)!.numel;
          const total = [...params].reduce((n, p) => n + numelOf(p), 0);
          const layerList = (): string => analysis.layers.map((l) => `${l.name}(${l.numel})`).join(', ');
          // A parameter the exporter folded into a derived tensor (Swin's gathered bias table) is, in
          // the export, a float initializer on a differentiable path: the tool trains it as a parameter.
          const folded = e.foldedInitializers.reduce((n, f) => n + f.shape.reduce((a, b) => a * b, 1), 0);
          expect(total, `sum of layer numel (expected ${e.expectedParams} + ${folded} folded; layers: ${layerList()})`).toBe(e.expectedParams + folded);
          // Nothing is dropped: parameters plus frozen exporter constants are every float initializer on a
          // differentiable path to a loss.
          const constants = analysis.frozen.filter((f) => f.kind === 'exporter-constant').reduce((n, f) => n + f.numel, 0);
          expect(total + constants, 'parameters + exporter constants = float initializers reaching a loss').toBe(e.floatInitializersReachingLoss);
          expect(
            analysis.frozen
              .filter((f) => f.kind === 'exporter-constant')
              .map((f) => f.name)
              .sort(),
          ).toEqual(e.constants.map((c) => c.name).sort());
          for (const m of e.modules) {
            if (!PRESENT.has(m.status)) continue;
            const layer = byName.get(m.name);
            expect(layer, `no layer named "${m.name}" (${m.status}); layers: ${layerList()}`).toBeDefined();
            expect(layer!.numel, `layer "${m.name}" numel`).toBe(m.numel);
            expect(layer!.shared, `layer "${m.name}" shared`).toBe(m.shared);
          }
        });

        // A byte-identical file with the same BN mode has the same reference: its grads are checked once.
        if (e.duplicateOf !== undefined) continue;

        it(`${label} grads`, async () => {
          const model = loadModel(path);
          const tasks = loadTasks(dir, ref);
          const T = tasks.length;
          const session = createGradientSession(model, tasks, { batchNorm: bnModeOf(e), graphOptimizationLevel: 'basic' });
          try {
            const step = await session.run(loadBatch(join(dir, ref.batch)));
            for (const t of tasks) {
              expect(relErr(step.losses[t.name]!, e.losses[t.name]!), `loss ${t.name}: ${step.losses[t.name]} vs ${e.losses[t.name]}`).toBeLessThan(1e-4);
            }
            const pairs = taskPairs(tasks.map((t) => t.name));
            for (const [name, g] of Object.entries(e.grams)) {
              const ours = step.layerGrams.get(name);
              expect(ours, `no Gram for shared module "${name}" (shared layers: ${[...step.layerGrams.keys()].join(', ')})`).toBeDefined();
              const refFlat = g.gram.flat();
              const n = normsFromGram(ours!, T);
              const r = normsFromGram(refFlat, T);
              const zero = tasks.map((_, i) => g.zero === true || g.zeroTasks?.[i] === true);
              for (let i = 0; i < T; i++) {
                const what = `${name}: |g_${tasks[i]!.name}|`;
                if (zero[i]) expect(n[i]!, `${what} should be ~0`).toBeLessThanOrEqual(e.zeroBound[i]!);
                else expect(relErr(n[i]!, r[i]!), `${what} ${n[i]} vs ${r[i]}`).toBeLessThanOrEqual(g.tolNormRel);
              }
              for (const p of pairs) {
                if (zero[p.i] || zero[p.j]) continue;
                const c = cosineFromGram(ours!, T, p.i, p.j);
                const cr = cosineFromGram(refFlat, T, p.i, p.j);
                expect(Math.abs(c - cr), `${name}: cos ${p.key} ${c} vs ${cr}`).toBeLessThanOrEqual(g.tolCos);
              }
            }
          } finally {
            await session.release();
          }
        });

        if (!e.sgd) continue;
        const sgd = e.sgd;
        it(`${label} scan`, async () => {
          const model = loadModel(path);
          const tasks = loadTasks(dir, ref);
          const analysis = analyzeModel(model, tasks);
          const batch = loadBatch(join(dir, ref.batch));
          const dataset = makeDataset(batch, ref.batch);
          // Recon's search phase as `recon scan` runs it: ew (sum of the losses), SGD, the same batch
          // every step (one batch of its full size, no shuffling).
          const result = await runScan(model, tasks, dataset, {
            modelPath: path,
            dataPath: ref.batch,
            steps: sgd.steps,
            batchSize: dataset.length,
            seed: 0,
            shuffle: false,
            optimizer: { kind: 'sgd', lr: sgd.lr, momentum: sgd.momentum, weightDecay: sgd.weightDecay, milestones: [], gamma: 0.1 },
            method: 'ew',
            S: [0],
            batchNorm: 'train',
            device: 'cpu',
          });
          const losses = result.checkpoint.losses;
          expect(losses).toHaveLength(sgd.steps);
          for (let s = 0; s < sgd.steps; s++) {
            tasks.forEach((t, i) => {
              expect(relErr(losses[s]![i]!, sgd.losses[s]![i]!), `step ${s} loss ${t.name}: ${losses[s]![i]} vs ${sgd.losses[s]![i]}`).toBeLessThan(1e-4);
            });
          }
          const params = result.checkpoint.params;
          const layers = new Map(analysis.layers.map((l) => [l.name, l]));
          for (const m of e.modules) {
            if (m.status !== 'exact' && m.status !== 'transformed') continue;
            const layer = layers.get(m.name);
            expect(layer, `no layer named "${m.name}"`).toBeDefined();
            let sq = 0;
            let sq0 = 0;
            for (const p of new Set(layer!.params)) {
              expect(params[p], `the scan did not train "${p}" (layer ${m.name})`).toBeDefined();
              for (const v of params[p]!) sq += v * v;
              for (const v of model.graph.initializers.get(p)!.data('float32')) sq0 += v * v;
            }
            const ours = Math.sqrt(sq);
            const want = sgd.moduleNorms[m.name]!;
            // Sensitive to the update itself, not only to the (unchanged) bulk of the weights.
            const tol = 1e-5 * want + 1e-3 * Math.abs(want - Math.sqrt(sq0));
            expect(Math.abs(ours - want), `${m.name}: |θ| after ${sgd.steps} steps ${ours} vs ${want}`).toBeLessThanOrEqual(tol);
          }
        });
      }
    });
  }
});
