/** Colours shared by the charts and the page's CSS. */

/** Categorical series colours (tasks, layers), distinguishable for common colour-vision deficits. */
export const SERIES_COLORS = ['#4269d0', '#efb118', '#ff725c', '#6cc5b0', '#3ca951', '#ff8ab7', '#a463f2', '#97bbf5', '#9c6b4e', '#9498a0'] as const;

export const HIGHLIGHT = '#d1495b';
export const MUTED_BAR = '#a9b8cc';
export const INK = '#1d2330';
export const BEFORE = '#8c96a8';
export const AFTER = '#2a9d8f';

export function seriesColor(index: number): string {
  return SERIES_COLORS[index % SERIES_COLORS.length]!;
}

const SEQUENTIAL = ['#f7fbff', '#c6dbef', '#6baed6', '#2171b5', '#08306b'];
const CONFLICT = ['#fff5f0', '#fcbba1', '#fb6a4a', '#cb181d', '#67000d'];
const DIVERGING = ['#b2182b', '#ef8a62', '#fddbc7', '#f7f7f7', '#d1e5f0', '#67a9cf', '#2166ac'];

/** t in [0, 1] → light to dark blue. */
export function sequentialColor(t: number): string {
  return interpolate(SEQUENTIAL, t);
}

/** t in [0, 1] → light to dark red. */
export function conflictColor(t: number): string {
  return interpolate(CONFLICT, t);
}

/** t in [-1, 1] → red (negative) through white to blue (positive). */
export function divergingColor(t: number): string {
  return interpolate(DIVERGING, (t + 1) / 2);
}

/** Dark text on light cells, white on dark ones. */
export function textColorOn(background: string): string {
  const [r, g, b] = rgb(background);
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? INK : '#ffffff';
}

function interpolate(stops: readonly string[], t: number): string {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const position = clamped * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(position));
  const f = position - i;
  const a = rgb(stops[i]!);
  const b = rgb(stops[i + 1]!);
  const mix = a.map((v, k) => Math.round(v + (b[k]! - v) * f));
  return `#${mix.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

function rgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
