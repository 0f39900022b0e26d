import { describe, expect, it } from 'vitest';
import { bucketRates, ConflictReportBuilder } from '../../src/report/report-builder.js';
import { parseConflictReport } from '../../src/report/schema.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { mergeReports } from '../../src/report/merge.js';

const settings = {
  data: 'd',
  seed: 0,
  S: [0],
  steps: 6,
  epochs: 1,
  batchSize: 2,
  shuffle: false,
  optimizer: { name: 'none' as const, lr: 0, momentum: 0, weightDecay: 0, milestones: [], gamma: 0.1 },
  method: 'ew' as const,
  bn: 'train' as const,
  device: 'cpu',
};

function build(cosines: number[][], shard?: { index: number; count: number }) {
  const b = new ConflictReportBuilder({
    layers: [
      { name: 'a', op: 'Conv', nodes: ['a'], params: 1 },
      { name: 'b', op: 'Conv', nodes: ['b'], params: 1 },
    ],
    tasks: [
      { name: 'T1', output: 'T1', loss: 'cross_entropy', weight: 1 },
      { name: 'T2', output: 'T2', loss: 'cross_entropy', weight: 1 },
    ],
    settings: { ...settings, ...(shard ? { shard } : {}) },
  });
  cosines.forEach((c, step) => {
    b.pushStep(0, c);
    b.recordLosses(step, [1, 1]);
  });
  return b.build({
    tool: { name: 't', version: '0' },
    createdAt: '2026-01-01T00:00:00Z',
    model: { path: 'm', opset: 17 },
    partial: false,
    totalSteps: cosines.length,
  });
}

describe('per-step conflict rate', () => {
  it("bucket means placed at each bucket's last step", () => {
    expect(bucketRates([0, 1, 0.5, 0.5, 1], 2)).toEqual({ steps: [3, 5], rate: [0.5, 0.75] });
    expect(bucketRates([0.2, 0.4], 10)).toEqual({ steps: [1, 2], rate: [0.2, 0.4] });
  });

  it('the builder records the share of negative cosines per step; the validator keeps it; shards concatenate', () => {
    const steps = [
      [-0.5, 0.5],
      [-0.1, -0.2],
      [0.3, 0.4],
      [-1, 0],
    ];
    const r = build(steps);
    expect(r.conflictRateSteps).toEqual({ steps: [1, 2, 3, 4], rate: [0.5, 1, 0, 0.5] });
    expect(parseConflictReport(JSON.parse(JSON.stringify(r)), 'r.json').conflictRateSteps).toEqual(r.conflictRateSteps);
    expect(() => parseConflictReport({ ...JSON.parse(JSON.stringify(r)), conflictRateSteps: { steps: [1], rate: [2] } }, 'r.json')).toThrow(
      /conflictRateSteps\.rate\[0\]/,
    );
    const merged = mergeReports([build(steps.slice(0, 2), { index: 0, count: 2 }), build(steps.slice(2), { index: 1, count: 2 })]);
    expect(merged.conflictRateSteps).toEqual(r.conflictRateSteps);
  });

  it('a one-epoch scan draws the rate per step instead of a single epoch point', () => {
    const html = renderHtmlReport(
      build([
        [-0.5, 0.5],
        [-0.1, -0.2],
        [0.3, 0.4],
      ]),
    );
    expect(html).toMatch(/Conflict rate over the scan \(3 steps\)/);
    expect(html).not.toMatch(/Conflict rate per epoch/);
  });
});
