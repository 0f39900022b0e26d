import { describe, expect, it } from 'vitest';
import { layersByRank, pairSummaries, pooledLayerStats, thresholdIndex, totalParams, trunkConflictRatePerEpoch } from '../../src/report/summary.js';
import { buildReport, makeScan } from './fixtures.js';

describe('report summaries', () => {
  const scan = makeScan({ taskCount: 3, epochs: 2, stepsPerEpoch: 15 });
  const report = buildReport(scan);
  const P = scan.pairCount;

  it('pools one layer over its pairs', () => {
    const layer = 4;
    const values = scan.steps.flatMap((s) => Array.from(s.cosines.subarray(layer * P, layer * P + P)));
    const stats = pooledLayerStats(report.layers[layer]!);
    expect(stats.count).toBe(values.length);
    expect(stats.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 14);
    expect(stats.min).toBe(Math.min(...values));
  });

  it('computes the trunk-wide conflict rate per epoch', () => {
    const rates = trunkConflictRatePerEpoch(report);
    [0, 1].forEach((epoch) => {
      const values = scan.steps.filter((s) => s.epoch === epoch).flatMap((s) => Array.from(s.cosines));
      expect(rates[epoch]).toBeCloseTo(values.filter((c) => c < 0).length / values.length, 14);
    });
  });

  it('summarises each task pair over all layers', () => {
    const summaries = pairSummaries(report);
    expect(summaries.map((s) => [s.first, s.second])).toEqual([
      ['digit', 'fashion'],
      ['digit', 'parity'],
      ['fashion', 'parity'],
    ]);
    const values = scan.steps.flatMap((s) => Array.from({ length: 41 }, (_, l) => s.cosines[l * P + 1]!));
    expect(summaries[1]!.conflictRate).toBeCloseTo(values.filter((c) => c < 0).length / values.length, 14);
  });

  it('orders layers by rank and totals parameters', () => {
    const order = layersByRank(report, thresholdIndex(report, 0));
    expect(order.map((i) => report.layers[i]!.scores[1]!.rank)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(totalParams(report)).toBe(11_221_540);
  });
});
