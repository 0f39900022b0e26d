import { describe, expect, it } from 'vitest';
import { binIndex, countBelowFromFine } from '../../src/report/bins.js';
import { ConflictReportBuilder } from '../../src/report/report-builder.js';
import { parseConflictReport } from '../../src/report/schema.js';
import { buildReport, makeScan, resnetLayers } from './fixtures.js';
import { cosineFromGram } from '../../src/conflict/gram.js';

describe('ConflictReportBuilder', () => {
  const scan = makeScan({ taskCount: 3, epochs: 3, stepsPerEpoch: 25, S: [-0.02, 0, -0.015], wholeTrunk: true });
  const report = buildReport(scan);
  const P = scan.pairCount;
  const cosinesOf = (layer: number, pair: number): number[] => scan.steps.map((s) => s.cosines[layer * P + pair]!);

  it('the fixture has the 41 layers and 11,221,540 shared parameters of the paper MNIST ResNet18', () => {
    const { layers } = resnetLayers();
    expect(layers).toHaveLength(41);
    expect(layers.filter((l) => l.op === 'BatchNormalization')).toHaveLength(20);
    expect(layers.reduce((a, l) => a + l.params, 0)).toBe(11_221_540);
  });

  it('counts each S-conflict score as (step, pair) cosines strictly below S', () => {
    report.layers.forEach((layer, l) => {
      scan.settings.S.forEach((S, s) => {
        let expected = 0;
        for (let p = 0; p < P; p++) expected += cosinesOf(l, p).filter((c) => c < S).length;
        expect(layer.scores[s]).toMatchObject({ S, score: expected });
      });
      // For S on the 0.01 grid the same count follows from the fine histograms.
      const fromFine = report.pairs.reduce((a, key) => a + countBelowFromFine(layer.pairs[key]!.fineHistogram, -0.02), 0);
      expect(layer.scores[0]!.score).toBe(fromFine);
    });
  });

  it('ranks layers by descending score with ties in network order', () => {
    scan.settings.S.forEach((_, s) => {
      const scores = report.layers.map((l) => l.scores[s]!.score);
      report.layers.forEach((layer, i) => {
        const better = scores.filter((x, j) => x > scores[i]! || (x === scores[i]! && j < i)).length;
        expect(layer.scores[s]!.rank).toBe(better + 1);
      });
    });
  });

  it('summarises each (layer, pair) and the per-epoch conflict rate from the same cosines', () => {
    const l = 5;
    const values = cosinesOf(l, 2);
    const stats = report.layers[l]!.pairs[report.pairs[2]!]!;
    expect(stats.count).toBe(75);
    expect(stats.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 14);
    expect(stats.quantilesExact).toBe(true);
    for (let epoch = 0; epoch < 3; epoch++) {
      let conflicts = 0;
      scan.steps.forEach((step) => {
        if (step.epoch !== epoch) return;
        for (let p = 0; p < P; p++) if (step.cosines[l * P + p]! < 0) conflicts++;
      });
      expect(report.layers[l]!.conflictRatePerEpoch[epoch]).toBeCloseTo(conflicts / (25 * P), 15);
    }
  });

  it('pools every layer and pair into the trunk row, and bins whole-trunk cosines separately', () => {
    const pooled = [0, 0, 0, 0, 0];
    for (const step of scan.steps) for (const c of step.cosines) pooled[binIndex(c)]!++;
    expect(report.trunk.histogram).toEqual(pooled);
    expect(report.trunk.observations).toBe(41 * 75 * P);
    const whole = [0, 0, 0, 0, 0];
    for (const step of scan.steps) for (const c of step.wholeTrunk!) whole[binIndex(c)]!++;
    expect(report.trunk.wholeTrunk).toEqual({ histogram: whole, observations: 75 * P });
  });

  it('records progress and losses, and produces a report the validator accepts', () => {
    expect(report.progress).toEqual({ stepsDone: 75, totalSteps: 75, epochStepsDone: [25, 25, 25] });
    expect(report.losses.steps).toEqual(Array.from({ length: 75 }, (_, i) => i));
    expect(report.losses.perTask['fashion']![10]).toBe(scan.steps[10]!.losses[1]);
    expect(parseConflictReport(JSON.parse(JSON.stringify(report)), 'built.json')).toEqual(report);
  });

  it('rejects malformed input without recording anything', () => {
    const builder = new ConflictReportBuilder({ layers: scan.layers, tasks: scan.tasks, settings: scan.settings });
    expect(() => builder.pushStep(0, new Float64Array(5))).toThrow(/expected 123 cosines \(41 layers × 3 pairs\)/);
    const bad = new Float64Array(123);
    bad[7] = Number.NaN;
    expect(() => builder.pushStep(0, bad)).toThrow(/NaN is not a cosine/);
    expect(builder.stepsDone).toBe(0);
    builder.pushStep(1, new Float64Array(123));
    expect(() => builder.pushStep(0, new Float64Array(123))).toThrow(/epoch 0/);
    expect(() => builder.pushStep(1, new Float64Array(123), [0, 0, 0])).toThrow(/every step or on none/);
    expect(() => builder.recordLosses(0, [1, 2])).toThrow(/expected 3 losses/);
    builder.recordLosses(4, [1, 2, 3]);
    expect(() => builder.recordLosses(4, [1, 2, 3])).toThrow(/after 4/);
    expect(() => builder.recordLosses(5, [1, Number.POSITIVE_INFINITY, 3])).toThrow(/task "fashion"/);
    const built = builder.build({
      tool: { name: 't', version: '1' },
      createdAt: '2025-01-01T00:00:00Z',
      model: { path: 'm.onnx', opset: 17 },
      partial: false,
      totalSteps: 1,
    });
    // Epoch 0 never had a step: its rate is 0 and it counts 0 steps.
    expect(built.progress.epochStepsDone).toEqual([0, 1]);
    expect(built.layers[0]!.conflictRatePerEpoch).toEqual([0, 0]);
  });
});

describe('S-conflict score at the threshold', () => {
  it('cos exactly equal to S is not a conflict (strictly below), and a zero gradient (cos 0) never is', () => {
    const scan = makeScan({ taskCount: 2, epochs: 1, stepsPerEpoch: 6, S: [0, -0.1] });
    const P = scan.pairCount;
    // A task whose gradient is zero: its Gram row and column are 0, and Recon's F.normalize gives cos 0.
    const zeroGradient = cosineFromGram(Float64Array.of(0, 0, 0, 2.5), 2, 0, 1);
    expect(zeroGradient).toBe(0);
    for (const step of scan.steps) {
      step.cosines.fill(0.5);
      for (let p = 0; p < P; p++) {
        step.cosines[0 * P + p] = zeroGradient;
        step.cosines[1 * P + p] = -0.1;
        step.cosines[2 * P + p] = -0.1 - 1e-12; // just below
      }
    }
    const report = buildReport(scan);
    const steps = scan.steps.length * P;
    expect(report.layers[0]!.scores.map((s) => s.score)).toEqual([0, 0]);
    expect(report.layers[1]!.scores.map((s) => s.score)).toEqual([steps, 0]);
    expect(report.layers[2]!.scores.map((s) => s.score)).toEqual([steps, steps]);
  });
});
