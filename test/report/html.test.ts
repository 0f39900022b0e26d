import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/report/compare.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { renderConflictCsv } from '../../src/report/csv.js';
import { renderRankingTable } from '../../src/report/table.js';
import { GRAPH_SCRIPT } from '../../src/report/graph/script.js';
import { buildGraphView } from '../../src/report/graph/view.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { HOSTILE_NAME, buildReport, makeScan } from './fixtures.js';

/** The page with its one script (the graph view's) cut out; that script is checked on its own. */
function withoutGraphScript(html: string): string {
  const tag = `<script>${GRAPH_SCRIPT}</script>`;
  expect(html.split(tag)).toHaveLength(2);
  return html.replace(tag, '');
}

function chartKinds(html: string): string[] {
  return [...html.matchAll(/<svg class="chart" data-chart="([a-z-]+)"/g)].map((m) => m[1]!);
}

describe('renderHtmlReport', () => {
  const report = buildReport(makeScan({ taskCount: 3, epochs: 3, stepsPerEpoch: 20, hostileName: true }), { withCost: true });
  report.model.path = 'models/<evil>&"model".onnx';
  report.partial = true;
  report.partialReason = 'stopped <early> & "quickly"';

  it('escapes every piece of text taken from the report', () => {
    const html = withoutGraphScript(renderHtmlReport(report));
    expect(HOSTILE_NAME).toContain('<script>');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<evil>');
    expect(html).toContain('layer3.&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;, &quot;quoted&quot;');
    expect(html).toContain('models/&lt;evil&gt;&amp;&quot;model&quot;.onnx');
    expect(html).toContain('stopped &lt;early&gt; &amp; &quot;quickly&quot;');
  });

  it('is self-contained: one inline script (the graph view), no links, images or remote URLs', () => {
    const full = renderHtmlReport(report);
    expect(full.match(/<script/g)).toHaveLength(1);
    // The script only builds DOM nodes: no network, no HTML parsing of data, no eval.
    expect(GRAPH_SCRIPT).not.toMatch(/fetch|XMLHttpRequest|import\s*\(|innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    // Its one URL is the SVG namespace name, which is never loaded.
    expect(GRAPH_SCRIPT.match(/https?:\/\/[^'"\s]*/g)).toEqual(['http://www.w3.org/2000/svg']);
    const html = withoutGraphScript(full);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<(script|link|img|iframe|object|embed)\b/i);
    expect(html).not.toMatch(/\b(src|href)=/i);
    expect(html).not.toMatch(/url\(|@import/i);
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
  });

  it('says in the graph section why the graph is missing, escaped', () => {
    expect(renderHtmlReport(report)).toContain('No model graph: this report was rendered without its model');
    const html = renderHtmlReport(report, { graphMissing: 'model <b>x</b> not found' });
    expect(html).toContain('No model graph: model &lt;b&gt;x&lt;/b&gt; not found.');
  });

  it('escapes node and layer names from the model in the graph markup', () => {
    // A two-task model whose shared layer and op carry hostile names.
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 4]);
    const w = b.initializer('trunk<img src=x onerror=alert(1)>.weight', 'float32', [4, 4], new Float32Array(16).fill(0.1));
    const h = b.op1('Relu', [b.op1('MatMul', [x, w])]);
    const mixed = b.op1('LpNormalization', [h], {}, { name: '"><script>alert(2)</script>' });
    for (const t of ['logits_0', 'logits_1'])
      b.output(b.op1('MatMul', [mixed, b.initializer(`${t}.weight`, 'float32', [4, 2], new Float32Array(8))], {}, { outputs: [t] }), 'float32');
    const view = buildGraphView(b.model(17), report.tasks);
    const html = withoutGraphScript(renderHtmlReport(report, { graph: view }));
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<script');
    expect(html).toContain('trunk&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;');
    expect(html.match(/class="gnode /g)!.length).toBe(view.nodes.length);
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
