import type { Model } from '../onnx/model.js';
import type { Node } from '../onnx/node.js';
import { isFloatDType } from '../onnx/dtype.js';
import { analyzeModel } from '../analysis/analyze.js';
import { carriesGradientIn } from '../analysis/parameters.js';
import type { TaskSpec } from '../analysis/task-spec.js';
import type { RewriteSummary } from './types.js';

/** One check of whether onnxruntime's training stack could take a rewritten model. */
export interface ReadinessCheck {
  name: string;
  /** `unverified`: could not be decided offline (see README: Training elsewhere). */
  status: 'pass' | 'fail' | 'unverified';
  detail: string;
}

export interface TrainingReadiness {
  /** No check failed (unverified ones do not count). */
  ready: boolean;
  checks: ReadinessCheck[];
}

/**
 * Ops on a differentiable path that onnxruntime's training graph builder has a gradient for:
 * the registrations of `orttraining/core/graph/gradient_builder_registry.cc` (the
 * version-ranged registry, which only grows), plus BatchNormalization, which its
 * `BatchNormReplacement` transformer turns into BatchNormInternal (which has one) before the
 * gradient graph is built. An op outside this list may still have a gradient in the
 * onnxruntime-training release you use: such ops are reported as unverified, not as failures.
 */
const ORT_GRADIENT_OPS = new Set([
  'Abs',
  'Add',
  'AveragePool',
  'BatchNormalization',
  'Cast',
  'Clip',
  'Concat',
  'Conv',
  'Div',
  'Dropout',
  'Erf',
  'Exp',
  'Expand',
  'Flatten',
  'Gather',
  'GatherElements',
  'GatherND',
  'Gemm',
  'GlobalAveragePool',
  'Identity',
  'LayerNormalization',
  'Log',
  'LogSoftmax',
  'MatMul',
  'Max',
  'MaxPool',
  'Min',
  'Mul',
  'Neg',
  'Pad',
  'Pow',
  'ReduceL2',
  'ReduceLogSumExp',
  'ReduceMean',
  'ReduceSum',
  'Relu',
  'Reshape',
  'ScatterND',
  'Sigmoid',
  'Sin',
  'Slice',
  'Softmax',
  'Split',
  'Sqrt',
  'Squeeze',
  'Sub',
  'Tanh',
  'Tile',
  'TopK',
  'Transpose',
  'Unsqueeze',
  'Where',
]);

/** Serialized protobuf messages are limited to 2 GiB; larger models need external data. */
const PROTOBUF_LIMIT = 2 ** 31;

function isTrainingBatchNorm(n: Node): boolean {
  return n.attrs.int('training_mode', 0) === 1 || n.outputs.slice(1).some((o) => o !== '');
}

/**
 * Whether a rewritten model is ready to be trained by onnxruntime's training stack
 * (`onnxruntime.training.artifacts.generate_artifacts`), as far as that can be decided without it:
 * - every parameter of the original is still a trainable float initializer (or has become its
 *   per-task copies), none was folded into a constant, and the copies start from the original values;
 * - no parameter is also a graph input (the generator appends every trained initializer to the
 *   graph inputs, so one already there would be declared twice);
 * - every BatchNormalization keeps the form (training or inference) its origin had;
 * - every op on a path from a parameter to a task output has a gradient in onnxruntime training;
 * - the model fits in one protobuf message or keeps its large tensors external.
 */
export function checkTrainingReadiness(
  original: Model,
  rewritten: Model,
  tasks: readonly TaskSpec[],
  summary: Pick<RewriteSummary, 'branched' | 'valueOrigins'>,
): TrainingReadiness {
  const checks: ReadinessCheck[] = [];
  const g = rewritten.graph;
  const before = analyzeModel(original, [...tasks]);
  const after = analyzeModel(rewritten, [...tasks]);
  const trainedBefore = [...before.paramTasks].filter(([, t]) => t.length > 0).map(([p]) => p);
  const trainedAfter = new Set([...after.paramTasks].filter(([, t]) => t.length > 0).map(([p]) => p));

  // Parameters: the original's, with every branched one replaced by its copies (kept as well
  // while something outside the branched layers still reads it: a tied weight).
  const copiesOf = new Map<string, string[]>();
  for (const l of summary.branched) for (const p of l.params) copiesOf.set(p.original, Object.values(p.copies));
  const expected = new Set<string>();
  for (const p of trainedBefore) {
    const copies = copiesOf.get(p);
    if (!copies || g.initializers.has(p)) expected.add(p);
    for (const c of copies ?? []) expected.add(c);
  }
  const lost = [...expected].filter((p) => !trainedAfter.has(p));
  const notFloat = [...trainedAfter].filter((p) => !isFloatDType(g.initializers.get(p)?.dtype));
  const inConstants = g.nodes.filter((n) => n.opType === 'Constant' && n.outputs.some((o) => expected.has(o))).map((n) => n.outputs[0]!);
  checks.push({
    name: 'parameters-are-trainable-initializers',
    status: lost.length + notFloat.length + inConstants.length === 0 ? 'pass' : 'fail',
    detail:
      lost.length + notFloat.length + inConstants.length === 0
        ? `${expected.size} parameters (${trainedBefore.length} before the rewrite) are float initializers with a differentiable path to a task`
        : [
            lost.length > 0 ? `not trainable initializers any more: ${lost.slice(0, 5).join(', ')}` : '',
            notFloat.length > 0 ? `not float: ${notFloat.slice(0, 5).join(', ')}` : '',
            inConstants.length > 0 ? `held by Constant nodes: ${inConstants.slice(0, 5).join(', ')}` : '',
          ]
            .filter((s) => s)
            .join('; '),
  });

  const differing: string[] = [];
  for (const l of summary.branched) {
    for (const p of l.params) {
      const source = original.graph.initializers.get(p.original);
      for (const copy of Object.values(p.copies)) {
        const t = g.initializers.get(copy);
        const same =
          source !== undefined &&
          t !== undefined &&
          t.dtype === source.dtype &&
          t.dims.length === source.dims.length &&
          t.dims.every((d, i) => d === source.dims[i]) &&
          Buffer.from(t.rawBytes()).equals(Buffer.from(source.rawBytes()));
        if (!same) differing.push(copy);
      }
    }
  }
  checks.push({
    name: 'copies-start-from-originals',
    status: differing.length === 0 ? 'pass' : 'fail',
    detail:
      differing.length === 0
        ? 'every per-task copy has its original’s type, shape and values'
        : `differ from their original: ${differing.slice(0, 5).join(', ')}`,
  });

  const inputs = new Set(g.inputNames);
  const asInputs = [...trainedAfter].filter((p) => inputs.has(p));
  checks.push({
    name: 'parameters-not-graph-inputs',
    status: asInputs.length === 0 ? 'pass' : 'fail',
    detail: asInputs.length === 0 ? 'no parameter is also declared as a graph input' : `also graph inputs: ${asInputs.slice(0, 5).join(', ')}`,
  });

  const originalProducer = original.graph.producers();
  const changedForm: string[] = [];
  let batchNorms = 0;
  for (const n of g.nodes) {
    if (n.opType !== 'BatchNormalization') continue;
    batchNorms++;
    const y = n.outputs[0]!;
    const origin = originalProducer.get(summary.valueOrigins[y] ?? y);
    if (origin?.opType !== 'BatchNormalization' || isTrainingBatchNorm(origin) !== isTrainingBatchNorm(n)) changedForm.push(n.label);
  }
  checks.push({
    name: 'batchnorm-form-kept',
    status: changedForm.length === 0 ? 'pass' : 'fail',
    detail:
      changedForm.length === 0
        ? `${batchNorms} BatchNormalization node(s), each in the form its origin had`
        : `changed form or lost their origin: ${changedForm.slice(0, 5).join(', ')}`,
  });

  const onPath = new Set<string>();
  for (const [n, t] of after.reach.nodeTasks)
    if (t.size > 0 && n.inputs.some((v, k) => v !== '' && carriesGradientIn(n, k) && reachedFromParams(after, v))) onPath.add(n.opType);
  const unverified = [...onPath].filter((op) => !ORT_GRADIENT_OPS.has(op)).sort();
  checks.push({
    name: 'gradient-ops',
    status: unverified.length === 0 ? 'pass' : 'unverified',
    detail:
      unverified.length === 0
        ? `every op on a differentiable path (${[...onPath].sort().join(', ')}) has a gradient in onnxruntime training`
        : `no gradient known offline for ${unverified.join(', ')} (check your onnxruntime-training release)`,
  });

  let bytes = 0;
  for (const t of g.initializers.values()) bytes += t.byteLength;
  checks.push({
    name: 'protobuf-size',
    status: bytes < PROTOBUF_LIMIT ? 'pass' : 'unverified',
    detail: bytes < PROTOBUF_LIMIT ? `initializers take ${bytes} bytes, under the 2 GiB protobuf limit` : 'over 2 GiB: save with --external-data-threshold',
  });
  return { ready: checks.every((c) => c.status !== 'fail'), checks };
}

const fromParamsCache = new WeakMap<object, Set<string>>();

/** Values a parameter's gradient flows back from (forward closure through differentiable inputs, cached per analysis). */
function reachedFromParams(analysis: ReturnType<typeof analyzeModel>, value: string): boolean {
  const cached = fromParamsCache.get(analysis);
  if (cached) return cached.has(value);
  {
    const set = new Set<string>([...analysis.paramTasks].filter(([, t]) => t.length > 0).map(([p]) => p));
    const nodes = [...analysis.reach.nodeTasks.keys()];
    let grew = true;
    while (grew) {
      grew = false;
      for (const n of nodes) {
        if (n.outputs.every((o) => !o || set.has(o))) continue;
        if (n.inputs.some((v, k) => v !== '' && carriesGradientIn(n, k) && set.has(v))) {
          for (const o of n.outputs) if (o && !set.has(o)) set.add(o);
          grew = true;
        }
      }
    }
    fromParamsCache.set(analysis, set);
    return set.has(value);
  }
}
