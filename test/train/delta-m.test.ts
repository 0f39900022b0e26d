import { describe, expect, it } from 'vitest';
import { deltaM, meanMetrics, METRIC_DIRECTIONS } from '../../src/train/delta-m.js';
import { isReconError } from '../../src/util/errors.js';
import type { TaskMetrics } from '../../src/train/evaluate.js';

const cls = (task: string, accuracy: number): TaskMetrics => ({ task, accuracy, count: 100 });

describe('deltaM (Recon / CAGrad / Nash-MTL Δm%, negative = better)', () => {
  it('accuracy up 10 % on one task and down 10 % on the other cancel out', () => {
    // (−1)·(88−80)/80·100 = −10 and (−1)·(45−50)/50·100 = +10.
    const d = deltaM([cls('T1', 88), cls('T2', 45)], [cls('T1', 80), cls('T2', 50)]);
    expect(d.tasks.map((t) => t.deltaPct)).toEqual([expect.closeTo(-10, 12), expect.closeTo(10, 12)]);
    expect(d.deltaPct).toBeCloseTo(0, 12);
  });

  it('errors count lower-is-better; a task with two metrics weighs once', () => {
    const baseline: TaskMetrics[] = [
      { task: 'depth', absError: 2, relError: 0.5, count: 10 },
      { task: 'seg', mIoU: 40, pixelAccuracy: 80, count: 10 },
      cls('c', 50),
    ];
    const model: TaskMetrics[] = [
      { task: 'c', accuracy: 60, count: 100 },
      { task: 'depth', absError: 1.5, relError: 0.4, count: 10 },
      { task: 'seg', mIoU: 44, pixelAccuracy: 76, count: 10 },
    ];
    // depth: (+1)·(1.5−2)/2·100 = −25, (+1)·(0.4−0.5)/0.5·100 = −20 → −22.5
    // seg:   (−1)·(44−40)/40·100 = −10, (−1)·(76−80)/80·100 = +5 → −2.5
    // c:     (−1)·(60−50)/50·100 = −20
    // Δm = (−22.5 − 2.5 − 20) / 3 = −15
    const d = deltaM(model, baseline);
    expect(d.tasks.map((t) => t.task)).toEqual(['depth', 'seg', 'c']);
    expect(d.tasks[0]!.deltaPct).toBeCloseTo(-22.5, 12);
    expect(d.tasks[1]!.deltaPct).toBeCloseTo(-2.5, 12);
    expect(d.tasks[2]!.deltaPct).toBeCloseTo(-20, 12);
    expect(d.deltaPct).toBeCloseTo(-15, 12);
    expect(d.tasks[0]!.metrics.map((m) => m.direction)).toEqual(['lower', 'lower']);
    expect(d.tasks[1]!.metrics.map((m) => m.direction)).toEqual(['higher', 'higher']);
  });

  it('a worse model has a positive Δm; the baseline against itself is 0', () => {
    expect(deltaM([cls('A', 40), cls('B', 40)], [cls('A', 50), cls('B', 50)]).deltaPct).toBeCloseTo(20, 12);
    expect(deltaM([cls('A', 50)], [cls('A', 50)]).deltaPct).toBe(0);
  });

  it('directions: accuracies higher, errors lower', () => {
    expect(METRIC_DIRECTIONS).toEqual({ accuracy: 'higher', mIoU: 'higher', pixelAccuracy: 'higher', absError: 'lower', relError: 'lower' });
  });

  it('refuses a zero baseline, a missing task or a missing metric with one line', () => {
    const cases: [TaskMetrics[], TaskMetrics[], RegExp][] = [
      [[cls('A', 10)], [cls('A', 0)], /baseline's accuracy of task A is 0/],
      [[cls('A', 10)], [cls('A', 10), cls('B', 10)], /task B of the baseline has no metrics/],
      [[cls('A', 10), cls('C', 1)], [cls('A', 10)], /task C has no baseline/],
      [[{ task: 'A', absError: 1, count: 1 }], [cls('A', 10)], /task A has no accuracy/],
    ];
    for (const [m, b, message] of cases) {
      let error: unknown;
      try {
        deltaM(m, b);
      } catch (e) {
        error = e;
      }
      expect(isReconError(error)).toBe(true);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('meanMetrics averages each metric per task over runs', () => {
    const mean = meanMetrics([
      [cls('A', 10), { task: 'B', absError: 1, relError: 3, count: 5 }],
      [cls('A', 20), { task: 'B', absError: 2, relError: 5, count: 5 }],
    ]);
    expect(mean).toEqual([
      { task: 'A', accuracy: 15, count: 100 },
      { task: 'B', absError: 1.5, relError: 4, count: 5 },
    ]);
  });
});
