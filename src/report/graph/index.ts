/**
 * The report's graph view end to end: compact the model's graph, lay it out, colour it by a
 * conflict report, and draw it for the page or as a standalone SVG.
 */
import { formatThreshold } from '../format.js';
import type { ConflictReport } from '../schema.js';
import { layersByRank, thresholdIndex } from '../summary.js';
import { layoutGraph } from './layout.js';
import { paintGraph, type StepCosines } from './paint.js';
import type { GraphPanel } from './section.js';
import { renderGraphSvg } from './svg.js';
import type { ModelGraphView } from './view.js';

export { buildGraphView, copyOrigin, type GraphTask, type GraphViewNode, type GraphViewEdge, type ModelGraphView, type RewriteInfo } from './view.js';
export { layoutGraph, type GraphLayout } from './layout.js';
export { paintGraph, stepSeries, type GraphPaint, type StepCosines } from './paint.js';

export interface GraphDrawingOptions {
  /** Threshold whose scores colour the graph first (default settings.S[0]). */
  S?: number;
  /** Layers outlined on an original model: the top K at S (default 10). */
  top?: number;
  /** Scan of the original model, for the per-task copies of a rewritten one. */
  before?: ConflictReport;
  stepCosines?: StepCosines;
  beforeStepCosines?: StepCosines;
}

/**
 * Outlined layers: on a rewritten model the layers its rewrite branched (their copies), else the
 * top K at S, the layers Recon would branch.
 */
export function selectedLayers(report: ConflictReport, view: ModelGraphView, sIndex: number, top: number): Set<string> {
  if (view.rewrite) return new Set(view.rewrite.branched);
  const k = Math.max(0, Math.min(report.layers.length, top));
  return new Set(
    layersByRank(report, sIndex)
      .slice(0, k)
      .map((i) => report.layers[i]!.name),
  );
}

/** Page panel for `view` coloured by `report`. */
export function graphPanel(report: ConflictReport, view: ModelGraphView, options: GraphDrawingOptions & { kind: string; caption: string }): GraphPanel {
  const sIndex = thresholdIndex(report, options.S);
  const paint = paintGraph(view.nodes, {
    report,
    ...(options.before ? { before: options.before } : {}),
    selected: selectedLayers(report, view, sIndex, options.top ?? 10),
    sIndex,
    ...(options.stepCosines ? { stepCosines: options.stepCosines } : {}),
    ...(options.beforeStepCosines ? { beforeStepCosines: options.beforeStepCosines } : {}),
  });
  return { layout: layoutGraph(view), paint, tasks: report.tasks.map((t) => t.name), kind: options.kind, caption: options.caption };
}

/** `recon report --graph-svg`: the graph as one standalone SVG file, coloured by the score at S. */
export function renderGraphSvgFile(report: ConflictReport, view: ModelGraphView, options: GraphDrawingOptions = {}): string {
  const sIndex = thresholdIndex(report, options.S);
  const panel = graphPanel(report, view, { ...options, kind: 'standalone', caption: '' });
  const what = view.rewrite ? 'rewritten model' : 'model';
  const title = `${what} ${report.model.path}: conflict score at S = ${formatThreshold(report.settings.S[sIndex]!)}`;
  return renderGraphSvg(panel.layout, panel.paint, { tasks: panel.tasks, standalone: true, mode: sIndex, title });
}
