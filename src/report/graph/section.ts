/**
 * The graph view as page markup: controls (colour mode, zoom), a fixed-height viewport holding
 * the drawing, the tooltip box, and one legend per colour mode. The page script (script.ts) wires
 * it up; without the script the whole graph still shows, fitted, in the initial colour mode.
 */
import { escapeHtml } from '../escape.js';
import { element, px } from '../svg.js';
import type { GraphLayout } from './layout.js';
import type { GraphPaint } from './paint.js';
import { graphLegend, renderGraphSvg } from './svg.js';

/** Width of the report's content column; the viewport's height follows the graph's shape. */
const CONTENT_WIDTH = 1070;
const MIN_VIEWPORT = 220;
const MAX_VIEWPORT = 680;

export interface GraphPanel {
  layout: GraphLayout;
  paint: GraphPaint;
  /** Task names in report order. */
  tasks: readonly string[];
  /** Which graph this is ("original", "rewritten"): lands in data-graph. */
  kind: string;
  /** A sentence under the controls. */
  caption: string;
}

export function graphPanelHtml(panel: GraphPanel): string {
  const { layout, paint } = panel;
  const options = paint.modes.map((m, i) => `<option value="${i}"${i === paint.initialMode ? ' selected' : ''}>${escapeHtml(m.label)}</option>`).join('');
  const view = layout.view;
  const counts = `${view.nodes.length} nodes drawn for ${view.onnxNodes} ONNX nodes (${view.hiddenNodes} of shape arithmetic hidden)`;
  const tools = `<div class="graph-tools"><label>Colour by <select class="graph-mode">${options}</select></label><span class="graph-buttons"><button type="button" data-zoom="in" title="zoom in">+</button><button type="button" data-zoom="out" title="zoom out">−</button><button type="button" data-zoom="fit" title="show the whole graph">fit</button></span><span class="graph-count">${escapeHtml(counts)}</span></div>`;
  const legends = paint.modes
    .map((_, i) =>
      element(
        'svg',
        { class: 'graph-legend', 'data-legend': String(i), viewBox: '0 0 1000 52', width: 1000, height: 52, role: 'img', 'aria-label': 'legend' },
        graphLegend(paint, i, panel.tasks),
      ).replace('<svg ', i === paint.initialMode ? '<svg ' : '<svg hidden '),
    )
    .join('');
  const fit = Math.min(1, CONTENT_WIDTH / Math.max(1, layout.width));
  const height = Math.round(Math.max(MIN_VIEWPORT, Math.min(MAX_VIEWPORT, layout.height * fit + 8)));
  return `<div class="graph-view" data-graph="${escapeHtml(panel.kind)}" data-mode="${paint.initialMode}" data-thresholds="${escapeHtml(JSON.stringify(paint.thresholds))}">
${tools}
<p class="graph-caption">${escapeHtml(panel.caption)}</p>
<div class="graph-legends">${legends}</div>
<div class="graph-viewport" style="height: ${px(height)}px">${renderGraphSvg(layout, paint, { tasks: panel.tasks, standalone: false })}<div class="graph-tip" hidden></div></div>
</div>`;
}

export const GRAPH_STYLES = `
.graph-view { position: relative; }
.graph-tools { display: flex; flex-wrap: wrap; gap: 14px; align-items: center; margin: 0 0 6px; }
.graph-tools select, .graph-tools button { font: inherit; font-size: 13px; }
.graph-buttons button { min-width: 32px; margin-right: 4px; padding: 2px 8px; border: 1px solid var(--line); background: #f7f8fa; border-radius: 5px; cursor: pointer; }
.graph-count, .graph-caption { color: var(--muted); font-size: 12.5px; }
.graph-caption { margin: 0 0 4px; }
.graph-legends svg { display: block; max-width: 100%; height: auto; margin: 2px 0 6px; }
.graph-legends svg[hidden] { display: none; }
.graph-viewport { position: relative; overflow: hidden; border: 1px solid var(--line); border-radius: 8px; background: #fcfcfd; cursor: grab; touch-action: none; user-select: none; }
.graph-viewport.dragging { cursor: grabbing; }
.graph-viewport svg.graph { display: block; width: 100%; height: 100%; }
svg.graph text { font-family: inherit; pointer-events: none; }
svg.graph g.gnode { cursor: pointer; }
svg.graph g.gnode.hovered rect.gbox { stroke: #4269d0; stroke-width: 2.5; }
.graph-tip { position: absolute; z-index: 2; max-width: 340px; padding: 8px 10px; background: #ffffff; border: 1px solid #c9ced8; border-radius: 6px; box-shadow: 0 4px 14px rgba(29, 35, 48, 0.16); font-size: 12.5px; pointer-events: none; }
.graph-view.pinned .graph-tip { pointer-events: auto; max-height: 70%; overflow-y: auto; }
.graph-tip-members summary { cursor: pointer; color: #4b5563; }
.graph-tip-members ul { margin: 4px 0 0; padding-left: 16px; max-height: 160px; overflow-y: auto; font-size: 11.5px; }
.graph-tip[hidden] { display: none; }
.graph-tip-title { font-weight: 650; font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
.graph-tip-line { color: #394152; }
.graph-tip-muted { color: var(--muted); font-style: italic; }
.graph-tip-copy { color: #7a4b00; }
.graph-tip-table { margin: 4px 0; font-size: 12px; }
.graph-tip-table th, .graph-tip-table td { padding: 1px 6px 1px 0; border: none; background: none; font-weight: 400; }
.graph-tip-table td { text-align: right; white-space: nowrap; }
.graph-tip-caption { color: var(--muted); font-size: 11.5px; margin-top: 2px; }
.graph-missing { padding: 10px 14px; border-radius: 6px; background: #fff4e0; border: 1px solid #f0c36d; color: #7a4b00; }
`;
