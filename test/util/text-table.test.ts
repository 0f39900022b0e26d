import { describe, expect, it } from 'vitest';
import { renderTextTable } from '../../src/util/text-table.js';

describe('renderTextTable', () => {
  it('pads to the widest cell, labels left and numbers right by default, trims trailing blanks', () => {
    expect(
      renderTextTable([
        ['layer', 'score'],
        ['conv1', '7'],
        ['fc', '12.5'],
      ]),
    ).toEqual(['layer  score', 'conv1      7', 'fc      12.5']);
  });
  it('takes explicit alignment, an indent and a rule under the header; short rows are padded', () => {
    expect(renderTextTable([['a', 'bb'], ['ccc']], { align: ['right', 'left'], indent: '> ', headerRule: true })).toEqual(['>   a  bb', '> ---  --', '> ccc']);
  });
});
