/**
 * Places a compacted graph with dagre (layered layout) when the report is generated, so the page
 * only draws fixed coordinates: no layout code in the browser, nothing to bundle.
 */
import dagre from '@dagrejs/dagre';
import type { GraphViewNode, ModelGraphView } from './view.js';

export interface PlacedNode {
  node: GraphViewNode;
  /** Centre. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedEdge {
  from: string;
  to: string;
  /** Polylines, in drawing order; one unless the edge wraps from one column into the next. */
  pieces: { x: number; y: number }[][];
  /** Whether the last piece ends at the target (it gets the arrowhead). */
  arrow: boolean;
}

/** A guide from the bottom of one column to the top of the next, where the graph wraps. */
export interface ColumnWrap {
  from: { x: number; y: number };
  to: { x: number; y: number };
}

export interface GraphLayout {
  view: ModelGraphView;
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  wraps: ColumnWrap[];
  width: number;
  height: number;
}

/** Shape the drawing is wrapped to fit: about the report's graph viewport. */
export const TARGET_ASPECT = 1070 / 680;
const COLUMN_GAP = 48;

export const NODE_HEIGHT = 34;
const IO_HEIGHT = 26;
/** Label text is cut to this many characters (the full name is in the tooltip). */
export const MAX_LABEL_CHARS = 30;
const CHAR_WIDTH = 6.6;

/** Label as drawn: long names keep their end, the most specific part of a module path. */
export function shortLabel(label: string): string {
  return label.length <= MAX_LABEL_CHARS ? label : `…${label.slice(label.length - MAX_LABEL_CHARS + 1)}`;
}

/** Second line of a node: its op and the ops folded into it. */
export function opLine(node: GraphViewNode): string {
  if (node.kind === 'input') return 'input';
  if (node.kind === 'output') return node.task !== undefined ? `output · task ${node.task}` : 'output';
  const line = `${node.copyFor !== undefined ? `copy for ${node.copyFor} · ` : ''}${[node.op, ...node.folded].join(' · ')}`;
  return line.length <= MAX_LABEL_CHARS + 6 ? line : `${line.slice(0, MAX_LABEL_CHARS + 5)}…`;
}

function nodeSize(node: GraphViewNode): { width: number; height: number } {
  const chars = Math.max(shortLabel(node.label).length, opLine(node).length * 0.85);
  const height = node.kind === 'input' || node.kind === 'output' ? IO_HEIGHT + 8 : NODE_HEIGHT;
  return { width: Math.max(64, Math.round(chars * CHAR_WIDTH + 20)), height };
}

/**
 * Top-to-bottom layered layout of `view`, wrapped into side-by-side columns when that shows it
 * larger in a TARGET_ASPECT box (networks are long and narrow). Deterministic: same view, same
 * coordinates.
 */
export function layoutGraph(view: ModelGraphView, aspect = TARGET_ASPECT): GraphLayout {
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 18, ranksep: 26, edgesep: 8, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of view.nodes) g.setNode(node.id, nodeSize(node));
  for (const edge of view.edges) g.setEdge(edge.from, edge.to);
  dagre.layout(g);
  const nodes = view.nodes.map((node) => {
    const placed = g.node(node.id) as { x: number; y: number; width: number; height: number };
    return { node, x: placed.x, y: placed.y, width: placed.width, height: placed.height };
  });
  const edges = view.edges.map((edge) => ({
    from: edge.from,
    to: edge.to,
    points: ((g.edge(edge.from, edge.to) as { points?: { x: number; y: number }[] }).points ?? []).map((p) => ({ x: p.x, y: p.y })),
  }));
  const label = g.graph() as { width?: number; height?: number };
  return wrapIntoColumns(view, nodes, edges, Math.ceil(label.width ?? 0), Math.ceil(label.height ?? 0), aspect);
}

/**
 * Cuts a tall layout between rank rows into k bands placed left to right, k chosen so the result
 * fills an `aspect` box at the largest scale. Cuts go where the fewest edges cross, near equal
 * heights; an edge crossing a cut is drawn as a stub leaving the bottom of one column and a stub
 * entering the top of the next, and one guide per cut leads the eye from column to column.
 */
function wrapIntoColumns(
  view: ModelGraphView,
  nodes: PlacedNode[],
  edges: { from: string; to: string; points: { x: number; y: number }[] }[],
  width: number,
  height: number,
  aspect: number,
): GraphLayout {
  const rows = [...new Set(nodes.map((n) => n.y))].sort((a, b) => a - b);
  // Candidate cuts: halfway between consecutive rows, scored by the edges crossing them.
  const gaps = rows.slice(1).map((y, i) => {
    const above = rows[i]!;
    const halfAbove = Math.max(0, ...nodes.filter((n) => n.y === above).map((n) => n.height / 2));
    const halfBelow = Math.max(0, ...nodes.filter((n) => n.y === y).map((n) => n.height / 2));
    const cut = (above + halfAbove + y - halfBelow) / 2;
    const crossing = edges.filter((e) => e.points.some((p) => p.y < cut) && e.points.some((p) => p.y > cut)).length;
    return { cut, crossing };
  });
  const scaleFor = (w: number, h: number): number => Math.min(1, Math.min(aspect / w, 1 / h));
  let best = { scale: scaleFor(width, height), cuts: [] as number[] };
  for (let k = 2; k <= Math.min(12, rows.length); k++) {
    const cuts: number[] = [];
    for (let j = 1; j < k; j++) {
      const target = (height * j) / k;
      const window = gaps.filter((g) => Math.abs(g.cut - target) <= (0.25 * height) / k && g.cut > (cuts.at(-1) ?? 0));
      if (window.length === 0) continue;
      const fewest = Math.min(...window.map((g) => g.crossing));
      const pick = window.filter((g) => g.crossing === fewest).sort((a, b) => Math.abs(a.cut - target) - Math.abs(b.cut - target))[0]!;
      cuts.push(pick.cut);
    }
    const bounds = [0, ...cuts, height];
    const bandHeight = Math.max(...bounds.slice(1).map((b, i) => b - bounds[i]!));
    const scale = scaleFor(k * width + (k - 1) * COLUMN_GAP, bandHeight);
    if (scale > best.scale * 1.05) best = { scale, cuts };
  }
  const bounds = [0, ...best.cuts, height];
  const bands = bounds.slice(1).map((bottom, i) => ({ top: bounds[i]!, bottom }));
  const bandOf = (y: number): number =>
    Math.max(
      0,
      bands.findIndex((b) => y >= b.top && y < b.bottom),
    );
  // Pack columns by the x-extent of their own nodes.
  const extents = bands.map((_, i) => {
    const inBand = nodes.filter((n) => bandOf(n.y) === i);
    return inBand.length === 0
      ? { min: 0, max: 0 }
      : { min: Math.min(...inBand.map((n) => n.x - n.width / 2)), max: Math.max(...inBand.map((n) => n.x + n.width / 2)) };
  });
  const margin = 12;
  const offsets: number[] = [];
  let cursor = margin;
  for (const e of extents) {
    offsets.push(cursor - e.min);
    cursor += e.max - e.min + COLUMN_GAP;
  }
  const totalWidth = Math.ceil(cursor - COLUMN_GAP + margin);
  const totalHeight = Math.ceil(Math.max(...bands.map((b) => b.bottom - b.top)) + (bands.length > 1 ? 2 * margin : 0));
  const top = bands.length > 1 ? margin : 0;
  const move = (p: { x: number; y: number }, band: number): { x: number; y: number } => ({ x: p.x + offsets[band]!, y: p.y - bands[band]!.top + top });
  const placedNodes = nodes.map((n) => {
    const at = move(n, bandOf(n.y));
    return { ...n, x: at.x, y: at.y };
  });
  const placedEdges: PlacedEdge[] = edges.map((e) => {
    if (bands.length === 1) return { from: e.from, to: e.to, pieces: [e.points], arrow: true };
    const end = e.points.at(-1)!;
    const pieces: { x: number; y: number }[][] = [];
    let last: { x: number; y: number }[] | undefined;
    bands.forEach((band, b) => {
      for (const piece of clipToBand(e.points, band.top, band.bottom)) {
        const moved = piece.map((p) => move(p, b));
        if (piece.at(-1) === end) last = moved;
        else pieces.push(moved);
      }
    });
    // The piece ending at the target goes last: it gets the arrowhead.
    return { from: e.from, to: e.to, pieces: last ? [...pieces, last] : pieces, arrow: last !== undefined };
  });
  const wraps: ColumnWrap[] = bands.slice(1).map((_, i) => ({
    from: { x: offsets[i]! + (extents[i]!.min + extents[i]!.max) / 2, y: totalHeight - 2 },
    to: { x: offsets[i + 1]! + (extents[i + 1]!.min + extents[i + 1]!.max) / 2, y: 2 },
  }));
  return { view, nodes: placedNodes, edges: placedEdges, wraps, width: totalWidth, height: totalHeight };
}

/** The parts of a polyline inside top <= y <= bottom. */
function clipToBand(points: readonly { x: number; y: number }[], top: number, bottom: number): { x: number; y: number }[][] {
  const pieces: { x: number; y: number }[][] = [];
  let current: { x: number; y: number }[] = [];
  const inside = (p: { x: number; y: number }): boolean => p.y >= top && p.y <= bottom;
  const at = (a: { x: number; y: number }, b: { x: number; y: number }, y: number): { x: number; y: number } => ({
    x: a.x + ((b.x - a.x) * (y - a.y)) / (b.y - a.y),
    y,
  });
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    const prev = i > 0 ? points[i - 1]! : undefined;
    if (prev) {
      // Entering or leaving the band between prev and p: add the crossing point(s).
      for (const edge of Math.abs(top - prev.y) <= Math.abs(bottom - prev.y) ? [top, bottom] : [bottom, top]) {
        if ((prev.y - edge) * (p.y - edge) < 0) {
          const q = at(prev, p, edge);
          if (current.length > 0) {
            current.push(q);
            pieces.push(current);
            current = [];
          } else current = [q];
        }
      }
    }
    if (inside(p)) current.push(p);
    else if (current.length > 0) {
      pieces.push(current);
      current = [];
    }
  }
  if (current.length > 0) pieces.push(current);
  return pieces.filter((piece) => piece.length >= 2);
}
