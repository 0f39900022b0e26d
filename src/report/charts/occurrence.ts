/**
 * Before/after conflict occurrence per paper bin as grouped bars, the picture of the paper's
 * Tables 6 and 8–10.
 */
import type { CompareResult } from '../compare.js';
import { element, legend, linearScale, niceDomain, plotArea, svgChart, text, tickFormat, tooltip, yAxis, type ChartBox } from '../svg.js';
import { AFTER, BEFORE } from './palette.js';

export function occurrenceChart(result: CompareResult): string {
  const box: ChartBox = { width: 560, height: 300, margin: { top: 40, right: 10, bottom: 50, left: 60 } };
  const p = plotArea(box);
  const y = niceDomain(0, Math.max(...result.before.percent, ...result.after.percent), 5);
  const yScale = linearScale(y.domain, [p.bottom, p.top]);
  const slot = p.width / result.binLabels.length;
  const bar = Math.min(48, slot * 0.34);

  let body = yAxis(box, yScale, y.ticks, tickFormat(y.step, '%'), 'share of cosines');
  result.binLabels.forEach((label, b) => {
    const center = p.left + slot * b + slot / 2;
    const severe = result.severeBins.includes(b);
    const columns = [
      { name: 'before', value: result.before.percent[b]!, color: BEFORE, x: center - bar - 2 },
      { name: 'after', value: result.after.percent[b]!, color: AFTER, x: center + 2 },
    ];
    for (const c of columns) {
      const top = yScale(c.value);
      body += element(
        'rect',
        { x: c.x, y: top, width: bar, height: Math.max(0, p.bottom - top), fill: c.color },
        tooltip(`${label}, ${c.name}: ${c.value.toFixed(2)}%`),
      );
      body += text(c.x + bar / 2, top - 4, c.value.toFixed(c.value < 10 ? 2 : 1), { class: 'value-label', 'text-anchor': 'middle' });
    }
    body += text(center, p.bottom + 16, label, { class: severe ? 'tick severe' : 'tick', 'text-anchor': 'middle' });
    if (severe) body += text(center, p.bottom + 30, 'severe', { class: 'tick severe', 'text-anchor': 'middle' });
  });
  body += element('line', { class: 'axis', x1: p.left, x2: p.right, y1: p.bottom, y2: p.bottom });
  body += legend(
    [
      { label: `before (${result.before.sharedLayers} shared layers)`, color: BEFORE, shape: 'box' },
      { label: `after (${result.after.sharedLayers} shared layers)`, color: AFTER, shape: 'box' },
    ],
    p.left,
    18,
  );
  return svgChart(box, 'occurrence', 'Conflict occurrence before and after Recon, per paper bin', body);
}
