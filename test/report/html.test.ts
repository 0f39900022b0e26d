import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/report/compare.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { renderConflictCsv } from '../../src/report/csv.js';
import { renderRankingTable } from '../../src/report/table.js';
import { HOSTILE_NAME, buildReport, makeScan } from './fixtures.js';

function chartKinds(html: string): string[] {
  return [...html.matchAll(/<svg class="chart" data-chart="([a-z-]+)"/g)].map((m) => m[1]!);
}

describe('renderHtmlReport', () => {
  const report = buildReport(makeScan({ taskCount: 3, epochs: 3, stepsPerEpoch: 20, hostileName: true }), { withCost: true });
  report.model.path = 'models/<evil>&"model".onnx';
  report.partial = true;
  report.partialReason = 'stopped <early> & "quickly"';

  it('escapes every piece of text taken from the report', () => {
    const html = renderHtmlReport(report);
    expect(HOSTILE_NAME).toContain('<script>');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<evil>');
    expect(html).toContain('layer3.&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;, &quot;quoted&quot;');
    expect(html).toContain('models/&lt;evil&gt;&amp;&quot;model&quot;.onnx');
    expect(html).toContain('stopped &lt;early&gt; &amp; &quot;quickly&quot;');
  });

  it('is self-contained: no scripts, links, images or remote URLs', () => {
    const html = renderHtmlReport(report);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<(script|link|img|iframe|object|embed)\b/i);
    expect(html).not.toMatch(/\b(src|href)=/i);
    expect(html).not.toMatch(/url\(|@import/i);
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
  });

  it('draws one score chart per S, the distribution, training, pair matrix and cost charts', () => {
    expect(chartKinds(renderHtmlReport(report))).toEqual(['scores', 'scores', 'distribution', 'conflict-rate', 'losses', 'pairs', 'cost']);
  });

  it('leaves out the pair matrix for two tasks and the cost chart without cost data', () => {
    const two = buildReport(makeScan({ taskCount: 2, epochs: 2, stepsPerEpoch: 10, S: [-0.1] }));
    expect(chartKinds(renderHtmlReport(two))).toEqual(['scores', 'distribution', 'conflict-rate', 'losses']);
  });

  it('highlights exactly the top-K layers and lists them in the ranking table', () => {
    const html = renderHtmlReport(report, { top: 7 });
    const scoresChart = html.slice(html.indexOf('data-chart="scores"'), html.indexOf('</svg>', html.indexOf('data-chart="scores"')));
    expect(scoresChart.match(/class="bar top"/g)).toHaveLength(7);
    const table = html.slice(html.indexOf('<table class="ranking">'), html.indexOf('</table>', html.indexOf('<table class="ranking">')));
    expect(table.match(/<tr>/g)).toHaveLength(8);
    const first = report.layers.find((l) => l.scores[0]!.rank === 1)!;
    expect(table).toContain(`<td class="name">${first.name}</td>`);
  });

  it('adds the paper-style before/after table when given the original scan', () => {
    const keep = report.layers.map((_, i) => i).filter((i) => report.layers[i]!.scores[0]!.rank > 10);
    const after = buildReport(makeScan({ taskCount: 3, epochs: 3, stepsPerEpoch: 20, hostileName: true, keepLayers: keep, cosineShift: 0.01 }));
    const html = renderHtmlReport(after, { before: report });
    const result = compareReports(report, after);
    expect(chartKinds(html)).toContain('occurrence');
    expect(html).toContain('Conflict occurrence before and after Recon');
    expect(html).toContain(`<td class="num">${result.severeReductionPct!.toFixed(2)}%</td>`);
    expect(html).toContain(`<td class="num">${result.before.percent[0]!.toFixed(2)}</td><td class="num">${result.after.percent[0]!.toFixed(2)}</td>`);
    // A precomputed comparison is used as given.
    const forced = { ...result, severeReductionPct: 12.3456 };
    expect(renderHtmlReport(after, { before: report, compare: forced })).toContain('12.35%');
  });

  it('renders a scan interrupted before its first step without NaN or Infinity', () => {
    const scan = makeScan({ taskCount: 3, epochs: 1, stepsPerEpoch: 1 });
    const empty = buildReport(scan, { from: 0, to: 0, partialReason: 'killed' });
    for (const output of [renderHtmlReport(empty), renderRankingTable(empty), renderConflictCsv(empty)]) {
      expect(output).not.toMatch(/NaN|Infinity/);
    }
    expect(renderHtmlReport(empty)).toContain('No losses were recorded.');
  });
});
