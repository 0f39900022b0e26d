import { describe, expect, it } from 'vitest';
import { element, legendRows, linePath, linearScale, niceDomain, text, tickFormat } from '../../src/report/svg.js';

describe('svg helpers', () => {
  it('escapes attribute values and text, rounds numbers', () => {
    expect(element('rect', { x: 1.23456, fill: 'a"b<c', skip: undefined })).toBe('<rect x="1.23" fill="a&quot;b&lt;c"/>');
    expect(text(0, 5, 'a<b & c')).toBe('<text x="0" y="5">a&lt;b &amp; c</text>');
  });

  it('maps linearly and survives a degenerate domain', () => {
    const s = linearScale([0, 10], [100, 0]);
    expect(s(0)).toBe(100);
    expect(s(2.5)).toBe(75);
    expect(linearScale([3, 3], [0, 50])(3)).toBe(25);
  });

  it('picks 1-2-5 steps and covers the data', () => {
    expect(niceDomain(0, 407, 5)).toEqual({ domain: [0, 500], ticks: [0, 100, 200, 300, 400, 500], step: 100 });
    const small = niceDomain(-0.13, 0.06, 8);
    expect(small.step).toBe(0.05);
    expect(small.domain).toEqual([-0.15, 0.1]);
    expect(small.ticks).toEqual([-0.15, -0.1, -0.05, 0, 0.05, 0.1]);
    expect(niceDomain(5, 5).domain[0]).toBeLessThan(5);
  });

  it('formats ticks with the decimals the step needs', () => {
    expect(tickFormat(0.05)(-0.1)).toBe('-0.10');
    expect(tickFormat(0.05)(-0)).toBe('0.00');
    expect(tickFormat(20, '%')(40)).toBe('40%');
    expect(tickFormat(50000)(150000)).toBe('150k');
  });

  it('draws paths with gaps at missing values', () => {
    expect(
      linePath([
        [0, 1],
        [2, 3],
        [Number.NaN, 1],
        [4, 5],
      ]),
    ).toBe('M0 1L2 3M4 5');
  });

  it('wraps legends that do not fit', () => {
    const items = Array.from({ length: 6 }, (_, i) => ({ label: `series number ${i} with a long name`, color: '#000' }));
    expect(legendRows(items)).toBe(1);
    expect(legendRows(items, 600)).toBeGreaterThan(1);
  });
});
