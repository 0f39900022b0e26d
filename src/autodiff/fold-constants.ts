import type { Model } from '../onnx/model.js';
import { Model as ModelClass } from '../onnx/model.js';
import { Graph, topologicalOrder } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';
import { Tensor } from '../onnx/tensor.js';
import { serializeModel } from '../onnx/save.js';
import { ReconError } from '../util/errors.js';
import { RuntimeSession } from '../runtime/session.js';
import type { HostTensor } from '../runtime/ort-tensor.js';

export interface FoldOptions {
  /** Initializers that are trainable parameters: never folded into anything. */
  keep: ReadonlySet<string>;
  /**
   * The batch the graph will run on. With it, Shape and Size of any value are constants too (the
   * shapes are static for this batch), and so is everything computed from them.
   */
  feeds?: Record<string, HostTensor>;
}

/** Ops whose result is not a function of their inputs alone. */
const NOT_FOLDABLE = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Bernoulli', 'Multinomial', 'Dropout']);

/** Folded tensors above this many elements stay computed: folding would only trade compute for memory. */
const MAX_FOLDED_ELEMENTS = 1 << 24;

/**
 * Folds every subgraph whose inputs are all constants — Constant nodes, initializers that are not
 * parameters, and (for a given batch) shapes — into initializers, evaluated by onnxruntime itself
 * so no op needs hand-written constant semantics. PyTorch exports with `do_constant_folding=False`
 * compute Resize scales, reshape targets and masks this way; the gradient rules need them as
 * build-time values. The model is edited in place; returns the number of folded values.
 */
export async function foldConstants(model: Model, options: FoldOptions): Promise<number> {
  const g = model.graph;
  const order = topologicalOrder(g.nodes, g.externallyDefined());
  const constant = new Set<string>([...g.initializers.keys()].filter((k) => !options.keep.has(k)));
  const feedNames = new Set(g.feedInputs.map((i) => i.name ?? ''));
  for (const k of feedNames) constant.delete(k);
  const foldable = new Set<Node>();
  for (const n of order) {
    if ((n.domain !== '' && n.domain !== 'ai.onnx') || NOT_FOLDABLE.has(n.opType) || n.attrs.hasSubgraphs() || n.outputs.length === 0) continue;
    const shapeOnly = options.feeds !== undefined && (n.opType === 'Shape' || n.opType === 'Size');
    if (!shapeOnly && !n.inputs.every((i) => i === '' || constant.has(i))) continue;
    foldable.add(n);
    for (const o of n.outputs) if (o) constant.add(o);
  }
  if (foldable.size === 0) return 0;
  const consumers = g.consumers();
  const graphOutputs = new Set(g.outputNames);
  const targets: string[] = [];
  for (const n of foldable) {
    for (const o of n.outputs) {
      if (!o) continue;
      const users = consumers.get(o) ?? [];
      if (graphOutputs.has(o) || users.some((u) => !foldable.has(u))) targets.push(o);
    }
  }
  if (targets.length === 0) return 0;
  const values = await evaluate(model, targets, options.feeds, foldable);
  const folded = new Set<string>();
  for (const name of targets) {
    const v = values[name];
    if (!v || v.data.length > MAX_FOLDED_ELEMENTS || v.dtype === 'bool') continue;
    g.initializers.set(name, Tensor.fromArray(name, v.dtype as 'float32', v.dims, v.data as Float32Array));
    folded.add(name);
  }
  // A folded node goes when none of its outputs is still needed from it.
  const needed = new Set<string>();
  for (const n of g.nodes) {
    if (foldable.has(n)) continue;
    for (const i of n.inputs) if (i && !folded.has(i)) needed.add(i);
  }
  for (const o of graphOutputs) if (!folded.has(o)) needed.add(o);
  const keepNodes = new Set<Node>();
  for (const n of [...order].reverse()) {
    if (!foldable.has(n)) continue;
    if (n.outputs.some((o) => o && needed.has(o))) {
      keepNodes.add(n);
      for (const i of n.inputs) if (i && !folded.has(i)) needed.add(i);
    }
  }
  g.nodes = g.nodes.filter((n) => !foldable.has(n) || keepNodes.has(n));
  return folded.size;
}

/**
 * Runs the graph for the folded values. Without feeds only the foldable nodes run (they read
 * constants only); with feeds the whole graph runs, since shapes of computed values need it.
 */
async function evaluate(
  model: Model,
  targets: string[],
  feeds: Record<string, HostTensor> | undefined,
  foldable: ReadonlySet<Node>,
): Promise<Record<string, HostTensor>> {
  const g = model.graph;
  const probe = new Graph({
    name: g.name,
    nodes: feeds ? g.nodes : g.nodes.filter((n) => foldable.has(n)),
    inputs: feeds ? g.inputs : g.inputs.filter((i) => g.initializers.has(i.name ?? '')),
    initializers: g.initializers,
    outputs: targets.map((t) => ({ name: t })),
  });
  const m = new ModelClass(probe, { irVersion: model.irVersion, opsetImports: model.opsetImports });
  m.functions = model.functions;
  const given: Record<string, HostTensor> = {};
  for (const input of probe.feedInputs) {
    const name = input.name ?? '';
    const v = feeds?.[name];
    if (v) given[name] = v;
  }
  const session = await RuntimeSession.create(serializeModel(m), { graphOptimizationLevel: 'disabled' });
  try {
    const missing = probe.feedInputs.map((i) => i.name ?? '').filter((n) => !given[n]);
    if (missing.length > 0) throw new ReconError(`constant folding needs values for graph inputs ${missing.join(', ')}`);
    return await session.run(given, targets);
  } finally {
    await session.release();
  }
}
