/**
 * How conflicts and losses evolve over the scan: conflict rate per epoch (trunk-wide and for the
 * most conflicting layers) and per-task loss curves.
 */
import { ellipsize, formatInteger, formatPercent, formatThreshold } from '../format.js';
import type { ConflictReport } from '../schema.js';
import { layersByRank, trunkConflictRatePerEpoch } from '../summary.js';
import {
  LEGEND_ROW_HEIGHT,
  element,
  legend,
  legendRows,
  linePath,
  linearScale,
  niceDomain,
  plotArea,
  svgChart,
  tickFormat,
  tooltip,
  xAxis,
  yAxis,
  type ChartBox,
} from '../svg.js';
import { INK, seriesColor } from './palette.js';

const WIDTH = 1040;
const LAYER_LINES = 5;

interface Series {
  label: string;
  color: string;
  values: readonly number[];
  width: number;
}

/**
 * Conflict rate over the scan: per epoch for multi-epoch scans, else per step (bucket means) so a
 * short search still shows a curve rather than a single point.
 */
export function conflictRateChart(report: ConflictReport, sIndex: number): string {
  const epochs = report.progress.epochStepsDone.length;
  if (epochs < 3 && report.conflictRateSteps && report.conflictRateSteps.steps.length > 1) return conflictRateByStepChart(report, report.conflictRateSteps);
  const topLayers = layersByRank(report, sIndex).slice(0, LAYER_LINES);
  const series: Series[] = [
    { label: 'all shared layers', color: INK, values: trunkConflictRatePerEpoch(report), width: 2.6 },
    ...topLayers.map((index, i) => ({
      label: `#${i + 1} ${ellipsize(report.layers[index]!.name, 32)}`,
      color: seriesColor(i),
      values: report.layers[index]!.conflictRatePerEpoch,
      width: 1.4,
    })),
  ];
  const all = series.flatMap((s) => s.values).map((v) => v * 100);
  const y = niceDomain(Math.min(...all, 50), Math.max(...all, 50), 5);
  const legendItems = series.map((s) => ({ label: s.label, color: s.color }));
  const legendTop = 16 + (legendRows(legendItems, WIDTH - 90) - 1) * LEGEND_ROW_HEIGHT;
  const box: ChartBox = { width: WIDTH, height: 280 + legendTop, margin: { top: 18 + legendTop, right: 20, bottom: 44, left: 64 } };
  const p = plotArea(box);
  const xDomain: [number, number] = epochs > 1 ? [1, epochs] : [0.5, 1.5];
  const x = linearScale(xDomain, [p.left + 8, p.right - 8]);
  const yScale = linearScale(y.domain, [p.bottom, p.top]);
  const xt = niceDomain(1, Math.max(1, epochs), Math.min(10, Math.max(1, epochs - 1)));

  let body = yAxis(box, yScale, y.ticks, tickFormat(y.step, '%'), 'cosines < 0');
  body += xAxis(
    box,
    x,
    xt.ticks.filter((t) => Number.isInteger(t) && t >= 1 && t <= epochs),
    (v) => String(v),
    'epoch',
  );
  for (const s of series) {
    const points = s.values.map((v, e) => [x(e + 1), yScale(v * 100)] as const);
    body += element('path', { d: linePath(points), fill: 'none', stroke: s.color, 'stroke-width': s.width, 'stroke-linejoin': 'round' });
    if (epochs <= 40) {
      s.values.forEach((v, e) => {
        body += element(
          'circle',
          { cx: x(e + 1), cy: yScale(v * 100), r: s.width + 0.8, fill: s.color },
          tooltip(`${s.label}\nepoch ${e + 1}: ${formatPercent(v, 2)} of cosines < 0`),
        );
      });
    }
  }
  body += legend(legendItems, p.left, 16, WIDTH - 90);
  return svgChart(box, 'conflict-rate', `Conflict rate per epoch (ranked at S = ${formatThreshold(report.settings.S[sIndex]!)})`, body);
}

function conflictRateByStepChart(report: ConflictReport, data: { steps: number[]; rate: number[] }): string {
  const values = data.rate.map((v) => v * 100);
  const y = niceDomain(Math.min(...values, 0), Math.max(...values, 50), 5);
  const x0 = data.steps[0]!;
  const x1 = data.steps[data.steps.length - 1]!;
  const xd = niceDomain(x0, x1, 8);
  const legendItems = [{ label: 'all shared layers', color: INK }];
  const box: ChartBox = { width: WIDTH, height: 296, margin: { top: 34, right: 20, bottom: 44, left: 64 } };
  const p = plotArea(box);
  const x = linearScale([x0, x1], [p.left, p.right]);
  const yScale = linearScale(y.domain, [p.bottom, p.top]);
  const bucket = data.steps.length > 1 ? data.steps[1]! - data.steps[0]! : 1;
  let body = yAxis(box, yScale, y.ticks, tickFormat(y.step, '%'), 'cosines < 0');
  body += xAxis(
    box,
    x,
    xd.ticks.filter((t) => t >= x0 && t <= x1),
    tickFormat(xd.step),
    'step',
  );
  body += element('path', {
    d: linePath(data.rate.map((v, k) => [x(data.steps[k]!), yScale(v * 100)] as const)),
    fill: 'none',
    stroke: INK,
    'stroke-width': 2,
    'stroke-linejoin': 'round',
  });
  body += legend(legendItems, p.left, 16, WIDTH - 90);
  const title = `Conflict rate over the scan (${report.progress.stepsDone} steps${bucket > 1 ? `, means of ${bucket} steps` : ''})`;
  return svgChart(box, 'conflict-rate', title, body);
}

export function lossChart(report: ConflictReport): string {
  const { steps, perTask } = report.losses;
  const tasks = report.tasks.map((t) => t.name);
  const values = tasks.flatMap((t) => perTask[t] ?? []);
  const y = niceDomain(Math.min(0, ...values), Math.max(...values), 5);
  const x0 = steps[0] ?? 0;
  const x1 = steps[steps.length - 1] ?? 1;
  const xd = niceDomain(x0, x1 > x0 ? x1 : x0 + 1, 8);
  const box: ChartBox = { width: WIDTH, height: 280, margin: { top: 34, right: 20, bottom: 44, left: 64 } };
  const p = plotArea(box);
  const x = linearScale([x0, x1 > x0 ? x1 : x0 + 1], [p.left, p.right]);
  const yScale = linearScale(y.domain, [p.bottom, p.top]);

  let body = yAxis(box, yScale, y.ticks, tickFormat(y.step), 'loss');
  body += xAxis(
    box,
    x,
    xd.ticks.filter((t) => t >= x.domain[0] && t <= x.domain[1]),
    tickFormat(xd.step),
    'step',
  );
  tasks.forEach((task, i) => {
    const losses = perTask[task] ?? [];
    const points = losses.map((v, k) => [x(steps[k]!), yScale(v)] as const);
    const last = losses[losses.length - 1];
    const tip = `${task}: ${last === undefined ? 'no data' : `last ${last.toPrecision(4)} at step ${formatInteger(steps[steps.length - 1]!)}`}`;
    body += element('path', { d: linePath(points), fill: 'none', stroke: seriesColor(i), 'stroke-width': 1.6, 'stroke-linejoin': 'round' }, tooltip(tip));
  });
  body += legend(
    tasks.map((t, i) => ({ label: t, color: seriesColor(i) })),
    p.left,
    16,
  );
  return svgChart(box, 'losses', 'Per-task loss over steps', body);
}
