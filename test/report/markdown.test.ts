import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/report/compare.js';
import { markdownText, renderMarkdownSummary } from '../../src/report/markdown.js';
import { HOSTILE_NAME, buildReport, makeScan } from './fixtures.js';
import { rawLayerNumbers } from './graph-expect.js';

describe('renderMarkdownSummary', () => {
  const scan = makeScan({ taskCount: 2, epochs: 2, stepsPerEpoch: 20, hostileName: true, S: [-0.02, 0] });
  const report = buildReport(scan);

  it('lists the top layers by score counted from the raw cosines, highest first', () => {
    const md = renderMarkdownSummary(report, { top: 5 });
    const raw = rawLayerNumbers(scan, -0.02);
    const top = scan.layers
      .map((l, i) => ({ name: l.name, score: raw.score[i]!, i }))
      .sort((a, b) => b.score - a.score || a.i - b.i)
      .slice(0, 5);
    const rows = md.split('\n').filter((l) => /^\| \d+ \|/.test(l));
    expect(rows).toHaveLength(5);
    rows.forEach((row, r) => {
      const cells = row.split(/(?<!\\)\|/).map((c) => c.trim());
      expect(cells[1]).toBe(String(r + 1));
      expect(cells[5]).toBe(top[r]!.score.toLocaleString('en-US'));
    });
    expect(md).toContain('#### Conflict occurrence (%)');
    expect(md).toContain('Render with `recon report --html report.html`');
  });

  it('keeps hostile layer names inside their table cell and out of the markup', () => {
    const md = renderMarkdownSummary(report, { top: 41 });
    expect(HOSTILE_NAME).toContain('<script>');
    expect(md).not.toContain('<script>');
    const row = md.split('\n').find((l) => l.includes('layer3.&lt;script&gt;'))!;
    // Every unescaped pipe is a cell border: the row keeps the header's column count.
    const header = md.split('\n').find((l) => l.startsWith('| rank'))!;
    expect(row.split(/(?<!\\)\|/).length).toBe(header.split('|').length);
    expect(markdownText('a|b [x](http://e) <i> _*`')).toBe('a\\|b \\[x\\](http://e) &lt;i&gt; \\_\\*\\`');
  });

  it('adds the before/after occurrence table and the link to the HTML report', () => {
    const keep = report.layers.map((_, i) => i).filter((i) => report.layers[i]!.scores[0]!.rank > 10);
    const after = buildReport(makeScan({ taskCount: 2, epochs: 2, stepsPerEpoch: 20, hostileName: true, keepLayers: keep, cosineShift: 0.01 }));
    const compare = compareReports(report, after);
    const md = renderMarkdownSummary(after, { compare, htmlLink: 'out dir/report (1).html' });
    expect(md).toContain('| bin | before | after |');
    expect(md).toContain(`| ${markdownText(compare.binLabels[0]!)} | ${compare.before.percent[0]!.toFixed(2)} | ${compare.after.percent[0]!.toFixed(2)} |`);
    expect(md).toContain('[Full report with the conflict graph](out%20dir/report%20%281%29.html)');
  });
});
