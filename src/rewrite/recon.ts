import type { Model } from '../onnx/model.js';
import type { Node } from '../onnx/node.js';
import { ReconError } from '../util/errors.js';
import type { TaskSpec } from '../analysis/task-spec.js';
import { analyzeModel, type ModelAnalysis } from '../analysis/analyze.js';
import { inferShapes, type ShapeInfo } from '../analysis/shapes.js';
import { rewrite } from './rewrite.js';
import { nodeMacs } from './cost.js';
import { resolveLayerNames } from './select.js';
import type { RewriteSummary } from './types.js';

import { VERSION } from '../util/version.js';

/** Parameters and multiply-accumulates per sample of a model, before and after a selection. */
export interface ReconCost {
  paramsBefore: number;
  paramsAfter: number;
  paramIncreasePct: number;
  macsBefore: number;
  macsAfter: number;
  macIncreasePct: number;
}

/**
 * Cost of turning any set of shared layers task-specific, without rewriting: a selected layer's
 * parameters are copied once per extra task it reaches, and every node at or after a selected
 * layer runs once per task it reaches (Recon's branched forward). MACs count Conv, ConvTranspose,
 * Gemm and MatMul, the ops that dominate; elementwise ops are left out.
 */
export class CostModel {
  private readonly macs = new Map<Node, number>();
  private readonly baseParams: number;
  private readonly baseMacs: number;

  constructor(
    private readonly model: Model,
    private readonly analysis: ModelAnalysis,
    shapes: ShapeInfo,
  ) {
    const dims = new Map([...shapes.values].map(([k, v]) => [k, v.dims]));
    for (const n of model.graph.nodes) this.macs.set(n, nodeMacs(model.graph, n, dims));
    this.baseMacs = [...this.macs.values()].reduce((a, b) => a + b, 0);
    this.baseParams = [...analysis.paramTasks.keys()].reduce((n, p) => n + model.graph.initializers.get(p)!.numel, 0);
  }

  static async create(model: Model, analysis: ModelAnalysis): Promise<CostModel> {
    return new CostModel(model, analysis, await inferShapes(model, { batchSize: 1 }));
  }

  cost(layerNames: readonly string[]): ReconCost {
    const layers = layerNames.map((name) => {
      const l = this.analysis.layers.find((x) => x.name === name);
      if (!l) throw new ReconError(`unknown layer "${name}"`);
      return l;
    });
    let paramsAfter = this.baseParams;
    for (const l of layers) paramsAfter += (l.tasks.length - 1) * l.numel;
    // Nodes at or downstream of a selected layer run once per task they reach.
    const consumers = this.model.graph.consumers();
    const branched = new Set<Node>();
    const stack: Node[] = layers.flatMap((l) => l.nodes);
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (branched.has(n)) continue;
      branched.add(n);
      for (const o of n.outputs) for (const c of consumers.get(o) ?? []) stack.push(c);
    }
    let macsAfter = 0;
    for (const [n, m] of this.macs) {
      const copies = branched.has(n) ? Math.max(1, this.analysis.reach.nodeTasks.get(n)?.size ?? 1) : 1;
      macsAfter += m * copies;
    }
    const pct = (a: number, b: number): number => (b === 0 ? 0 : ((a - b) / b) * 100);
    return {
      paramsBefore: this.baseParams,
      paramsAfter,
      paramIncreasePct: pct(paramsAfter, this.baseParams),
      macsBefore: this.baseMacs,
      macsAfter,
      macIncreasePct: pct(macsAfter, this.baseMacs),
    };
  }
}

export interface ReconRewriteResult {
  model: Model;
  summary: RewriteSummary;
  cost: ReconCost;
  /** Layers made task-specific. */
  layers: string[];
  /** Requested layers left alone: already task-specific, or already branched by an earlier rewrite. */
  skipped: { name: string; reason: string }[];
}

/**
 * Recon's rewrite by layer names (as `inspect` and scan reports name them; names transfer between
 * exports of one architecture): the selected shared layers become per-task copies.
 */
export async function reconRewrite(
  model: Model,
  tasks: readonly TaskSpec[],
  layerNames: readonly string[],
  options: { provenance?: Record<string, unknown>; analysis?: ModelAnalysis } = {},
): Promise<ReconRewriteResult> {
  if (layerNames.length === 0) throw new ReconError('empty layer selection');
  const analysis = options.analysis ?? analyzeModel(model, [...tasks]);
  const byName = new Map(analysis.layers.map((l) => [l.name, l]));
  const skipped: { name: string; reason: string }[] = [];
  const wanted: string[] = [];
  const unknown: string[] = [];
  for (const name of new Set(layerNames)) {
    const l = byName.get(name);
    const copies = tasks.map((t) => `${name}__${t.name}`).filter((c) => byName.has(c));
    if (l?.shared) wanted.push(name);
    else if (l) skipped.push({ name, reason: `already task-specific (reaches ${l.tasks.length === 0 ? 'no task' : analysis.tasks[l.tasks[0]!]!.name} only)` });
    else if (copies.length > 0) skipped.push({ name, reason: `already branched (${copies.join(', ')})` });
    else unknown.push(name);
  }
  if (unknown.length > 0) resolveLayerNames(unknown, [...byName.keys()]);
  if (wanted.length === 0) {
    throw new ReconError(`nothing to do: ${skipped.map((s) => `${s.name} is ${s.reason}`).join('; ')}`);
  }
  const names = wanted;
  const layers = names.map((n) => byName.get(n)!);
  const unnamed = layers.flatMap((l) => l.nodes).find((n) => !n.name);
  if (unnamed) throw new ReconError(`layer nodes must be named to be rewritten (an unnamed ${unnamed.opType} node)`);
  const costModel = await CostModel.create(model, analysis);
  const taskNames = analysis.tasks.map((t) => t.name);
  const result = rewrite(
    model,
    {
      layers: layers.map((l) => ({ name: l.name, nodes: l.nodes.map((n) => n.name), params: l.params })),
      tasks: tasks.map((t) => ({ name: t.name, output: t.output })),
    },
    {
      toolVersion: VERSION,
      provenance: options.provenance ?? {},
      reach: (g) => {
        const m = new Map<Node, Set<string>>();
        const r = g === model.graph ? analysis.reach : analyzeModel(model, [...tasks]).reach;
        for (const [n, s] of r.nodeTasks) m.set(n, new Set([...s].map((i) => taskNames[i]!)));
        for (const n of g.nodes) if (!m.has(n)) m.set(n, new Set());
        return m;
      },
    },
  );
  return { model: result.model, summary: result.summary, cost: costModel.cost(result.summary.branched.map((b) => b.name)), layers: names, skipped };
}
