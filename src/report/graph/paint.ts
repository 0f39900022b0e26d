/**
 * What each node of the graph view shows: its fill in every colour mode (score at each S, mean
 * cosine), whether it is outlined as selected, and the facts its tooltip lists.
 */
import { conflictColor, divergingColor, textColorOn } from '../charts/palette.js';
import { mergeCosineStats } from '../cosine-stats.js';
import { formatThreshold } from '../format.js';
import type { ConflictReport, LayerConflict } from '../schema.js';
import { copyOrigin, type GraphViewNode } from './view.js';

/** Fills of nodes that no report scores: task-specific layers, plain ops, inputs and outputs. */
export const UNSCORED_LAYER_FILL = '#e4e8ef';
export const OP_FILL = '#ffffff';
export const IO_FILL = '#f1f2f6';

/** Per-step cosines recorded by `scan --record-steps`: data[(step * layers + layer) * pairs + pair]. */
export interface StepCosines {
  steps: number;
  layers: number;
  pairs: number;
  data: Float32Array;
}

export interface GraphPaintOptions {
  /** The report whose layers colour the graph. */
  report: ConflictReport;
  /** Per-task copies whose origin is not in `report` are looked up here (the original model's scan). */
  before?: ConflictReport;
  /** Layers outlined as selected (Recon's top-K, or the layers a rewrite branched). */
  selected: ReadonlySet<string>;
  /** Index into report.settings.S of the mode shown first. */
  sIndex: number;
  /** Recorded per-step cosines of `report` (for the tooltip's series). */
  stepCosines?: StepCosines;
  /** Same for `before`. */
  beforeStepCosines?: StepCosines;
}

export interface ColourMode {
  /** "s0", "s1", ... for the scores at settings.S[i]; "cos" for the mean cosine. */
  id: string;
  label: string;
}

/** Facts about a scored layer, as the tooltip shows them. */
export interface LayerFacts {
  name: string;
  /** 'before' when the numbers are the original model's (a per-task copy's origin). */
  source: 'report' | 'before';
  op: string;
  params: number;
  /** [S, score, rank] per threshold. */
  scores: [number, number, number][];
  layerCount: number;
  /** [pair key, mean cosine, observations] per task pair. */
  pairs: [string, number, number][];
  meanCosine: number;
  series: { kind: 'step-cosine' | 'epoch-conflict-rate'; values: number[] };
}

export interface PaintedNode {
  /** One fill per colour mode, in `modes` order. */
  fills: string[];
  /** Text colour readable on each fill. */
  inks: string[];
  selected: boolean;
  facts?: LayerFacts;
}

export interface GraphPaint {
  modes: ColourMode[];
  /** The S of each score mode (report.settings.S). */
  thresholds: number[];
  /** Mode shown first. */
  initialMode: number;
  nodes: Map<string, PaintedNode>;
  /** Smallest and largest score per S and largest |mean cosine| of the colouring report: the scales' ends. */
  minScore: number[];
  maxScore: number[];
  maxAbsMean: number;
}

/** Points of the tooltip's series at most. */
export const MAX_SERIES_POINTS = 120;

/**
 * Score mode: the score's place between the smallest and the largest score at that S on the
 * conflict ramp (smallest → lightest; the legend gives both ends); cosine mode:
 * mean / (largest |mean|) on the diverging ramp (negative → red). A report with no conflicts maps
 * every layer to 0.
 */
export function paintGraph(nodes: readonly GraphViewNode[], options: GraphPaintOptions): GraphPaint {
  const { report } = options;
  const modes: ColourMode[] = [
    ...report.settings.S.map((s, i) => ({ id: `s${i}`, label: `score at S = ${formatThreshold(s)}` })),
    { id: 'cos', label: 'mean cosine' },
  ];
  const scales = new Map<ConflictReport, { minScore: number[]; maxScore: number[]; maxAbsMean: number; byName: Map<string, number> }>();
  const scaleOf = (r: ConflictReport): { minScore: number[]; maxScore: number[]; maxAbsMean: number; byName: Map<string, number> } => {
    let s = scales.get(r);
    if (!s) {
      s = {
        minScore: r.settings.S.map((_, i) => (r.layers.length > 0 ? Math.min(...r.layers.map((l) => l.scores[i]!.score)) : 0)),
        maxScore: r.settings.S.map((_, i) => Math.max(0, ...r.layers.map((l) => l.scores[i]!.score))),
        maxAbsMean: Math.max(0, ...r.layers.map((l) => Math.abs(pooledMean(l)))),
        byName: new Map(r.layers.map((l, i) => [l.name, i])),
      };
      scales.set(r, s);
    }
    return s;
  };
  const painted = new Map<string, PaintedNode>();
  for (const node of nodes) {
    const found = scoredLayer(node, options, scaleOf);
    let fills: string[];
    let selected = false;
    let facts: LayerFacts | undefined;
    if (found) {
      const { layer, index, source } = found;
      const scale = scaleOf(source === 'report' ? report : options.before!);
      const scoreFills = report.settings.S.map((s) => {
        // Modes follow the colouring report's S; a `before` report may list them in another order.
        const at = (source === 'report' ? report : options.before!).settings.S.indexOf(s);
        if (at < 0) return UNSCORED_LAYER_FILL;
        const min = scale.minScore[at]!;
        const max = scale.maxScore[at]!;
        return conflictColor(max > min ? (layer.scores[at]!.score - min) / (max - min) : 0);
      });
      const mean = pooledMean(layer);
      fills = [...scoreFills, divergingColor(scale.maxAbsMean > 0 ? mean / scale.maxAbsMean : 0)];
      const origin = source === 'report' ? report : options.before!;
      const cosines = source === 'report' ? options.stepCosines : options.beforeStepCosines;
      facts = layerFacts(origin, layer, index, cosines);
      facts.source = source;
      selected = options.selected.has(layer.name);
    } else {
      const fill = node.kind === 'layer' ? UNSCORED_LAYER_FILL : node.kind === 'op' ? OP_FILL : IO_FILL;
      fills = modes.map(() => fill);
      if (node.layer !== undefined)
        selected = options.selected.has(node.layer) || (node.copyFor !== undefined && options.selected.has(copyOrigin(node.layer, node.copyFor) ?? ''));
    }
    painted.set(node.id, { fills, inks: fills.map(textColorOn), selected, ...(facts ? { facts } : {}) });
  }
  const own = scaleOf(report);
  return {
    modes,
    thresholds: [...report.settings.S],
    initialMode: options.sIndex,
    nodes: painted,
    minScore: own.minScore,
    maxScore: own.maxScore,
    maxAbsMean: own.maxAbsMean,
  };
}

/** The report entry that colours `node`: its own layer, else (a per-task copy) its origin's. */
function scoredLayer(
  node: GraphViewNode,
  options: GraphPaintOptions,
  scaleOf: (r: ConflictReport) => { byName: Map<string, number> },
): { layer: LayerConflict; index: number; source: 'report' | 'before' } | undefined {
  if (node.layer === undefined) return undefined;
  const own = scaleOf(options.report).byName.get(node.layer);
  if (own !== undefined) return { layer: options.report.layers[own]!, index: own, source: 'report' };
  if (node.copyFor === undefined) return undefined;
  const origin = copyOrigin(node.layer, node.copyFor);
  if (origin === undefined) return undefined;
  if (options.before) {
    const i = scaleOf(options.before).byName.get(origin);
    if (i !== undefined) return { layer: options.before.layers[i]!, index: i, source: 'before' };
  }
  const i = scaleOf(options.report).byName.get(origin);
  return i === undefined ? undefined : { layer: options.report.layers[i]!, index: i, source: 'report' };
}

export function pooledMean(layer: LayerConflict): number {
  const stats = mergeCosineStats(Object.values(layer.pairs));
  return stats.count > 0 ? stats.mean : 0;
}

function layerFacts(report: ConflictReport, layer: LayerConflict, index: number, cosines: StepCosines | undefined): LayerFacts {
  return {
    name: layer.name,
    source: 'report',
    op: layer.op,
    params: layer.params,
    scores: layer.scores.map((s) => [s.S, s.score, s.rank]),
    layerCount: report.layers.length,
    pairs: report.pairs.map((key) => {
      const stats = layer.pairs[key]!;
      return [key, round(stats.mean), stats.count];
    }),
    meanCosine: round(pooledMean(layer)),
    series: cosines
      ? { kind: 'step-cosine', values: stepSeries(cosines, index).map(round) }
      : { kind: 'epoch-conflict-rate', values: layer.conflictRatePerEpoch.map(round) },
  };
}

/**
 * One layer's cosine, averaged over task pairs, per step; long scans are cut into at most
 * MAX_SERIES_POINTS buckets of consecutive steps and each bucket's mean is kept.
 */
export function stepSeries(cosines: StepCosines, layer: number): number[] {
  const { steps, layers, pairs, data } = cosines;
  if (steps === 0 || pairs === 0) return [];
  const buckets = Math.min(steps, MAX_SERIES_POINTS);
  const out: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * steps) / buckets);
    const to = Math.floor(((b + 1) * steps) / buckets);
    let sum = 0;
    for (let s = from; s < to; s++) for (let p = 0; p < pairs; p++) sum += data[(s * layers + layer) * pairs + p]!;
    out.push(sum / ((to - from) * pairs));
  }
  return out;
}

function round(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}
