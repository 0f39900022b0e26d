import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, serializeModel, type Model } from '../../src/onnx/index.js';
import { Tensor } from '../../src/onnx/tensor.js';
import { readNpz } from '../../src/data/npz.js';
import type { HostTensor } from '../../src/data/host-tensor.js';
import { analyzeModel } from '../../src/analysis/analyze.js';
import { reconRewrite } from '../../src/rewrite/recon.js';
import { verify } from '../../src/rewrite/verify.js';
import { cloneModel } from '../../src/autodiff/gradient-graph.js';
import { RuntimeSession } from '../../src/runtime/session.js';
import { Random } from '../../src/util/random.js';
import { corpusSelection } from './corpus-selection.js';
import { corpusArchs, corpusTasks } from './corpus-index.js';

const archs = corpusArchs();

async function run(model: Model, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  // Training-form BN runs as batch statistics inside verify(); here outputs are only compared
  // between two versions of one rewritten model, so an inference-mode copy is enough.
  const copy = cloneModel(model);
  for (const n of copy.graph.nodes) {
    if (n.opType !== 'BatchNormalization') continue;
    n.removeAttr('training_mode');
    n.outputs = n.outputs.slice(0, 1);
  }
  const session = await RuntimeSession.create(serializeModel(copy), { graphOptimizationLevel: 'disabled' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: HostTensor, b: HostTensor): number {
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(Number(a.data[i]) - Number(b.data[i])));
  return d;
}

describe('Recon rewrite of the conformance corpus', () => {
  for (const { dir, ref } of archs) {
    for (const e of ref.exports.filter((x) => x.opset === 17 && x.duplicateOf === undefined)) {
      it(`${e.file}: random selection branched, outputs unchanged, tasks isolated`, async () => {
        const model = loadModel(join(dir, e.file));
        const tasks = corpusTasks(dir, ref);
        const analysis = analyzeModel(model, tasks);
        const chosen = corpusSelection(
          analysis.sharedLayers.map((l) => l.name),
          new Random(e.file.length * 7919 + e.opset),
        );
        expect(chosen.length).toBeGreaterThan(0);
        const r = await reconRewrite(model, tasks, chosen, { analysis });
        expect(r.layers.sort()).toEqual([...chosen].sort());

        const batch = Object.fromEntries(readNpz(join(dir, ref.batch)));
        const feedNames = new Set(model.graph.feedInputs.map((i) => i.name ?? ''));
        const feeds = Object.fromEntries(Object.entries(batch).filter(([k]) => feedNames.has(k)));
        const same = await verify(model, r.model, { feeds, tolerance: 1e-5 });
        expect(same.ok, `${same.worst.output} differs by ${same.worst.maxRel}`).toBe(true);

        // Each selected layer's parameters exist once more per extra task it reaches.
        for (const b of r.summary.branched) {
          for (const p of b.params) expect(Object.keys(p.copies).sort()).toEqual([...b.tasks].sort());
        }

        const base = await run(r.model, feeds);
        const noise = new Random(17);
        for (const task of tasks) {
          if (!r.summary.branched.some((b) => b.tasks.includes(task.name))) continue;
          const perturbed = cloneModel(r.model);
          for (const b of r.summary.branched) {
            for (const p of b.params) {
              const copy = p.copies[task.name];
              if (copy === undefined) continue;
              const t = perturbed.graph.initializers.get(copy)!;
              // Random, not uniform: a uniform shift can vanish under a following normalization or
              // softmax. Only upwards, so BN running variances stay positive.
              const data = t.data('float32').map((v) => v * (1 + 0.25 * Math.abs(noise.normal())) + 0.25 * Math.abs(noise.normal()));
              perturbed.graph.initializers.set(copy, Tensor.fromArray(copy, 'float32', t.dims, data));
            }
          }
          const out = await run(perturbed, feeds);
          for (const other of tasks) {
            const d = maxAbsDiff(base[other.output]!, out[other.output]!);
            if (other.name === task.name) expect(d, `perturbing ${task.name}'s copies must change its output`).toBeGreaterThan(1e-6);
            else expect(d, `perturbing ${task.name}'s copies changed ${other.name}'s output`).toBe(0);
          }
        }
      });
    }
  }
});
