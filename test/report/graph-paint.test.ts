/**
 * Node colours against scores and mean cosines counted here straight from the synthetic scan's
 * raw cosines (not read back from the report), mapped through the ramps' documented stops.
 */
import { describe, expect, it } from 'vitest';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { referenceModel } from '../../models/reference-models.js';
import { paintGraph, stepSeries, UNSCORED_LAYER_FILL, type StepCosines } from '../../src/report/graph/paint.js';
import { buildGraphView } from '../../src/report/graph/view.js';
import { buildReport, makeScan } from './fixtures.js';
import { expectedFills, rawLayerNumbers } from './graph-expect.js';

describe('paintGraph', () => {
  const ref = referenceModel('resnet18');
  const tasks = parseTaskSpec(ref.tasks, 'resnet18');
  // The report's tasks (digit, fashion) read the model's outputs T1 and T2.
  const view = buildGraphView(
    ref.build({ opset: 17 }),
    ['digit', 'fashion'].map((name, i) => ({ name, output: tasks[i]!.output })),
  );
  const scan = makeScan({ taskCount: 2, epochs: 2, stepsPerEpoch: 25, S: [-0.02, 0] });
  const report = buildReport(scan);

  it('fills every shared layer by its score at each S and by its mean cosine', () => {
    const paint = paintGraph(view.nodes, { report, selected: new Set(), sIndex: 0 });
    expect(paint.modes.map((m) => m.id)).toEqual(['s0', 's1', 'cos']);
    const at = [expectedFills(scan, -0.02), expectedFills(scan, 0)];
    let scored = 0;
    for (const node of view.nodes) {
      const painted = paint.nodes.get(node.id)!;
      const expected = at[0]!.score.get(node.label);
      if (node.kind !== 'layer' || expected === undefined) continue;
      scored++;
      expect(painted.fills[0], node.label).toBe(expected);
      expect(painted.fills[1], node.label).toBe(at[1]!.score.get(node.label));
      expect(painted.fills[2], node.label).toBe(at[0]!.cosine.get(node.label));
    }
    expect(scored).toBe(41);
    // The task heads are not shared: no score, the neutral fill.
    for (const head of view.nodes.filter((n) => n.kind === 'layer' && n.tasks.length === 1)) {
      expect(paint.nodes.get(head.id)!.fills).toEqual([UNSCORED_LAYER_FILL, UNSCORED_LAYER_FILL, UNSCORED_LAYER_FILL]);
    }
  });

  it('outlines exactly the selected layers and lists their facts', () => {
    const selected = new Set(['layer2.0.bn1', 'fc']);
    const paint = paintGraph(view.nodes, { report, selected, sIndex: 1 });
    expect(paint.initialMode).toBe(1);
    const outlined = view.nodes.filter((n) => paint.nodes.get(n.id)!.selected).map((n) => n.label);
    expect(outlined.sort()).toEqual(['fc', 'layer2.0.bn1']);
    const fc = paint.nodes.get(view.nodes.find((n) => n.label === 'fc')!.id)!.facts!;
    const raw = rawLayerNumbers(scan, -0.02);
    const index = scan.layers.findIndex((l) => l.name === 'fc');
    expect(fc.scores[0]![1]).toBe(raw.score[index]);
    expect(fc.meanCosine).toBeCloseTo(raw.mean[index]!, 5);
    expect(fc.series.kind).toBe('epoch-conflict-rate');
    expect(fc.series.values).toHaveLength(2);
  });

  it('charts the recorded per-step cosine, bucketed to at most 120 points', () => {
    const layers = 3;
    const pairs = 2;
    const steps = 250;
    const data = new Float32Array(steps * layers * pairs);
    for (let s = 0; s < steps; s++)
      for (let l = 0; l < layers; l++) for (let p = 0; p < pairs; p++) data[(s * layers + l) * pairs + p] = (l + 1) * 0.01 * (p === 0 ? s : -s);
    const cosines: StepCosines = { steps, layers, pairs, data };
    const series = stepSeries(cosines, 1);
    expect(series).toHaveLength(120);
    // Pairs cancel exactly for every step: the mean is 0 throughout.
    for (const v of series) expect(Math.abs(v)).toBeLessThan(1e-6);
    const short = stepSeries({ steps: 3, layers: 1, pairs: 1, data: Float32Array.of(0.5, -0.25, 0.125) }, 0);
    expect(short).toEqual([0.5, -0.25, 0.125]);
  });
});
