/**
 * Minimal SVG building blocks for the hand-made charts: element strings, linear scales, nice
 * ticks, axes and legends. Charts are plain markup (hover tooltips use SVG <title>), so they
 * render without scripts and print well.
 */
import { escapeHtml } from './escape.js';

export type Attributes = Readonly<Record<string, string | number | undefined>>;

/** Attribute numbers rounded to 0.01 px keep the markup small without visible change. */
export function px(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** `<name attrs>content</name>`; attribute values are escaped, `content` is inserted as is. */
export function element(name: string, attributes: Attributes, content?: string): string {
  let attrs = '';
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    attrs += ` ${key}="${escapeHtml(typeof value === 'number' ? px(value) : value)}"`;
  }
  return content === undefined ? `<${name}${attrs}/>` : `<${name}${attrs}>${content}</${name}>`;
}

/** Escaped text element. */
export function text(x: number, y: number, content: string, attributes: Attributes = {}): string {
  return element('text', { x, y, ...attributes }, escapeHtml(content));
}

/** Native hover tooltip for the enclosing element. */
export function tooltip(content: string): string {
  return `<title>${escapeHtml(content)}</title>`;
}

export interface ChartBox {
  width: number;
  height: number;
  margin: { top: number; right: number; bottom: number; left: number };
}

/** The plot rectangle inside the margins. */
export function plotArea(box: ChartBox): { left: number; top: number; right: number; bottom: number; width: number; height: number } {
  const { width, height, margin } = box;
  return {
    left: margin.left,
    top: margin.top,
    right: width - margin.right,
    bottom: height - margin.bottom,
    width: width - margin.left - margin.right,
    height: height - margin.top - margin.bottom,
  };
}

/**
 * Root of one chart. `kind` lands in data-chart so tests and readers can find each chart;
 * `label` is the accessible name.
 */
export function svgChart(box: ChartBox, kind: string, label: string, content: string): string {
  return element(
    'svg',
    {
      class: 'chart',
      'data-chart': kind,
      viewBox: `0 0 ${px(box.width)} ${px(box.height)}`,
      width: box.width,
      height: box.height,
      role: 'img',
      'aria-label': label,
    },
    content,
  );
}

export interface LinearScale {
  (value: number): number;
  readonly domain: readonly [number, number];
  readonly range: readonly [number, number];
}

export function linearScale(domain: readonly [number, number], range: readonly [number, number]): LinearScale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  // A degenerate domain maps everything to the middle instead of dividing by zero.
  const f = (value: number): number => (d1 === d0 ? (r0 + r1) / 2 : r0 + ((value - d0) / (d1 - d0)) * (r1 - r0));
  return Object.assign(f, { domain: [d0, d1] as const, range: [r0, r1] as const });
}

/** Step of 1, 2 or 5 × 10^k that gives about `target` ticks over [min, max]. */
export function niceStep(min: number, max: number, target = 5): number {
  const span = Math.abs(max - min) || Math.abs(max) || 1;
  const raw = span / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/** Domain widened to multiples of the nice step, and the ticks inside it. */
export function niceDomain(min: number, max: number, target = 5): { domain: [number, number]; ticks: number[]; step: number } {
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = niceStep(min, max, target);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-9; i++) ticks.push(roundToStep(lo + i * step, step));
  return { domain: [roundToStep(lo, step), roundToStep(hi, step)], ticks, step };
}

/** Formats tick values with just enough decimals for the step. */
export function tickFormat(step: number, suffix = ''): (value: number) => string {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return (value) => {
    const abs = Math.abs(value);
    if (decimals === 0 && abs >= 10_000) {
      const [size, unit] = abs >= 1e9 ? [1e9, 'G'] : abs >= 1e6 ? [1e6, 'M'] : [1e3, 'k'];
      return `${stripZeros((value / size).toFixed(2))}${unit}${suffix}`;
    }
    const fixed = value.toFixed(decimals);
    return `${Number(fixed) === 0 ? fixed.replace('-', '') : fixed}${suffix}`;
  };
}

/** Horizontal grid lines with labels on the left, and a rotated axis title. */
export function yAxis(box: ChartBox, scale: LinearScale, ticks: readonly number[], format: (v: number) => string, title?: string): string {
  const p = plotArea(box);
  let out = '';
  for (const tick of ticks) {
    const y = scale(tick);
    out += element('line', { class: 'grid', x1: p.left, x2: p.right, y1: y, y2: y });
    out += text(p.left - 6, y + 3.5, format(tick), { class: 'tick', 'text-anchor': 'end' });
  }
  if (title) {
    const x = 14;
    const y = p.top + p.height / 2;
    out += text(x, y, title, { class: 'axis-title', 'text-anchor': 'middle', transform: `rotate(-90 ${px(x)} ${px(y)})` });
  }
  return out;
}

/** Baseline with numeric tick labels below the plot and an axis title. */
export function xAxis(box: ChartBox, scale: LinearScale, ticks: readonly number[], format: (v: number) => string, title?: string): string {
  const p = plotArea(box);
  let out = element('line', { class: 'axis', x1: p.left, x2: p.right, y1: p.bottom, y2: p.bottom });
  for (const tick of ticks) {
    const x = scale(tick);
    out += element('line', { class: 'axis', x1: x, x2: x, y1: p.bottom, y2: p.bottom + 4 });
    out += text(x, p.bottom + 16, format(tick), { class: 'tick', 'text-anchor': 'middle' });
  }
  if (title) out += text(p.left + p.width / 2, box.height - 6, title, { class: 'axis-title', 'text-anchor': 'middle' });
  return out;
}

export interface LegendItem {
  label: string;
  color: string;
  /** 'line' for series, 'box' for bars and areas. */
  shape?: 'line' | 'box';
  dashed?: boolean;
}

/** Legend starting at (x, y), wrapping onto new rows past `maxWidth`; item widths are estimated. */
export function legend(items: readonly LegendItem[], x: number, y: number, maxWidth = Infinity): string {
  let out = '';
  for (const { item, dx, row } of legendLayout(items, maxWidth)) {
    const cx = x + dx;
    const cy = y + row * LEGEND_ROW_HEIGHT;
    out +=
      item.shape === 'box'
        ? element('rect', { x: cx, y: cy - 9, width: 12, height: 10, rx: 2, fill: item.color })
        : element('line', {
            x1: cx,
            x2: cx + 16,
            y1: cy - 4,
            y2: cy - 4,
            stroke: item.color,
            'stroke-width': 2.5,
            'stroke-dasharray': item.dashed ? '4 3' : undefined,
          });
    out += text(cx + legendSwatchWidth(item), cy, item.label, { class: 'legend' });
  }
  return out;
}

export const LEGEND_ROW_HEIGHT = 17;

/** Rows the legend needs within `maxWidth`. */
export function legendRows(items: readonly LegendItem[], maxWidth = Infinity): number {
  return Math.max(1, ...legendLayout(items, maxWidth).map((placed) => placed.row + 1));
}

function legendLayout(items: readonly LegendItem[], maxWidth: number): { item: LegendItem; dx: number; row: number }[] {
  const placed: { item: LegendItem; dx: number; row: number }[] = [];
  let dx = 0;
  let row = 0;
  for (const item of items) {
    const width = legendSwatchWidth(item) + estimateTextWidth(item.label, 11);
    if (dx > 0 && dx + width > maxWidth) {
      dx = 0;
      row++;
    }
    placed.push({ item, dx, row });
    dx += width + 18;
  }
  return placed;
}

function legendSwatchWidth(item: LegendItem): number {
  return item.shape === 'box' ? 17 : 21;
}

/** Width of `content` at `fontSize` px in a typical sans-serif; good enough for layout. */
export function estimateTextWidth(content: string, fontSize: number): number {
  return content.length * fontSize * 0.58;
}

/** SVG path data through the points (gaps where a value is not finite). */
export function linePath(points: readonly (readonly [number, number])[]): string {
  let d = '';
  let pen = false;
  for (const [x, y] of points) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${px(x)} ${px(y)}`;
    pen = true;
  }
  return d;
}

function roundToStep(value: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(value.toFixed(Math.min(12, decimals)));
}

function stripZeros(value: string): string {
  return value.includes('.') ? value.replace(/\.?0+$/, '') : value;
}
