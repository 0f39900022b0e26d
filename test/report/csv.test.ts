import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS, csvField, renderConflictCsv } from '../../src/report/csv.js';
import { HOSTILE_NAME, buildReport, makeScan } from './fixtures.js';

/** Minimal RFC 4180 reader, independent of the writer, to prove the output round-trips. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length > 0) throw new Error('CSV does not end with CRLF');
  return rows;
}

describe('csvField', () => {
  it('quotes only when RFC 4180 requires it and doubles quotes', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    expect(csvField('')).toBe('');
  });
});

describe('renderConflictCsv', () => {
  const report = buildReport(makeScan({ epochs: 1, stepsPerEpoch: 20, hostileName: true, S: [-0.1, -0.02, 0] }));
  const rows = parseCsv(renderConflictCsv(report));

  it('writes one row per layer × S in network order after the header', () => {
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(1 + 41 * 3);
    expect(rows.every((r) => r.length === CSV_COLUMNS.length)).toBe(true);
    expect(rows.slice(1, 4).map((r) => [r[0], r[1], r[5]])).toEqual([
      ['0', 'conv1', '-0.1'],
      ['0', 'conv1', '-0.02'],
      ['0', 'conv1', '0'],
    ]);
  });

  it('round-trips names with commas, quotes and newlines', () => {
    const col = (name: string): number => CSV_COLUMNS.indexOf(name as (typeof CSV_COLUMNS)[number]);
    const hostile = rows.filter((r) => r[col('layer')] === HOSTILE_NAME);
    expect(hostile).toHaveLength(3);
    const layer = report.layers.find((l) => l.name === HOSTILE_NAME)!;
    expect(hostile.map((r) => Number(r[col('score')]))).toEqual(layer.scores.map((s) => s.score));
    expect(hostile.map((r) => Number(r[col('rank')]))).toEqual(layer.scores.map((s) => s.rank));
    expect(Number(hostile[0]![col('mean_cos')])).toBe(layer.pairs['digit|fashion']!.mean);
    expect(Number(hostile[0]![col('observations')])).toBe(20);
    const bins = [0, 1, 2, 3, 4].map((b) => Number(hostile[0]![col(`paper_bin_${b}`)]));
    expect(bins).toEqual(layer.pairs['digit|fashion']!.histogram);
  });
});
