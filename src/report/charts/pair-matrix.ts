/**
 * Task-pair matrices (for three or more tasks): mean cosine and conflict rate of each pair,
 * pooled over all shared layers and steps, to show which tasks pull against each other.
 */
import { ellipsize, formatInteger, formatPercent, formatSigned } from '../format.js';
import type { ConflictReport } from '../schema.js';
import { pairSummaries, type PairSummary } from '../summary.js';
import { element, estimateTextWidth, svgChart, text, tooltip, type ChartBox } from '../svg.js';
import { conflictColor, divergingColor, textColorOn } from './palette.js';

const LABEL_CHARS = 18;

export function pairMatrixChart(report: ConflictReport): string {
  const tasks = report.tasks.map((t) => t.name);
  const n = tasks.length;
  const summaries = pairSummaries(report);
  const lookup = new Map<string, PairSummary>();
  for (const s of summaries) {
    lookup.set(`${s.first}\u0000${s.second}`, s);
    lookup.set(`${s.second}\u0000${s.first}`, s);
  }
  const cell = Math.max(14, Math.min(64, 440 / n));
  const longestLabel = estimateTextWidth('x'.repeat(Math.max(...tasks.map((t) => Math.min(LABEL_CHARS, t.length)))), 11);
  const labelWidth = 12 + longestLabel;
  const matrixWidth = labelWidth + cell * n;
  const gap = 60;
  // Column labels are rotated by 45°, so they rise by about 0.7 of their length.
  const top = 40 + longestLabel * 0.72;
  const box: ChartBox = { width: 20 + matrixWidth * 2 + gap, height: top + cell * n + 20, margin: { top, right: 0, bottom: 20, left: 0 } };
  const maxAbsMean = Math.max(0.01, ...summaries.map((s) => Math.abs(s.stats.mean)));

  const matrix = (originX: number, title: string, value: (s: PairSummary) => { fill: string; label: string; tip: string }): string => {
    const gridX = originX + labelWidth;
    let out = text(gridX, 20, title, { class: 'panel-title' });
    tasks.forEach((task, i) => {
      const cy = top + i * cell + cell / 2;
      out += text(gridX - 6, cy + 4, ellipsize(task, LABEL_CHARS), { class: 'tick', 'text-anchor': 'end' });
      const cx = gridX + i * cell + cell / 2;
      out += text(cx, top - 8, ellipsize(task, LABEL_CHARS), { class: 'tick', transform: `rotate(-45 ${cx.toFixed(2)} ${top - 8})` });
    });
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const x = gridX + j * cell;
        const y = top + i * cell;
        if (i === j) {
          out += element('rect', { x, y, width: cell - 2, height: cell - 2, fill: '#eef0f3' });
          continue;
        }
        const v = value(lookup.get(`${tasks[i]}\u0000${tasks[j]}`)!);
        out += element('rect', { x, y, width: cell - 2, height: cell - 2, fill: v.fill }, tooltip(v.tip));
        if (cell >= 40)
          out += text(x + (cell - 2) / 2, y + (cell - 2) / 2 + 4, v.label, { class: 'cell-label', 'text-anchor': 'middle', fill: textColorOn(v.fill) });
      }
    }
    return out;
  };

  const describe = (s: PairSummary): string =>
    `${s.first} × ${s.second}\nmean cos ${formatSigned(s.stats.mean, 4)}, ${formatPercent(s.conflictRate)} < 0\n${formatInteger(s.stats.count)} cosines over all shared layers`;
  let body = matrix(10, 'mean cosine', (s) => ({ fill: divergingColor(s.stats.mean / maxAbsMean), label: formatSigned(s.stats.mean, 3), tip: describe(s) }));
  body += matrix(10 + matrixWidth + gap, 'conflict rate (cos < 0)', (s) => ({
    fill: conflictColor(s.conflictRate),
    label: formatPercent(s.conflictRate, 0),
    tip: describe(s),
  }));
  return svgChart(box, 'pairs', 'Task-pair matrices: mean cosine and conflict rate', body);
}
