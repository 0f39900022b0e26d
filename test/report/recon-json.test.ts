import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isReconScores, parseReconScores, renderReconScores } from '../../src/report/recon-json.js';
import { writeConflictReport } from '../../src/report/io.js';
import { saveModel } from '../../src/onnx/index.js';
import { referenceModel } from '../../models/reference-models.js';
import { cli } from '../cli/helpers.js';
import { buildReport, makeScan } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-json-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("Recon's {layer: count} ranking format", () => {
  it('holds every layer, counts descending, ties in network order, at the chosen S', () => {
    const report = buildReport(makeScan({ taskCount: 2, epochs: 2, stepsPerEpoch: 30, S: [-0.02, 0] }));
    for (const [k, S] of report.settings.S.entries()) {
      const json = JSON.parse(renderReconScores(report, S)) as Record<string, number>;
      const keys = Object.keys(json);
      expect(keys.sort()).toEqual(report.layers.map((l) => l.name).sort());
      const inFile = Object.entries(json);
      // Independently: counts from the report's own per-layer scores, then a stable sort.
      const network = report.layers.map((l, i) => ({ name: l.name, score: l.scores[k]!.score, i }));
      const expected = [...network].sort((a, b) => b.score - a.score || a.i - b.i).map((l) => [l.name, l.score]);
      expect(inFile).toEqual(expected);
    }
    expect(() => renderReconScores(report, 0.5)).toThrow(/no scores for S=0.5/);
  });

  it('reads what Recon writes, in file order, and refuses what is not such a file', () => {
    const file = { 'layer1.0.bn1': 4427, bn1: 4427, conv1: 3000, 'layer4.1.conv2': 17 };
    expect(isReconScores(file)).toBe(true);
    expect(parseReconScores(file, 'f.json')).toEqual(Object.entries(file).map(([name, score]) => ({ name, score })));
    expect(isReconScores({ kind: 'recon-conflict-report' })).toBe(false);
    expect(isReconScores({ a: -1 })).toBe(false);
    expect(isReconScores([1, 2])).toBe(false);
    expect(() => parseReconScores({ '0': 3, a: 1 }, 'f.json')).toThrow(/integer/);
  });

  it('report --format recon-json feeds rewrite --scores the same selection as the report itself', async () => {
    const model = join(dir, 'cnn.onnx');
    const tasks = join(dir, 'cnn.tasks.json');
    saveModel(referenceModel('cnn').build({ opset: 17 }), model);
    writeFileSync(tasks, JSON.stringify(referenceModel('cnn').tasks));
    // A synthetic scan over the cnn's real layer names.
    const names = ['conv1', 'bn1', 'conv2', 'bn2', 'conv3', 'bn3', 'fc'];
    const scan = makeScan({ taskCount: 2, epochs: 2, stepsPerEpoch: 40, S: [-0.01], keepLayers: names.map((_, i) => i) });
    scan.layers.forEach((l, i) => (l.name = names[i]!));
    const report = buildReport(scan);
    const order = report.layers
      .map((l, i) => ({ name: l.name, score: l.scores[0]!.score, i }))
      .sort((x, y) => y.score - x.score || x.i - y.i)
      .map((l) => l.name);
    writeConflictReport(join(dir, 'report.json'), report);
    const r = await cli('report', join(dir, 'report.json'), '--format', 'recon-json', '-o', join(dir, 'recon.json'));
    expect(r.stderr, r.stderr).toBe('');
    expect(Object.keys(JSON.parse(readFileSync(join(dir, 'recon.json'), 'utf8')))).toEqual(order);
    const viaRecon = await cli(
      'rewrite',
      model,
      '--tasks',
      tasks,
      '--scores',
      join(dir, 'recon.json'),
      '--top-k',
      '3',
      '--no-verify',
      '-o',
      join(dir, 'a.onnx'),
    );
    const viaReport = await cli(
      'rewrite',
      model,
      '--tasks',
      tasks,
      '--scores',
      join(dir, 'report.json'),
      '--top-k',
      '3',
      '--no-verify',
      '-o',
      join(dir, 'b.onnx'),
    );
    expect(viaRecon.code, viaRecon.stderr).toBe(0);
    expect(viaReport.code, viaReport.stderr).toBe(0);
    const chosen = (out: string) => /branched \d+ layer\(s\): (.*)/.exec(out)?.[1];
    const top3 = order.slice(0, 3);
    expect(chosen(viaRecon.stdout)?.split(', ').sort()).toEqual([...top3].sort());
    expect(chosen(viaRecon.stdout)).toBe(chosen(viaReport.stdout));
    const withS = await cli('rewrite', model, '--tasks', tasks, '--scores', join(dir, 'recon.json'), '--S', '0', '--top-k', '3', '-o', join(dir, 'c.onnx'));
    expect(withS.code).not.toBe(0);
    expect(withS.stderr).toMatch(/--S does not apply/);
  });

  it('a missing or invalid report is one clean error line, not an internal error', async () => {
    writeFileSync(join(dir, 'bad.json'), '{"kind": 1}');
    for (const file of [join(dir, 'missing.json'), join(dir, 'bad.json')]) {
      const r = await cli('report', file, '--format', 'recon-json');
      expect(r.code).not.toBe(0);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
