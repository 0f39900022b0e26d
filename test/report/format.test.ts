import { describe, expect, it } from 'vitest';
import { ellipsize, formatCompact, formatInteger, formatPercent, formatSigned, formatThreshold } from '../../src/report/format.js';

describe('format', () => {
  it('formats independently of the locale', () => {
    expect(formatInteger(11221540)).toBe('11,221,540');
    expect(formatInteger(-1234)).toBe('-1,234');
    expect(formatInteger(999)).toBe('999');
    expect(formatSigned(0.01234, 4)).toBe('+0.0123');
    expect(formatSigned(-0.005, 3)).toBe('-0.005');
    expect(formatSigned(-0.00001, 3)).toBe(' 0.000');
    expect(formatPercent(0.43216)).toBe('43.2%');
    expect(formatThreshold(-0)).toBe('0');
    expect(formatThreshold(-0.1)).toBe('-0.1');
    expect(formatCompact(11_221_540)).toBe('11.2M');
    expect(formatCompact(1500)).toBe('1.5k');
    expect(formatCompact(0.25)).toBe('0.25');
  });

  it('shortens in the middle to the exact width', () => {
    expect(ellipsize('short', 10)).toBe('short');
    const s = ellipsize('layer4.1.downsample.conv.weight', 12);
    expect(s).toHaveLength(12);
    expect(s).toBe('layer4…eight');
  });
});
