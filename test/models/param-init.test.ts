import { describe, expect, it } from 'vitest';
import { initValues, kaimingNormalFanOut, pytorchDefaultUniform, transpose2d } from '../../models/param-init.js';

function meanAndStd(values: Float32Array): [number, number] {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
  return [mean, Math.sqrt(variance)];
}

describe('parameter initialisation', () => {
  it('Kaiming normal (fan_out, ReLU gain) has std √(2 / (out·k·k))', () => {
    const init = kaimingNormalFanOut(64, 9);
    const [mean, std] = meanAndStd(initValues(0, 'conv.weight', 200_000, init));
    expect(mean).toBeCloseTo(0, 3);
    expect(std / Math.sqrt(2 / (64 * 9))).toBeCloseTo(1, 2);
  });

  it('PyTorch default Linear/Conv init is U(±1/√fan_in)', () => {
    const bound = 1 / Math.sqrt(100);
    const values = initValues(0, 'fc.weight', 100_000, pytorchDefaultUniform(100));
    expect(values.every((v) => v >= -bound && v < bound)).toBe(true);
    expect(meanAndStd(values)[1] / (bound / Math.sqrt(3))).toBeCloseTo(1, 2);
  });

  it('draws per (seed, name): reproducible, and independent across names and seeds', () => {
    const init = pytorchDefaultUniform(4);
    expect(initValues(5, 'a.weight', 16, init)).toEqual(initValues(5, 'a.weight', 16, init));
    expect(initValues(5, 'a.weight', 16, init)).not.toEqual(initValues(5, 'b.weight', 16, init));
    expect(initValues(5, 'a.weight', 16, init)).not.toEqual(initValues(6, 'a.weight', 16, init));
    expect(initValues(5, 'bn.weight', 3, { kind: 'constant', value: 1 })).toEqual(Float32Array.of(1, 1, 1));
  });

  it('transposes row-major matrices', () => {
    expect(transpose2d(Float32Array.of(1, 2, 3, 4, 5, 6), 2, 3)).toEqual(Float32Array.of(1, 4, 2, 5, 3, 6));
  });
});
