import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatReportJson, readConflictReport, writeConflictReport, writeTextFileAtomic } from '../../src/report/io.js';
import { buildReport, makeScan } from './fixtures.js';

describe('report files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recon-report-io-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const report = buildReport(makeScan({ epochs: 1, stepsPerEpoch: 8 }), { withCost: true });

  it('writes a report that reads back equal, leaving no temporary file behind', () => {
    const path = join(dir, 'scan.json');
    writeConflictReport(path, report);
    expect(readConflictReport(path)).toEqual(report);
    expect(readdirSync(dir)).toEqual(['scan.json']);
  });

  it('keeps number arrays on one line so histograms stay readable', () => {
    const text = formatReportJson(report);
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(report)));
    const fine = report.layers[0]!.pairs['digit|fashion']!.fineHistogram;
    expect(text).toContain(`"fineHistogram": [${fine.join(', ')}]`);
    expect(text.split('\n').length * 5).toBeLessThan(JSON.stringify(report, null, 2).split('\n').length);
  });

  it('replaces an existing file in one step', () => {
    const path = join(dir, 'out.html');
    writeTextFileAtomic(path, 'old');
    writeTextFileAtomic(path, 'new ✓');
    expect(readFileSync(path, 'utf8')).toBe('new ✓');
  });

  it('names the file in read, parse and validation errors', () => {
    expect(() => readConflictReport(join(dir, 'absent.json'))).toThrow(/absent.json: cannot read conflict report/);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"kind": ');
    expect(() => readConflictReport(broken)).toThrow(/broken.json: not valid JSON/);
    const invalid = join(dir, 'invalid.json');
    writeFileSync(invalid, JSON.stringify({ ...report, tool: undefined }));
    expect(() => readConflictReport(invalid)).toThrow(`${invalid}: invalid conflict report: field "tool" is missing`);
  });
});
