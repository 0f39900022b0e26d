/**
 * The CUDA kernel-coverage audit over the conformance corpus (real PyTorch exports): every opset-17
 * export's gradient graph, built as `--device cuda` builds it, in the export's BN mode, must have no
 * node that onnxruntime's CUDA provider would leave to the CPU except shape computations.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/index.js';
import { readNpz } from '../../src/data/npz.js';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { forecastGradientGraph, formatPlacementReport } from '../../src/runtime/placement.js';

interface ArchRef {
  tasksFile: string;
  batch: string;
  exports: { file: string; opset: number; duplicateOf?: string; bnMode: 'train' | 'eval' | null }[];
}

const ROOT = 'test/fixtures/corpus';
const archs = existsSync(ROOT)
  ? readdirSync(ROOT)
      .filter((d) => existsSync(join(ROOT, d, 'reference.json')))
      .sort()
  : [];

describe('CUDA placement of the conformance corpus gradient graphs', () => {
  for (const arch of archs) {
    const dir = join(ROOT, arch);
    const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as ArchRef;
    for (const e of ref.exports.filter((x) => x.opset === 17 && x.duplicateOf === undefined)) {
      const bn = e.bnMode === 'train' ? 'train' : 'eval';
      it(`${e.file} (--bn ${bn}): no unexpected CPU fallback`, async () => {
        const model = loadModel(join(dir, e.file));
        const tasks = parseTaskSpec(JSON.parse(readFileSync(join(dir, ref.tasksFile), 'utf8')), ref.tasksFile);
        const feeds = Object.fromEntries(readNpz(join(dir, ref.batch)));
        const report = await forecastGradientGraph(model, tasks, { batchNorm: bn, feeds });
        expect(report.fallbacks, `${e.file}\n${formatPlacementReport(report)}`).toEqual([]);
      });
    }
  }
});
