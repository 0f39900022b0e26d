import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/index.js';
import { readNpz } from '../../src/data/npz.js';
import { formatPlacementReport } from '../../src/analysis/placement.js';
import { forecastGradientGraph } from '../../src/autodiff/gradient-placement.js';
import { corpusArchs, corpusTasks } from '../conformance/corpus-index.js';

describe('CUDA placement of the conformance corpus gradient graphs', () => {
  for (const { dir, ref } of corpusArchs()) {
    for (const e of ref.exports.filter((x) => x.opset === 17 && x.duplicateOf === undefined)) {
      const bn = e.bnMode === 'train' ? 'train' : 'eval';
      it(`${e.file} (--bn ${bn}): no unexpected CPU fallback`, async () => {
        const model = loadModel(join(dir, e.file));
        const tasks = corpusTasks(dir, ref);
        const feeds = Object.fromEntries(readNpz(join(dir, ref.batch)));
        const report = await forecastGradientGraph(model, tasks, { batchNorm: bn, feeds });
        expect(report.fallbacks, `${e.file}\n${formatPlacementReport(report)}`).toEqual([]);
      });
    }
  }
});
