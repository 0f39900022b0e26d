/**
 * Markup of the graph view: nodes at dagre's coordinates, filled by conflict, with a legend.
 * The same drawing goes into the HTML page (with data attributes the page script reads) and into
 * a standalone SVG file (with native <title> tooltips instead).
 */
import { conflictColor, divergingColor, INK, seriesColor } from '../charts/palette.js';
import { formatInteger, formatSigned, formatThreshold } from '../format.js';
import { element, estimateTextWidth, px, text, tooltip } from '../svg.js';
import { opLine, shortLabel, type ColumnWrap, type GraphLayout, type PlacedNode } from './layout.js';
import type { GraphPaint, PaintedNode } from './paint.js';

export const SELECTED_STROKE = INK;
const EDGE_COLOR = '#8d95a5';
const LEGEND_HEIGHT = 58;
const RAMP_STEPS = 10;

export interface GraphSvgOptions {
  /** Task names in report order: each gets its series colour for stripes and copy tags. */
  tasks: readonly string[];
  /** Standalone file: own size, fonts, legend and <title> tooltips; else page markup. */
  standalone: boolean;
  /** Page markup: the mode drawn first (index into paint.modes); standalone: the only one. */
  mode?: number;
  /** Heading drawn above a standalone picture. */
  title?: string;
}

export function taskColor(tasks: readonly string[], task: string): string {
  const i = tasks.indexOf(task);
  return i < 0 ? EDGE_COLOR : seriesColor(i);
}

/** The graph drawing: an <svg class="graph"> for the page, or a whole standalone SVG document. */
export function renderGraphSvg(layout: GraphLayout, paint: GraphPaint, options: GraphSvgOptions): string {
  const mode = options.mode ?? paint.initialMode;
  const edges =
    layout.edges.map((e) => e.pieces.map((piece, i) => edgeMarkup(piece, e.arrow && i === e.pieces.length - 1)).join('')).join('') +
    layout.wraps.map((w) => wrapMarkup(w)).join('');
  const nodes = layout.nodes.map((p) => nodeMarkup(p, paint.nodes.get(p.node.id)!, mode, options)).join('');
  const body = `<g class="graph-edges">${edges}</g><g class="graph-nodes">${nodes}</g>`;
  if (!options.standalone) {
    return element(
      'svg',
      {
        class: 'graph',
        viewBox: `0 0 ${px(layout.width)} ${px(layout.height)}`,
        'data-width': layout.width,
        'data-height': layout.height,
        preserveAspectRatio: 'xMidYMid meet',
        role: 'img',
        'aria-label': `model graph: ${layout.nodes.length} nodes, coloured by ${paint.modes[mode]!.label}`,
      },
      body,
    );
  }
  const titleHeight = options.title ? 26 : 0;
  const width = Math.max(layout.width, 720);
  const top = titleHeight + LEGEND_HEIGHT;
  const height = top + layout.height;
  const heading = options.title ? text(12, 19, options.title, { 'font-size': 15, 'font-weight': 600, fill: INK }) : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
${element(
  'svg',
  {
    xmlns: 'http://www.w3.org/2000/svg',
    viewBox: `0 0 ${px(width)} ${px(height)}`,
    width,
    height,
    'font-family': 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif',
  },
  `${element('rect', { x: 0, y: 0, width, height, fill: '#ffffff' })}${heading}<g transform="translate(12 ${titleHeight})">${graphLegend(paint, mode, options.tasks)}</g><g transform="translate(${px((width - layout.width) / 2)} ${top})">${body}</g>`,
)}
`;
}

/** Where the drawing wraps: a faint curve from the bottom of a column to the top of the next. */
function wrapMarkup(wrap: ColumnWrap): string {
  const { from, to } = wrap;
  const midX = (from.x + to.x) / 2;
  const d = `M${px(from.x)} ${px(from.y)}C${px(midX)} ${px(from.y)} ${px(midX)} ${px(to.y)} ${px(to.x)} ${px(to.y)}`;
  return `<path class="graph-wrap" d="${d}" fill="none" stroke="#c3c9d4" stroke-width="1.5" stroke-dasharray="6 5"/>`;
}

function edgeMarkup(points: readonly { x: number; y: number }[], arrow: boolean): string {
  if (points.length < 2) return '';
  const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p.x)} ${px(p.y)}`).join('');
  if (!arrow) return `<path d="${d}" fill="none" stroke="${EDGE_COLOR}" stroke-width="1.2"/>`;
  // Arrowhead as a polygon (no <marker>, so nothing is referenced by id).
  const a = points[points.length - 2]!;
  const b = points[points.length - 1]!;
  const len = Math.hypot(b.x - a.x, b.y - a.y) || 1;
  const ux = (b.x - a.x) / len;
  const uy = (b.y - a.y) / len;
  const head = [
    [b.x, b.y],
    [b.x - 7 * ux - 3.5 * uy, b.y - 7 * uy + 3.5 * ux],
    [b.x - 7 * ux + 3.5 * uy, b.y - 7 * uy - 3.5 * ux],
  ]
    .map(([x, y]) => `${px(x!)},${px(y!)}`)
    .join(' ');
  return `<path d="${d}" fill="none" stroke="${EDGE_COLOR}" stroke-width="1.2"/><polygon points="${head}" fill="${EDGE_COLOR}"/>`;
}

function nodeMarkup(placed: PlacedNode, painted: PaintedNode, mode: number, options: GraphSvgOptions): string {
  const { node, width, height } = placed;
  const x = placed.x - width / 2;
  const y = placed.y - height / 2;
  const fill = painted.fills[mode]!;
  const ink = painted.inks[mode]!;
  const isIo = node.kind === 'input' || node.kind === 'output';
  const classes = ['gnode', node.kind, painted.facts ? 'scored' : '', painted.selected ? 'selected' : '', node.copyFor !== undefined ? 'copy' : '']
    .filter((c) => c !== '')
    .join(' ');
  let inner = element('rect', {
    class: 'gbox',
    x: 0,
    y: 0,
    width,
    height,
    rx: isIo ? height / 2 : node.kind === 'op' ? 10 : 4,
    fill,
    stroke: painted.selected ? SELECTED_STROKE : EDGE_COLOR,
    'stroke-width': painted.selected ? 3 : 1,
    'stroke-dasharray': node.kind === 'op' ? '3 2' : undefined,
  });
  // Task-specific nodes (heads, a rewrite's per-task copies, task outputs) carry their task's colour.
  const task = node.task ?? (node.tasks.length === 1 && options.tasks.length > 1 ? node.tasks[0] : undefined);
  if (task !== undefined) {
    const stripe = node.copyFor !== undefined ? 7 : 4;
    inner += element('rect', { class: 'gtask', x: 1, y: height - stripe - 1, width: width - 2, height: stripe, fill: taskColor(options.tasks, task) });
  }
  const labelY = isIo ? height / 2 - 2 : 14;
  inner += text(width / 2, labelY, shortLabel(node.label), {
    class: 'glabel',
    'text-anchor': 'middle',
    'font-size': 11,
    'font-weight': node.kind === 'layer' ? 600 : 400,
    fill: ink,
  });
  inner += text(width / 2, labelY + 12, opLine(node), { class: 'gop', 'text-anchor': 'middle', 'font-size': 9, fill: ink, 'fill-opacity': 0.8 });
  if (options.standalone) inner = tooltipTitle(placed, painted) + inner;
  const attributes: Record<string, string | number> = { class: classes, 'data-id': node.id, transform: `translate(${px(x)} ${px(y)})` };
  if (!options.standalone) {
    attributes['data-fills'] = painted.fills.join(' ');
    attributes['data-inks'] = painted.inks.join(' ');
    attributes['data-info'] = JSON.stringify(nodeInfo(placed, painted));
  }
  return element('g', attributes, inner);
}

/** How many folded ONNX node names a box's tooltip lists (the count is always given). */
const MEMBER_NAMES_SHOWN = 48;

/** What the page script's tooltip shows, as JSON in data-info (read with JSON.parse, shown as text). */
function nodeInfo(placed: PlacedNode, painted: PaintedNode): Record<string, unknown> {
  const n = placed.node;
  return {
    label: n.label,
    kind: n.kind,
    op: n.op,
    folded: n.folded,
    params: n.params,
    tasks: n.tasks,
    ...(n.copyFor !== undefined ? { copyFor: n.copyFor } : {}),
    ...(n.task !== undefined ? { task: n.task } : {}),
    members: n.members.length,
    // The ONNX nodes folded into this box, for the tooltip's expandable list (long lists cut).
    memberNames: n.members.slice(0, MEMBER_NAMES_SHOWN),
    ...(painted.facts ? { layer: painted.facts } : {}),
  };
}

function tooltipTitle(placed: PlacedNode, painted: PaintedNode): string {
  const n = placed.node;
  const lines = [`${n.label} (${[n.op, ...n.folded].join(' + ')})`];
  if (n.params > 0) lines.push(`${formatInteger(n.params)} parameters`);
  if (n.copyFor !== undefined) lines.push(`per-task copy for ${n.copyFor}`);
  if (n.task !== undefined) lines.push(`output of task ${n.task}`);
  const f = painted.facts;
  if (f) {
    if (f.name !== n.label) lines.push(`scores of ${f.name}${f.source === 'before' ? ' before the rewrite' : ''}`);
    for (const [S, score, rank] of f.scores) lines.push(`score at S = ${formatThreshold(S)}: ${formatInteger(score)} (rank ${rank} of ${f.layerCount})`);
    for (const [pair, mean] of f.pairs) lines.push(`mean cosine ${pair.replace('|', ' / ')}: ${formatSigned(mean, 4)}`);
  }
  return tooltip(lines.join('\n'));
}

/** Colour scale of the mode, selected outline and task colours, one row, about 900 px wide. */
export function graphLegend(paint: GraphPaint, mode: number, tasks: readonly string[]): string {
  const isCos = paint.modes[mode]!.id === 'cos';
  let out = text(0, 14, isCos ? 'mean cosine' : paint.modes[mode]!.label, { 'font-size': 11, fill: INK, 'font-weight': 600 });
  const rampX = 0;
  const box = 18;
  for (let i = 0; i < RAMP_STEPS; i++) {
    const t = i / (RAMP_STEPS - 1);
    const color = isCos ? divergingColor(t * 2 - 1) : conflictColor(t);
    out += element('rect', { x: rampX + i * box, y: 22, width: box, height: 12, fill: color, stroke: '#c9ced8', 'stroke-width': 0.5 });
  }
  const max = isCos ? paint.maxAbsMean : (paint.maxScore[mode] ?? 0);
  const low = isCos ? formatSigned(-max, 3) : formatInteger(paint.minScore[mode] ?? 0);
  const high = isCos ? formatSigned(max, 3) : formatInteger(max);
  out += text(rampX, 47, low, { 'font-size': 10, fill: INK });
  out += text(rampX + RAMP_STEPS * box, 47, high, { 'font-size': 10, fill: INK, 'text-anchor': 'end' });
  let x = RAMP_STEPS * box + 24;
  const chip = (fill: string, stroke: string, strokeWidth: number, label: string, dashed = false): void => {
    out += element('rect', {
      x,
      y: 20,
      width: 26,
      height: 16,
      rx: 3,
      fill,
      stroke,
      'stroke-width': strokeWidth,
      'stroke-dasharray': dashed ? '3 2' : undefined,
    });
    out += text(x + 32, 32, label, { 'font-size': 11, fill: INK });
    x += 40 + estimateTextWidth(label, 11);
  };
  chip('#ffffff', SELECTED_STROKE, 3, 'selected layer');
  chip('#e4e8ef', EDGE_COLOR, 1, 'task-specific layer');
  chip('#ffffff', EDGE_COLOR, 1, 'op without parameters', true);
  if (tasks.length > 1) {
    for (const t of tasks) {
      out += element('rect', { x, y: 30, width: 26, height: 5, fill: taskColor(tasks, t) });
      out += text(x + 32, 35, `task ${t}`, { 'font-size': 11, fill: INK });
      x += 40 + estimateTextWidth(`task ${t}`, 11);
    }
  }
  return out;
}
