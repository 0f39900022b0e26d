/**
 * Cost of making the top-K layers task-specific: parameter and MAC increase against K, so the
 * knee (K where MACs jump because an early layer forces everything after it to run per task)
 * is visible.
 */
import { formatCompact, formatInteger } from '../format.js';
import type { ConflictReport, CostPoint } from '../schema.js';
import { element, legend, linePath, linearScale, niceDomain, plotArea, svgChart, text, tickFormat, tooltip, xAxis, yAxis, type ChartBox } from '../svg.js';
import { HIGHLIGHT, seriesColor } from './palette.js';

const WIDTH = 1040;

export function costChart(report: ConflictReport, cost: readonly CostPoint[], topK: number): string {
  const box: ChartBox = { width: WIDTH, height: 310, margin: { top: 44, right: 24, bottom: 44, left: 64 } };
  const p = plotArea(box);
  const ks = cost.map((c) => c.k);
  const kMin = Math.min(...ks);
  const kMax = Math.max(...ks);
  const values = cost.flatMap((c) => [c.paramIncreasePct, c.macIncreasePct]);
  const y = niceDomain(Math.min(0, ...values), Math.max(1, ...values), 5);
  const x = linearScale(kMax > kMin ? [kMin, kMax] : [kMin - 1, kMax + 1], [p.left + 6, p.right - 6]);
  const yScale = linearScale(y.domain, [p.bottom, p.top]);
  const xt = niceDomain(kMin, kMax, 10);
  const series = [
    { label: '+ parameters %', color: seriesColor(0), value: (c: CostPoint) => c.paramIncreasePct },
    { label: '+ MACs %', color: seriesColor(2), value: (c: CostPoint) => c.macIncreasePct },
  ];

  let body = yAxis(box, yScale, y.ticks, tickFormat(y.step, '%'), 'increase vs. shared model');
  body += xAxis(
    box,
    x,
    xt.ticks.filter((t) => Number.isInteger(t) && t >= kMin && t <= kMax),
    (v) => String(v),
    'K (top-K layers made task-specific)',
  );
  if (topK >= kMin && topK <= kMax) {
    body += element('line', { class: 'threshold', x1: x(topK), x2: x(topK), y1: p.top - 2, y2: p.bottom, stroke: HIGHLIGHT });
    // Above the plot, where no series can run through the label.
    body += text(x(topK), p.top - 6, `K = ${topK}`, { class: 'tick marker-label', 'text-anchor': 'middle' });
  }
  for (const s of series) {
    body += element('path', { d: linePath(cost.map((c) => [x(c.k), yScale(s.value(c))] as const)), fill: 'none', stroke: s.color, 'stroke-width': 2 });
    for (const c of cost) {
      const tip =
        `K = ${c.k}${c.layers.length > 0 ? ` (adds ${c.layers[c.layers.length - 1]})` : ''}\n` +
        `${formatInteger(c.params)} params (+${c.paramIncreasePct.toFixed(2)}%)\n${formatCompact(c.macs)} MACs (+${c.macIncreasePct.toFixed(2)}%)`;
      body += element('circle', { cx: x(c.k), cy: yScale(s.value(c)), r: cost.length > 80 ? 1.8 : 3, fill: s.color }, tooltip(tip));
    }
  }
  body += legend(
    series.map((s) => ({ label: s.label, color: s.color })),
    p.left,
    16,
  );
  return svgChart(box, 'cost', `Cost of making the top-K layers of ${report.model.path} task-specific`, body);
}
