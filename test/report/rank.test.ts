import { describe, expect, it } from 'vitest';
import { orderByRank, rankScores } from '../../src/report/rank.js';

describe('rankScores', () => {
  it('ranks by descending score, ties keeping input order', () => {
    expect(rankScores([5, 9, 5, 1, 9, 5])).toEqual([3, 1, 4, 6, 2, 5]);
  });

  it('gives distinct ranks when all scores tie', () => {
    expect(rankScores([0, 0, 0])).toEqual([1, 2, 3]);
  });

  it('handles the empty list', () => {
    expect(rankScores([])).toEqual([]);
  });

  it('orderByRank inverts the ranking', () => {
    const ranks = rankScores([2, 7, 7, 0, 4]);
    expect(orderByRank(ranks)).toEqual([1, 2, 4, 0, 3]);
  });
});
