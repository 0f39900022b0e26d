import { describe, expect, it } from 'vitest';
import { learningRateAt } from '../../src/conflict/schedule.js';
import { unbiasedVariance, updateRunningStats } from '../../src/conflict/running-stats.js';

describe('learningRateAt (MultiStepLR)', () => {
  it('MNIST: 0.1, ×0.1 at epochs 60 and 90 (the decay applies from the milestone epoch on)', () => {
    const mnist = { lr: 0.1, milestones: [60, 90], gamma: 0.1 };
    expect(learningRateAt(0, mnist)).toBe(0.1);
    expect(learningRateAt(59, mnist)).toBe(0.1);
    expect(learningRateAt(60, mnist)).toBe(0.1 * 0.1);
    expect(learningRateAt(89, mnist)).toBe(0.1 * 0.1);
    // torch multiplies step by step, so this is 0.1·0.1·0.1 (= 0.00010000000000000002), not 1e-4.
    expect(learningRateAt(90, mnist)).toBe(0.1 * 0.1 * 0.1);
    expect(learningRateAt(119, mnist)).toBe(0.1 * 0.1 * 0.1);
  });

  it('CityScapes / NYUv2: Adam lr halved at epoch 100; gamma defaults to 0.1', () => {
    expect(learningRateAt(99, { lr: 5e-5, milestones: [100], gamma: 0.5 })).toBe(5e-5);
    expect(learningRateAt(100, { lr: 1e-4, milestones: [100], gamma: 0.5 })).toBe(5e-5);
    expect(learningRateAt(100, { lr: 1, milestones: [100] })).toBe(0.1);
  });

  it('accepts unsorted milestones and counts repeated ones twice (torch uses a Counter)', () => {
    expect(learningRateAt(75, { lr: 1, milestones: [90, 60], gamma: 0.5 })).toBe(0.5);
    expect(learningRateAt(30, { lr: 1, milestones: [30, 30], gamma: 0.5 })).toBe(0.25);
  });

  it('rejects fractional or negative epochs', () => {
    expect(() => learningRateAt(1.5, { lr: 1, milestones: [] })).toThrow(/epoch/);
    expect(() => learningRateAt(-1, { lr: 1, milestones: [] })).toThrow(/epoch/);
  });
});

describe('updateRunningStats (BatchNorm running mean / var, torch momentum convention)', () => {
  it('running ← 0.9·running + 0.1·batch by default, in place, stored float32', () => {
    const running = Float32Array.of(0, 1, -2);
    const out = updateRunningStats(running, Float32Array.of(1, 3, 2));
    expect(out).toBe(running);
    expect(Array.from(running)).toEqual([0.1, 0.9 + 0.3, -1.8 + 0.2].map(Math.fround));
  });

  it('uses the given momentum and repeated updates converge to a constant batch statistic', () => {
    const running = Float32Array.of(0);
    for (let i = 0; i < 200; i++) updateRunningStats(running, Float32Array.of(5), 0.5);
    expect(running[0]).toBe(5);
    expect(() => updateRunningStats(running, Float32Array.of(1, 2))).toThrow(/channels/);
  });

  it('unbiasedVariance scales by n/(n−1)', () => {
    // values 1, 2, 3, 4: biased variance 1.25, unbiased 5/3.
    expect(unbiasedVariance(Float32Array.of(1.25), 4)[0]).toBe(Math.fround(5 / 3));
    expect(() => unbiasedVariance(Float32Array.of(1), 1)).toThrow(/at least 2/);
  });
});
