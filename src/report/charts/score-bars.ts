/**
 * Conflict score of every shared layer in network order, one chart per S; the top-K layers at
 * that S are highlighted, so it shows both which layers Recon would branch and where they sit.
 */
import { ellipsize, formatInteger, formatThreshold } from '../format.js';
import type { ConflictReport } from '../schema.js';
import { element, estimateTextWidth, legend, linearScale, niceDomain, plotArea, svgChart, text, tickFormat, tooltip, yAxis, type ChartBox } from '../svg.js';
import { HIGHLIGHT, MUTED_BAR } from './palette.js';

const WIDTH = 1040;
const LABEL_CHARS = 26;
const LABEL_FONT = 10;
const MAX_LABELS = 90;

export function scoreBarChart(report: ConflictReport, sIndex: number, topK: number): string {
  const layers = report.layers;
  const S = report.settings.S[sIndex]!;
  const labelEvery = Math.max(1, Math.ceil(layers.length / MAX_LABELS));
  const longest = Math.max(4, ...layers.map((l) => Math.min(LABEL_CHARS, l.name.length)));
  // Labels are rotated by 60°, so their vertical extent is about sin(60°) of their length.
  const bottom = 16 + estimateTextWidth('x'.repeat(longest), LABEL_FONT) * 0.87;
  const box: ChartBox = { width: WIDTH, height: 250 + bottom, margin: { top: 34, right: 16, bottom, left: 64 } };
  const p = plotArea(box);
  const scores = layers.map((l) => l.scores[sIndex]!.score);
  const y = niceDomain(0, Math.max(1, ...scores), 5);
  const yScale = linearScale(y.domain, [p.bottom, p.top]);
  const slot = p.width / Math.max(1, layers.length);
  const barWidth = Math.max(1, slot * 0.78);

  let body = yAxis(box, yScale, y.ticks, tickFormat(y.step), `score (cos < ${formatThreshold(S)})`);
  layers.forEach((layer, i) => {
    const { score, rank } = layer.scores[sIndex]!;
    const x = p.left + i * slot + (slot - barWidth) / 2;
    const top = yScale(score);
    const selected = rank <= topK;
    const tip = `${layer.name} (${layer.op})\nscore ${formatInteger(score)}, rank ${rank} of ${layers.length}\n${formatInteger(layer.params)} params`;
    body += element(
      'rect',
      { class: selected ? 'bar top' : 'bar', x, y: top, width: barWidth, height: Math.max(0, p.bottom - top), fill: selected ? HIGHLIGHT : MUTED_BAR },
      tooltip(tip),
    );
    if (i % labelEvery === 0) {
      const lx = p.left + i * slot + slot / 2;
      const ly = p.bottom + 10;
      body += text(lx, ly, ellipsize(layer.name, LABEL_CHARS), {
        class: selected ? 'tick layer-label top' : 'tick layer-label',
        'text-anchor': 'end',
        transform: `rotate(-60 ${lx.toFixed(2)} ${ly})`,
      });
    }
  });
  body += element('line', { class: 'axis', x1: p.left, x2: p.right, y1: p.bottom, y2: p.bottom });
  body += legend(
    [
      { label: `top ${topK} at S = ${formatThreshold(S)}`, color: HIGHLIGHT, shape: 'box' },
      { label: 'other shared layers', color: MUTED_BAR, shape: 'box' },
    ],
    p.left,
    18,
  );
  return svgChart(box, 'scores', `Conflict score per layer at S = ${formatThreshold(S)}, network order`, body);
}
