import { describe, expect, it } from 'vitest';
import { mergeReports } from '../../src/report/merge.js';
import { parseConflictReport } from '../../src/report/schema.js';
import { buildReport, makeScan } from './fixtures.js';

describe('mergeReports', () => {
  const scan = makeScan({ taskCount: 3, epochs: 3, stepsPerEpoch: 20, wholeTrunk: true, S: [-0.02, 0, -0.005] });
  const whole = buildReport(scan);
  // The cut falls inside epoch 1, so that epoch's rate must be combined from both shards.
  const first = buildReport(scan, { from: 0, to: 30, shard: { index: 0, count: 2 } });
  const second = buildReport(scan, { from: 30, to: 60, shard: { index: 1, count: 2 } });
  const merged = mergeReports([second, first], { sources: ['b.json', 'a.json'], createdAt: whole.createdAt });

  it('merges two halves into what accumulating everything gives: stats', () => {
    merged.layers.forEach((layer, l) => {
      for (const key of merged.pairs) {
        const got = layer.pairs[key]!;
        const want = whole.layers[l]!.pairs[key]!;
        expect(got.count).toBe(want.count);
        expect(got.sum).toBeCloseTo(want.sum, 13);
        expect(got.sumSquares).toBeCloseTo(want.sumSquares, 13);
        expect(got.mean).toBeCloseTo(want.mean, 14);
        expect(got.std).toBeCloseTo(want.std, 12);
        expect(got.min).toBe(want.min);
        expect(got.max).toBe(want.max);
        expect(got.histogram).toEqual(want.histogram);
        expect(got.fineHistogram).toEqual(want.fineHistogram);
        // Exact order statistics cannot be merged; the fine-histogram estimate stays within 0.01.
        expect(got.quantilesExact).toBe(false);
        for (const q of ['p05', 'p25', 'p50', 'p75', 'p95'] as const) expect(Math.abs(got.quantiles[q] - want.quantiles[q])).toBeLessThanOrEqual(0.01);
      }
      layer.conflictRatePerEpoch.forEach((rate, e) => expect(rate).toBeCloseTo(whole.layers[l]!.conflictRatePerEpoch[e]!, 15));
    });
    expect(merged.trunk).toEqual(whole.trunk);
    expect(merged.progress).toEqual(whole.progress);
  });

  it('merges two halves into what accumulating everything gives: scores and ranks', () => {
    expect(merged.layers.map((l) => l.scores)).toEqual(whole.layers.map((l) => l.scores));
    // The halves disagree on the ranking, so ranks really were recomputed.
    expect(first.layers.map((l) => l.scores[0]!.rank)).not.toEqual(whole.layers.map((l) => l.scores[0]!.rank));
  });

  it('concatenates losses in shard order and drops the shard from the settings', () => {
    expect(merged.losses).toEqual(whole.losses);
    expect(merged.settings).toEqual(whole.settings);
    expect(merged.settings.shard).toBeUndefined();
    expect(merged.partial).toBe(false);
    expect(parseConflictReport(JSON.parse(JSON.stringify(merged)), 'merged.json')).toEqual(merged);
  });

  it('carries partial shards into the merged report', () => {
    const partial = buildReport(scan, { from: 30, to: 40, shard: { index: 1, count: 2 }, partialReason: 'out of time' });
    const result = mergeReports([first, partial]);
    expect(result.partial).toBe(true);
    expect(result.partialReason).toBe('shard 1/2: out of time');
  });

  it('refuses a missing, duplicated or foreign shard with a clear message', () => {
    expect(() => mergeReports([first], { sources: ['a.json'] })).toThrow('cannot merge: shard(s) 1/2 missing (shard indices are 0-based)');
    expect(() => mergeReports([first, first], { sources: ['a.json', 'c.json'] })).toThrow('cannot merge: shard 0/2 appears twice (a.json and c.json)');
    expect(() => mergeReports([first, whole], { sources: ['a.json', 'full.json'] })).toThrow(
      'cannot merge: full.json is not a shard (settings.shard is missing)',
    );
    const three = buildReport(scan, { from: 0, to: 20, shard: { index: 2, count: 3 } });
    expect(() => mergeReports([first, three], { sources: ['a.json', 'c.json'] })).toThrow('cannot merge: a.json is one of 2 shards but c.json is one of 3');
    expect(() => mergeReports([])).toThrow('no reports');
  });

  it('refuses shards of different scans, naming the first differing field', () => {
    const otherSeed = structuredClone(second);
    otherSeed.settings.seed = 8;
    expect(() => mergeReports([first, otherSeed], { sources: ['a.json', 'b.json'] })).toThrow(
      'cannot merge: b.json differs from a.json in settings.seed (8 vs 7)',
    );
    const otherLayer = structuredClone(second);
    otherLayer.layers[3]!.params += 1;
    expect(() => mergeReports([first, otherLayer], { sources: ['a.json', 'b.json'] })).toThrow(/differs from a.json in layers\[3\].params/);
    const otherModel = structuredClone(second);
    otherModel.model.sha256 = 'cd'.repeat(32);
    expect(() => mergeReports([first, otherModel], { sources: ['a.json', 'b.json'] })).toThrow(/in model.sha256/);
    const otherTasks = structuredClone(second);
    otherTasks.tasks[2]!.weight = 2;
    expect(() => mergeReports([first, otherTasks], { sources: ['a.json', 'b.json'] })).toThrow(/in tasks\[2\].weight \(2 vs 1\)/);
  });
});
