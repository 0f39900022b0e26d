import type { Model } from '../onnx/model.js';
import { ReconError } from '../util/errors.js';
import { assembleGraph } from './assemble.js';
import { branchNodes } from './branch.js';
import { collisionFreeNamer } from './names.js';
import { planBranches, validateTasks } from './plan.js';
import { recordProvenance } from './provenance.js';
import { computeTaskReach, sinkReach } from '../analysis/reach.js';
import type { RewriteOptions, RewriteResult, RewriteSelection, RewriteSummary } from './types.js';

/**
 * Makes the selected shared layers task-specific (Recon's branched forward) and returns a new
 * model; the input model is not modified.
 *
 * Each selected layer that reaches two or more tasks gets one copy per task, each with its own
 * copies of the layer's parameters (and BN running statistics) starting from the original
 * values, so outputs do not change. Shared nodes downstream become per task, still reading the
 * shared weights. Layers reaching at most one task are reported as skipped.
 *
 * Naming: a copy of node, value or initializer `x` for task `t` is `x__t`; when that name is
 * taken (anywhere in the graph or its subgraphs), `_1`, `_2`, ... is appended (`x__t_1`). Names are allocated in a fixed order (layers
 * and parameters as selected, then nodes in topological order, tasks in task order), so the same
 * input always gives the same output. Graph output names never change: task t's own branch
 * produces its output under the original name.
 */
export function rewrite(model: Model, selection: RewriteSelection, options: RewriteOptions = {}): RewriteResult {
  const graph = model.graph;
  validateTasks(graph, selection.tasks);
  const reach = (options.reach ?? computeTaskReach)(graph, selection.tasks);
  const plan = planBranches(graph, selection, reach);
  if (plan.branched.length === 0) {
    const names = plan.skipped.map((s) => s.name).join(', ');
    throw new ReconError(`nothing to do: every selected layer is already task-specific or reaches no task (${names})`);
  }
  const taskOutputs = new Set(selection.tasks.map((t) => t.output));
  const otherOutputs = graph.outputNames.filter((o) => !taskOutputs.has(o));
  const otherReach = sinkReach(
    graph,
    otherOutputs.map((o) => [o, o] as const),
  ).nodes;
  const feedsOtherOutput = new Set([...otherReach].filter(([, s]) => s.size > 0).map(([n]) => n));

  const branched = branchNodes({ graph, tasks: selection.tasks, plan, reach, feedsOtherOutput, fresh: collisionFreeNamer(graph) });
  const out = model.withGraph(assembleGraph(graph, branched));

  const summary: RewriteSummary = {
    tasks: selection.tasks.map((t) => t.name),
    branched: plan.branched.map((l) => ({
      name: l.layer.name,
      nodes: l.nodes.map((n) => n.name),
      tasks: l.tasks,
      params: [...branched.paramCopies.get(l)!].map(([original, copies]) => ({ original, copies: Object.fromEntries(copies) })),
    })),
    skipped: plan.skipped,
    nodesBefore: graph.nodes.length,
    nodesAfter: out.graph.nodes.length,
    droppedNodes: branched.droppedNodes,
    initializersBefore: graph.initializers.size,
    initializersAfter: out.graph.initializers.size,
    valueOrigins: Object.fromEntries(branched.valueOrigins),
  };
  recordProvenance(out, {
    ...options.provenance,
    tool: 'recon-onnx',
    toolVersion: options.toolVersion ?? null,
    tasks: selection.tasks.map((t) => ({ name: t.name, output: t.output })),
    branched: summary.branched.map((l) => ({ name: l.name, tasks: l.tasks, params: l.params.map((p) => p.original) })),
    skipped: summary.skipped.map((s) => ({ name: s.name, reason: s.reason })),
  });
  return { model: out, summary };
}

/** Shapes of a rewritten model's values from the original's: per-task versions share their origin's shape. */
export function carryShapes<S>(shapes: ReadonlyMap<string, S>, summary: Pick<RewriteSummary, 'valueOrigins' | 'branched'>): Map<string, S> {
  const out = new Map(shapes);
  for (const [name, origin] of Object.entries(summary.valueOrigins)) {
    const s = shapes.get(origin);
    if (s !== undefined) out.set(name, s);
  }
  for (const layer of summary.branched) {
    for (const p of layer.params) {
      const s = shapes.get(p.original);
      if (s !== undefined) for (const copy of Object.values(p.copies)) out.set(copy, s);
    }
  }
  return out;
}
