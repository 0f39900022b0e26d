import { Graph } from '../onnx/graph.js';
import type { Model } from '../onnx/model.js';
import type { Node } from '../onnx/node.js';
import { GraphBuilder } from '../onnx/builder.js';
import { makeValueInfo } from '../onnx/value-info.js';
import { ReconError } from '../util/errors.js';
import type { TaskSpec } from '../analysis/task-spec.js';
import { inferShapes, type ShapeInfo } from '../analysis/shapes.js';
import type { HostTensor } from '../runtime/ort-tensor.js';
import { appendLoss } from './losses.js';
import { buildGradients } from './reverse-mode.js';
import type { GradientRegistry } from './registry.js';
import { decomposeTrainingBatchNorm } from './rules/normalization.js';
import { upgradeOpset } from './opset-upgrade.js';
import { foldConstants } from './fold-constants.js';
import { lowerForCuda } from './lower/cuda.js';
import { lowerConvolution } from './lower/im2col.js';
import type { Lowering } from './lowering.js';
import { lowerRecurrentModel } from './lower/recurrent.js';
import { appendUpdate, type InGraphUpdate, type UpdateGraphIO } from './update-graph.js';

export interface GradientGraphOptions {
  tasks: readonly TaskSpec[];
  /** Parameters whose per-task Gram matrices are computed (shared parameters). */
  gramParams: readonly string[];
  /** Parameters fed as inputs and whose per-task gradients are returned (training). */
  trainableParams?: readonly string[];
  /** Also return raw per-task gradients of `gramParams`. */
  rawGradients?: boolean;
  batchNorm: 'train' | 'eval';
  registry: GradientRegistry;
  /** One batch (inputs and targets) fixing every static shape. */
  feeds: Record<string, HostTensor>;
  /**
   * Rewrite forward Convs as gather + GEMM where that beats onnxruntime's per-image kernel (CPU;
   * always when the weights are fed as inputs, as in training).
   */
  lowerConvolutions?: boolean;
  /** Rewrite forward ops the CUDA provider has no kernel for into ones it has (CUDA graphs only). */
  lowerForCuda?: boolean;
  /** Formulations the gradient rules emit, chosen for the device the graph runs on (default: the CPU's). */
  lowering?: Lowering;
  /**
   * Combine the task gradients of the trainable parameters and apply the optimizer update in the
   * graph: their gradients are then not outputs; their updated values and optimizer state are.
   */
  update?: InGraphUpdate;
  /**
   * Feed the trainable parameters without returning their gradients (the first run of a
   * two-phase step: losses and Grams only). Default true unless `update` is given.
   */
  exportTrainableGradients?: boolean;
}

export interface GradientGraph {
  model: Model;
  /** Output with the per-task losses, shape [T]. */
  lossesOutput: string;
  /** Output with the per-parameter Gram matrices, shape [P, T, T], P in `gramParams` order. */
  gramsOutput: string | undefined;
  /** task → parameter → output holding that task's gradient (raw or trainable gradients). */
  gradientOutputs: Map<string, Map<string, string>>;
  /** Batch-norm statistics outputs for running-stat updates: BN node → {mean, varUnbiased, runningMean, runningVar}. */
  batchStats: { mean: string; unbiasedVar: string; runningMean: string; runningVar: string }[];
  /** Inputs and outputs of the in-graph update (with `update`). */
  update: UpdateGraphIO | undefined;
  shapes: ShapeInfo;
}

/** Lowest opset whose ops every emitted backward can use (ScatterElements with reduction). */
const BACKWARD_OPSET = 16;

/**
 * Builds the one graph a training or scan step runs: the forward pass once, each task's loss,
 * one backward pass per task, and per parameter the T×T Gram matrix of the task gradients.
 */
export async function buildGradientGraph(source: Model, options: GradientGraphOptions): Promise<GradientGraph> {
  const model = cloneModel(source);
  if (model.opset('') < BACKWARD_OPSET) upgradeOpset(model, BACKWARD_OPSET);
  const opset = model.opset('');
  const g = model.graph;
  g.toposort();
  // Constant subgraphs (Resize scales built by Concat of Constants, shapes of this batch, masks)
  // become initializers, so rules can read them as build-time values. Parameters stay as they are.
  await foldConstants(model, { keep: new Set([...options.gramParams, ...(options.trainableParams ?? [])]), feeds: options.feeds });
  if (options.lowerForCuda) await lowerForCuda(model, options.feeds);
  // RNN/GRU/LSTM have no gradient rules: unrolled over the static sequence length into standard ops.
  await lowerRecurrentModel(model, options.feeds);

  const batchStats: GradientGraph['batchStats'] = [];
  for (const node of g.nodes.slice()) {
    if (node.opType === 'Dropout') {
      node.opType = 'Identity';
      node.attributeProtos = [];
      node.inputs = node.inputs.slice(0, 1);
      node.outputs = node.outputs.slice(0, 1);
    } else if (node.opType === 'BatchNormalization') {
      if (options.batchNorm === 'train') {
        const stats = decomposeTrainingBatchNorm(g, node, opset, { primitive: options.lowerForCuda === true });
        batchStats.push({ mean: stats.mean, unbiasedVar: stats.unbiasedVar, runningMean: node.inputs[3]!, runningVar: node.inputs[4]! });
      } else {
        node.removeAttr('training_mode');
        node.outputs = node.outputs.slice(0, 1);
      }
    }
  }
  g.toposort();

  const trainable = new Set(options.trainableParams ?? []);
  for (const p of trainable) {
    const t = g.initializers.get(p);
    if (!t) throw new ReconError(`parameter "${p}" is not an initializer of the model`);
    g.initializers.delete(p);
    g.inputs.push(makeValueInfo(p, t.dtype, t.dims.slice()));
  }

  const b = new GraphBuilder(g);
  // Only the predictions' shapes are needed to build the losses; the full probe runs once, below.
  const feedShapes = await inferShapes(model, { feeds: withParams(options.feeds, source, trainable), only: options.tasks.map((t) => t.output) });
  const losses: { task: string; value: string }[] = [];
  for (const task of options.tasks) {
    const prediction = feedShapes.values.get(task.output);
    if (!prediction) throw new ReconError(`task "${task.name}": output "${task.output}" is not computed by the model`);
    if (task.loss !== 'none') {
      const target = options.feeds[task.target];
      if (!target) throw new ReconError(`task "${task.name}": the data has no target array "${task.target}"`);
      b.input(task.target, target.dtype, target.dims);
    }
    const targetDims = options.feeds[task.target]?.dims ?? [];
    losses.push({ task: task.name, value: appendLoss(b, task, task.output, task.target, { prediction: prediction.dims, target: targetDims }, opset) });
  }
  const shapes = await inferShapes(model, { feeds: withParams(options.feeds, source, trainable) });
  const exportTrainable = options.update === undefined && (options.exportTrainableGradients ?? true);
  // Trainable gradients are needed when returned or updated in the graph; a two-phase first run
  // needs only the Gram parameters' (the heads' backward is skipped).
  const wrt = [...new Set([...options.gramParams, ...(exportTrainable || options.update ? trainable : [])])];
  if (options.update)
    for (const p of options.update.rowOf.keys()) if (!trainable.has(p)) throw new ReconError(`in-graph update of "${p}", which is not trainable`);
  const { grads, emitter } = buildGradients(model, options.registry, {
    losses,
    wrt,
    shapes,
    batchNorm: options.batchNorm,
    ...(options.lowering ? { lowering: options.lowering } : {}),
  });
  if (options.lowerConvolutions) {
    for (const node of g.nodes.slice()) if (node.opType === 'Conv') lowerConvolution(emitter, node, (v) => shapes.values.get(v)?.dims);
  }

  g.outputs = [];
  const lossesOutput = 'recon/losses';
  b.op1(
    'Concat',
    losses.map((l) => b.op1('Reshape', [l.value, b.int64s('recon/shape', [1])])),
    { axis: 0 },
    { outputs: [lossesOutput] },
  );
  g.outputs.push(makeValueInfo(lossesOutput, 'float32', [losses.length]));

  let gramsOutput: string | undefined;
  if (options.gramParams.length > 0) {
    const grams: string[] = [];
    for (const p of options.gramParams) {
      const numel = shapes.values.get(p)!.dims.reduce((a, v) => a * v, 1);
      const rows = options.tasks.map((t) => {
        const gp = grads.get(t.name)?.get(p);
        return gp ? b.op1('Reshape', [gp, b.int64s('recon/row', [1, numel])]) : b.op1('ConstantOfShape', [b.int64s('recon/row', [1, numel])]);
      });
      const stacked = rows.length === 1 ? rows[0]! : b.op1('Concat', rows, { axis: 0 }, { name: `recon/gram/${p}` });
      const gram = b.op1('Gemm', [stacked, stacked], { transB: 1 }, { name: `recon/gram/${p}` });
      grams.push(b.op1('Unsqueeze', [gram, b.int64s('recon/axis', [0])]));
    }
    gramsOutput = 'recon/grams';
    b.op1('Concat', grams, { axis: 0 }, { outputs: [gramsOutput] });
    g.outputs.push(makeValueInfo(gramsOutput, 'float32', [options.gramParams.length, options.tasks.length, options.tasks.length]));
  }

  const gradientOutputs = new Map<string, Map<string, string>>();
  let update: UpdateGraphIO | undefined;
  if (options.update) {
    const taskNames = options.tasks.map((t) => t.name);
    update = appendUpdate(b, g, taskNames, grads, (v) => shapes.values.get(v)!.dims, options.update);
  }
  const exported = new Set<string>([...(exportTrainable ? trainable : []), ...(options.rawGradients ? options.gramParams : [])]);
  for (const t of options.tasks) {
    const m = new Map<string, string>();
    for (const p of exported) {
      const gp = grads.get(t.name)?.get(p);
      if (!gp) continue;
      const out = b.op1('Identity', [gp], {}, { outputs: [b.name(`recon/grad/${t.name}/${p}`)] });
      g.outputs.push(makeValueInfo(out, 'float32', shapes.values.get(p)!.dims));
      m.set(p, out);
    }
    gradientOutputs.set(t.name, m);
  }
  for (const s of batchStats) {
    for (const v of [s.mean, s.unbiasedVar]) if (!g.outputs.some((o) => o.name === v)) g.outputs.push({ name: v });
  }
  g.cleanup();
  g.toposort();
  return { model, lossesOutput, gramsOutput, gradientOutputs, batchStats, update, shapes };
}

function withParams(feeds: Record<string, HostTensor>, source: Model, trainable: ReadonlySet<string>): Record<string, HostTensor> {
  if (trainable.size === 0) return feeds;
  const out = { ...feeds };
  for (const p of trainable) {
    if (out[p]) continue;
    const t = source.graph.initializers.get(p)!;
    out[p] = { dtype: 'float32', dims: t.dims.slice(), data: t.data('float32') };
  }
  return out;
}

/** A structural copy; tensors are shared (they are never mutated in place). */
export function cloneModel(m: Model): Model {
  const g = m.graph;
  const graph = new Graph({
    name: g.name,
    nodes: g.nodes.map((n: Node) => n.clone()),
    inputs: g.inputs.slice(),
    outputs: g.outputs.slice(),
    valueInfo: g.valueInfo.slice(),
    initializers: new Map(g.initializers),
  });
  graph.docString = g.docString;
  graph.sparseInitializers = g.sparseInitializers.slice();
  graph.quantizationAnnotation = g.quantizationAnnotation.slice();
  return m.withGraph(graph);
}
