/**
 * Cosine distribution of every layer (pairs pooled): one row per layer in network order, the
 * fine histogram as a heatmap, with the p05–p95 whisker, p25–p75 box and median on top.
 * Cosines of real gradients crowd around 0, so the x range zooms onto where the data lies
 * (0.1%–99.9% of all observations), always keeping 0 and the S thresholds in view.
 */
import { FINE_BIN_COUNT, fineBinEdge, fineEdgeIndex } from '../bins.js';
import { conflictFraction } from '../cosine-stats.js';
import { ellipsize, formatInteger, formatPercent, formatSigned, formatThreshold } from '../format.js';
import type { ConflictReport, CosineStats } from '../schema.js';
import { pooledLayerStats } from '../summary.js';
import { element, estimateTextWidth, legend, linearScale, niceDomain, plotArea, svgChart, text, tickFormat, tooltip, xAxis, type ChartBox } from '../svg.js';
import { INK, sequentialColor } from './palette.js';

const WIDTH = 1040;
const LABEL_CHARS = 30;
const WHISKER = '#e8590c';
const HEAT_MAX = 0.7;

export function distributionHeatmap(report: ConflictReport, sIndex: number, topK: number): string {
  const layers = report.layers;
  const stats = layers.map(pooledLayerStats);
  const [firstBin, lastBin] = visibleBins(report, stats);
  const rowHeight = Math.max(6, Math.min(16, 760 / Math.max(1, layers.length)));
  const showLabels = rowHeight >= 9;
  const left = showLabels ? 24 + estimateTextWidth('x'.repeat(Math.max(6, ...layers.map((l) => Math.min(LABEL_CHARS, l.name.length)))), 10.5) : 40;
  const box: ChartBox = { width: WIDTH, height: 70 + 44 + rowHeight * layers.length, margin: { top: 40, right: 20, bottom: 44, left } };
  const p = plotArea(box);
  const x = linearScale([fineBinEdge(firstBin), fineBinEdge(lastBin + 1)], [p.left, p.right]);
  const ticks = niceDomain(fineBinEdge(firstBin), fineBinEdge(lastBin + 1), 8);

  let body = '';
  layers.forEach((layer, row) => {
    const s = stats[row]!;
    const top = p.top + row * rowHeight;
    const peak = Math.max(1, ...s.fineHistogram.slice(firstBin, lastBin + 1));
    for (let bin = firstBin; bin <= lastBin; bin++) {
      const count = s.fineHistogram[bin]!;
      if (count === 0) continue;
      const x0 = x(fineBinEdge(bin));
      // Square root keeps the sparse, strongly negative tails visible next to the peak; the
      // darkest blues are left out so the quantile marks stay readable on the densest cells.
      body += element('rect', {
        x: x0,
        y: top,
        width: x(fineBinEdge(bin + 1)) - x0 + 0.3,
        height: rowHeight - 0.6,
        fill: sequentialColor(HEAT_MAX * Math.sqrt(count / peak)),
      });
    }
    if (s.count > 0) body += quantileMarks(s, x, top + rowHeight / 2, rowHeight, [p.left, p.right]);
    if (showLabels) {
      const selected = layer.scores[sIndex]!.rank <= topK;
      body += text(p.left - 8, top + rowHeight / 2 + 3.5, ellipsize(layer.name, LABEL_CHARS), {
        class: selected ? 'tick layer-label top' : 'tick layer-label',
        'text-anchor': 'end',
      });
    }
    const tip =
      `${layer.name} (${layer.op}), rank ${layer.scores[sIndex]!.rank}\n` +
      `${formatInteger(s.count)} cosines, ${formatPercent(conflictFraction(s))} < 0\n` +
      `mean ${formatSigned(s.mean, 4)}, std ${s.std.toFixed(4)}\n` +
      `p05 ${formatSigned(s.quantiles.p05, 4)}, p25 ${formatSigned(s.quantiles.p25, 4)}, median ${formatSigned(s.quantiles.p50, 4)}, ` +
      `p75 ${formatSigned(s.quantiles.p75, 4)}, p95 ${formatSigned(s.quantiles.p95, 4)}${s.quantilesExact ? '' : ' (from histogram, ±0.01)'}`;
    body += element('rect', { class: 'hover-row', x: 0, y: top, width: p.right, height: rowHeight, fill: 'transparent' }, tooltip(tip));
  });
  body += element('line', { class: 'zero', x1: x(0), x2: x(0), y1: p.top - 4, y2: p.bottom });
  for (const S of report.settings.S) {
    if (S === 0) continue;
    body += element('line', { class: 'threshold', x1: x(S), x2: x(S), y1: p.top - 4, y2: p.bottom });
    body += text(x(S), p.top - 7, `S = ${formatThreshold(S)}`, { class: 'tick', 'text-anchor': 'middle' });
  }
  body += xAxis(
    box,
    x,
    ticks.ticks.filter((t) => t >= x.domain[0] - 1e-9 && t <= x.domain[1] + 1e-9),
    tickFormat(ticks.step),
    'cosine similarity between task gradients',
  );
  body += legend(
    [
      { label: 'share of cosines per 0.01 bin (row-normalised, sqrt)', color: sequentialColor(HEAT_MAX * 0.8), shape: 'box' },
      { label: 'p05–p95, p25–p75 and median', color: WHISKER },
      { label: 'cos = 0', color: INK },
    ],
    p.left,
    16,
  );
  return svgChart(box, 'distribution', 'Cosine distribution per layer, network order', body);
}

function quantileMarks(s: CosineStats, x: (v: number) => number, cy: number, rowHeight: number, [lo, hi]: [number, number]): string {
  const clip = (v: number): number => Math.min(hi, Math.max(lo, x(v)));
  const q = s.quantiles;
  const boxHeight = Math.max(2, rowHeight * 0.45);
  return (
    element('line', { x1: clip(q.p05), x2: clip(q.p95), y1: cy, y2: cy, stroke: WHISKER, 'stroke-width': 1.2 }) +
    element('rect', {
      x: clip(q.p25),
      y: cy - boxHeight / 2,
      width: Math.max(1, clip(q.p75) - clip(q.p25)),
      height: boxHeight,
      fill: 'none',
      stroke: WHISKER,
      'stroke-width': 1.4,
    }) +
    element('circle', { cx: clip(q.p50), cy, r: Math.max(1.5, rowHeight * 0.16), fill: WHISKER })
  );
}

/** Fine-bin range [first, last] to draw: the central 99.8% of all cosines plus 0 and every S. */
function visibleBins(report: ConflictReport, stats: readonly CosineStats[]): [number, number] {
  const pooled = new Array<number>(FINE_BIN_COUNT).fill(0);
  for (const s of stats) s.fineHistogram.forEach((c, i) => (pooled[i]! += c));
  const total = pooled.reduce((a, b) => a + b, 0);
  let first = 100;
  let last = 99;
  if (total > 0) {
    let below = 0;
    let i = 0;
    while (i < FINE_BIN_COUNT - 1 && below + pooled[i]! <= total * 0.001) below += pooled[i++]!;
    first = Math.min(first, i);
    let above = 0;
    let j = FINE_BIN_COUNT - 1;
    while (j > 0 && above + pooled[j]! <= total * 0.001) above += pooled[j--]!;
    last = Math.max(last, j);
  }
  for (const S of report.settings.S) {
    const k = fineEdgeIndex(S);
    const edge = k >= 0 ? k : Math.floor((S + 1) * 100);
    first = Math.min(first, edge - 1);
    last = Math.max(last, edge);
  }
  first = Math.max(0, first - 1);
  last = Math.min(FINE_BIN_COUNT - 1, last + 1);
  // At least 0.1 wide, so a very narrow distribution does not turn into a few giant cells.
  while (last - first + 1 < 10) {
    if (first > 0) first--;
    if (last - first + 1 < 10 && last < FINE_BIN_COUNT - 1) last++;
  }
  return [first, last];
}
