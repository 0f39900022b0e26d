import { describe, expect, it } from 'vitest';
import { ConflictReportBuilder } from '../../src/report/report-builder.js';
import { compareReports, renderCompareText } from '../../src/report/compare.js';
import type { ConflictReport } from '../../src/report/schema.js';
import { makeScan } from './fixtures.js';

const settings = makeScan({ epochs: 1, stepsPerEpoch: 1 }).settings;
const tasks = makeScan({ epochs: 1, stepsPerEpoch: 1 }).tasks;

/** A report over the given layers with hand-picked cosines, one pair, one cosine per step. */
function handReport(path: string, layers: Record<string, number[]>): ConflictReport {
  const names = Object.keys(layers);
  const builder = new ConflictReportBuilder({
    layers: names.map((name) => ({ name, op: 'Conv', nodes: [name], params: 10 })),
    tasks,
    settings,
  });
  const steps = layers[names[0]!]!.length;
  for (let s = 0; s < steps; s++)
    builder.pushStep(
      0,
      names.map((n) => layers[n]![s]!),
    );
  return builder.build({
    tool: { name: 'recon-onnx', version: '0' },
    createdAt: '2025-01-01T00:00:00Z',
    model: { path, opset: 17 },
    partial: false,
    totalSteps: steps,
  });
}

// Bins by hand (cos < edge goes one bin down; values on an edge stay above):
// A: 0.3 0.1 0 | -0.005 -0.01 | -0.015 -0.02 | -0.025 | -0.05, 0.2        → [4, 2, 2, 1, 1]
// B: 0.05 0.02 0.4 0.1 0 0.01 | -0.001 | -0.012 | - | -0.3 -0.0301         → [6, 1, 1, 0, 2]
// before = [10, 3, 3, 1, 3] of 20 → [50, 15, 15, 5, 15] %, severe (< -0.01) = 35 %
// after, only B still shared: [7, 2, 1, 0, 0] of 10 → [70, 20, 10, 0, 0] %, severe = 10 %
// reduction = (35 - 10) / 35 · 100 = 71.428…%
const before = handReport('original.onnx', {
  A: [0.3, 0.1, 0, -0.005, -0.01, -0.015, -0.02, -0.025, -0.05, 0.2],
  B: [0.05, 0.02, -0.001, -0.012, -0.3, 0.4, 0.1, 0, -0.0301, 0.01],
});
const after = handReport('recon.onnx', { B: [0.05, 0.02, 0.03, -0.002, -0.011, 0.4, 0.1, 0, -0.004, 0.01] });

describe('compareReports', () => {
  it('reproduces the hand-computed occurrence table and severe-conflict reduction', () => {
    const result = compareReports(before, after);
    expect(result.basis).toBe('layers');
    expect(result.before.counts).toEqual([10, 3, 3, 1, 3]);
    expect(result.before.percent).toEqual([50, 15, 15, 5, 15]);
    expect(result.after.percent).toEqual([70, 20, 10, 0, 0]);
    expect(result.severeBins).toEqual([2, 3, 4]);
    expect(result.before.severePercent).toBeCloseTo(35, 12);
    expect(result.after.severePercent).toBeCloseTo(10, 12);
    expect(result.severeReductionPct).toBeCloseTo((25 / 35) * 100, 10);
    expect(result.removedLayers).toEqual(['A']);
    expect(result.before.sharedLayers).toBe(2);
    expect(result.after.sharedLayers).toBe(1);
    expect(result.notes).toEqual([]);
  });

  it('takes the severe threshold from the bin edges', () => {
    expect(compareReports(before, after, { severeThreshold: -0.02 }).severeReductionPct).toBeCloseTo(100, 10);
    // cos < 0: 50 % before, 30 % after.
    expect(compareReports(before, after, { severeThreshold: 0 }).severeReductionPct).toBeCloseTo(40, 10);
    expect(() => compareReports(before, after, { severeThreshold: -0.015 })).toThrow(/not a paper bin edge/);
  });

  it('gives no reduction when there was nothing severe before', () => {
    const clean = handReport('clean.onnx', { B: [0.1, 0.2] });
    expect(compareReports(clean, after).severeReductionPct).toBeNull();
    expect(renderCompareText(compareReports(clean, after))).toContain('reduction of severe conflicts: n/a');
  });

  it('refuses different tasks and a whole-trunk comparison without whole-trunk data', () => {
    const other = structuredClone(after);
    other.tasks[1]!.name = 'other';
    expect(() => compareReports(before, other)).toThrow(/different tasks \(before: digit, fashion; after: digit, other\)/);
    expect(() => compareReports(before, after, { basis: 'whole-trunk' })).toThrow(/before report \(original.onnx\) has no trunk.wholeTrunk/);
  });

  it('notes differing settings and partial scans', () => {
    const changed = structuredClone(after);
    changed.settings.method = 'pcgrad';
    changed.partial = true;
    const notes = compareReports(before, changed).notes;
    expect(notes).toContain('settings differ: method ew vs pcgrad');
    expect(notes.some((n) => n.startsWith('the after scan is partial'))).toBe(true);
  });

  it('renders the paper-style table for the terminal', () => {
    const text = renderCompareText(compareReports(before, after));
    const lines = text.split('\n');
    expect(lines[0]).toBe('Conflict occurrence, % of (layer, step, pair) cosines of the shared layers');
    expect(lines).toContain('bin                   before (2 layers)  after (1 layer)');
    expect(lines).toContain('[1,0)                             50.00            70.00');
    expect(lines).toContain('(-.03,-1]                         15.00             0.00');
    expect(lines).toContain('severe (cos < -0.01)              35.00            10.00');
    expect(text).toContain('reduction of severe conflicts: 71.43%');
    expect(text).toContain('no longer shared: 1 layer(s): A');
  });
});
