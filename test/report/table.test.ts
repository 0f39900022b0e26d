import { describe, expect, it } from 'vitest';
import { renderRankingTable } from '../../src/report/table.js';
import { buildReport, makeScan } from './fixtures.js';

describe('renderRankingTable', () => {
  const report = buildReport(makeScan({ epochs: 2, stepsPerEpoch: 30 }));

  it('prints the header and the top-N layers in rank order with aligned columns', () => {
    const text = renderRankingTable(report, { top: 5 });
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('Recon conflict report: models/mnist-resnet18.onnx (opset 17)');
    expect(lines[1]).toBe('tasks: digit, fashion (1 pair) | method ew | S = -0.02, 0');
    expect(lines[2]).toBe('steps: 60 / 60 over 2 epoch(s) | 41 shared layers, 11,221,540 params');
    const header = lines[4]!;
    expect(header).toMatch(/^rank +layer +op +params +score@-0\.02 +score@0 +mean cos +conflict$/);
    const rows = lines.slice(5, 10);
    expect(rows).toHaveLength(5);
    const byRank = report.layers.slice().sort((a, b) => a.scores[0]!.rank - b.scores[0]!.rank);
    rows.forEach((row, i) => {
      const cells = row.trim().split(/ {2,}/);
      expect(cells[0]).toBe(String(i + 1));
      expect(cells[1]).toBe(byRank[i]!.name);
      expect(cells[4]).toBe(String(byRank[i]!.scores[0]!.score));
      expect(row.length).toBe(header.length);
    });
    expect(lines[lines.length - 1]).toBe('showing 5 of 41 layers, ranked at S = -0.02 (rank 1 = most conflicting)');
  });

  it('ranks by another S on request and marks partial scans', () => {
    const partial = { ...report, partial: true, partialReason: 'interrupted by SIGINT', progress: { ...report.progress, totalSteps: 600 } };
    const text = renderRankingTable(partial, { top: 3, S: 0 });
    expect(text).toContain('PARTIAL: interrupted by SIGINT (60 of 600 steps)');
    const first = report.layers.find((l) => l.scores[1]!.rank === 1)!;
    expect(text.split('\n')[6]!.trim().split(/ {2,}/)[1]).toBe(first.name);
    expect(() => renderRankingTable(report, { S: -0.5 })).toThrow(/S = -0.5 was not scanned/);
  });

  it('shortens very long layer names in the middle', () => {
    const long = structuredClone(report);
    const top = long.layers.find((l) => l.scores[0]!.rank === 1)!;
    top.name = `/model/backbone/${'x'.repeat(80)}/conv_final`;
    const text = renderRankingTable(long, { top: 1, maxNameWidth: 30 });
    const name = text
      .split('\n')
      .find((l) => l.includes('…'))!
      .trim()
      .split(/ {2,}/)[1];
    expect(name).toBe('/model/backbone…xxx/conv_final');
    expect(name).toHaveLength(30);
  });
});
