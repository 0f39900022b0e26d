import type { Model } from '../onnx/model.js';
import type { Node } from '../onnx/node.js';
import { ReconError, InternalError } from '../util/errors.js';
import { isFloatDType, type DType } from '../onnx/dtype.js';
import type { ShapeInfo } from '../analysis/shapes.js';
import { Emitter } from './emitter.js';
import type { GradientRegistry } from './registry.js';
import type { GradientContext, GradientRule } from './types.js';
import { loweringFor, type Lowering } from './lowering.js';

export interface GradientSpec {
  /** Scalar values of the graph to differentiate, one per task. */
  losses: readonly { task: string; value: string }[];
  /** Values to differentiate with respect to (initializers or graph inputs). */
  wrt: readonly string[];
  shapes: ShapeInfo;
  batchNorm?: 'train' | 'eval';
  /** Formulations the rules emit (default: the CPU's, `loweringFor('cpu')`). */
  lowering?: Lowering;
}

export interface GradientResult {
  /** task → wrt value → name of its gradient in the graph (absent when the task does not reach it). */
  grads: Map<string, Map<string, string>>;
  /** The emitter used, for follow-up rewrites that share its per-graph state. */
  emitter: Emitter;
}

/**
 * Appends to `model.graph` (in place) one reverse-mode backward pass per loss, from standard ONNX
 * operators. Only nodes on a path from a `wrt` value to the loss are differentiated, and a rule
 * emits only the input gradients that are needed.
 */
export function buildGradients(model: Model, registry: GradientRegistry, spec: GradientSpec): GradientResult {
  const graph = model.graph;
  const opset = model.opset('');
  const forwardNodes = graph.nodes.slice();
  const producers = graph.producers();
  const wrt = new Set(spec.wrt);

  const rules = new Map<Node, GradientRule>();
  const requiresGrad = propagateRequiresGrad(forwardNodes, wrt, registry, opset, spec.shapes, rules);
  checkCoverage(forwardNodes, spec, requiresGrad, producers, registry, opset);

  const emit = new Emitter(graph, opset, spec.lowering ?? loweringFor('cpu'));
  const grads = new Map<string, Map<string, string>>();
  const gradTypes = new Map<string, DType>();
  for (const loss of spec.losses) {
    const onPath = ancestorsOf(loss.value, producers, requiresGrad);
    const contributions = new Map<string, string[]>();
    contributions.set(loss.value, [emit.builder.scalar(`grad/${loss.task}/seed`, 1)]);
    const lossShape = spec.shapes.values.get(loss.value)?.dims ?? [];
    if (lossShape.length > 0) {
      throw new ReconError(`loss "${loss.value}" of task ${loss.task} must be a scalar, has shape [${lossShape.join(',')}]`);
    }
    const gradOf = (value: string): string | undefined => {
      const list = contributions.get(value);
      if (!list || list.length === 0) return undefined;
      if (list.length > 1) {
        const summed = emit.sum(list);
        contributions.set(value, [summed]);
        return summed;
      }
      return list[0];
    };
    for (let k = forwardNodes.length - 1; k >= 0; k--) {
      const node = forwardNodes[k]!;
      if (!onPath.has(node)) continue;
      const outGrads = node.outputs.map((o) => (o ? gradOf(o) : undefined));
      if (outGrads.every((g) => g === undefined)) continue;
      // A gradient has its value's element type (rules ask, to emit constants of that type).
      outGrads.forEach((g, i) => {
        const t = spec.shapes.values.get(node.outputs[i]!)?.dtype;
        if (g && t) gradTypes.set(g, t);
      });
      const rule = rules.get(node)!;
      const differentiable = new Set(rule.differentiableInputs(node, opset));
      const needs = (i: number): boolean => {
        const v = node.inputs[i];
        return !!v && differentiable.has(i) && requiresGrad.has(v);
      };
      emit.prefix = `grad/${loss.task}/${node.name || node.opType}`;
      const ctx: GradientContext = {
        node,
        opset,
        emit,
        batchNorm: spec.batchNorm ?? 'train',
        lowering: emit.lowering,
        shape: (v) => shapeOf(spec.shapes, v, node),
        dtype: (v) => {
          // Guessing float32 would emit constants of the wrong type into float64 graphs.
          const d = spec.shapes.values.get(v)?.dtype ?? gradTypes.get(v);
          if (d === undefined) throw new InternalError(`no element type is known for "${v}" while differentiating ${node.label}`);
          return d;
        },
        constant: (v) => spec.shapes.constants.get(v),
        outputGrad: (i) => outGrads[i],
        needsGrad: needs,
      };
      const inputGrads = rule.backward(ctx);
      for (const [index, g] of Object.entries(inputGrads)) {
        if (g === undefined) continue;
        const i = Number(index);
        if (!needs(i)) continue;
        const v = node.inputs[i]!;
        let list = contributions.get(v);
        if (!list) contributions.set(v, (list = []));
        list.push(g);
      }
    }
    const taskGrads = new Map<string, string>();
    for (const w of wrt) {
      const g = gradOf(w);
      if (g) taskGrads.set(w, g);
    }
    grads.set(loss.task, taskGrads);
  }
  return { grads, emitter: emit };
}

function shapeOf(shapes: ShapeInfo, value: string, node: Node): number[] {
  const s = shapes.values.get(value);
  if (!s) throw new InternalError(`no static shape for "${value}" (node ${node.label})`);
  return s.dims;
}

/** Float values that depend on a `wrt` value through differentiable edges. */
function propagateRequiresGrad(
  nodes: readonly Node[],
  wrt: ReadonlySet<string>,
  registry: GradientRegistry,
  opset: number,
  shapes: ShapeInfo,
  rules: Map<Node, GradientRule>,
): Set<string> {
  const requires = new Set<string>(wrt);
  for (const node of nodes) {
    const rule = registry.get(node.opType, node.domain);
    if (rule) rules.set(node, rule);
    const differentiable = rule ? rule.differentiableInputs(node, opset) : node.inputs.map((_, i) => i);
    if (!differentiable.some((i) => requires.has(node.inputs[i] ?? ''))) continue;
    for (const o of node.outputs) {
      if (o && isFloatDType(shapes.values.get(o)?.dtype ?? 'float32')) requires.add(o);
    }
  }
  return requires;
}

/** Nodes that lie on a path from a grad-requiring value to `value`. */
function ancestorsOf(value: string, producers: Map<string, Node>, requiresGrad: ReadonlySet<string>): Set<Node> {
  const nodes = new Set<Node>();
  const stack = [value];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (seen.has(v) || !requiresGrad.has(v)) continue;
    seen.add(v);
    const p = producers.get(v);
    if (!p || nodes.has(p)) continue;
    nodes.add(p);
    for (const i of p.inputs) if (i) stack.push(i);
  }
  return nodes;
}

/** One error listing every op without a rule on a path from a parameter to a loss. */
function checkCoverage(
  nodes: readonly Node[],
  spec: GradientSpec,
  requiresGrad: ReadonlySet<string>,
  producers: Map<string, Node>,
  registry: GradientRegistry,
  opset: number,
): void {
  const onAnyPath = new Set<Node>();
  for (const loss of spec.losses) for (const n of ancestorsOf(loss.value, producers, requiresGrad)) onAnyPath.add(n);
  const missing = new Map<string, string[]>();
  for (const node of nodes) {
    if (!onAnyPath.has(node)) continue;
    const rule = registry.get(node.opType, node.domain);
    if (rule && (rule.minOpset ?? 0) <= opset) continue;
    const base = node.domain ? `${node.domain}::${node.opType}` : node.opType;
    const key = rule ? `${base} (its backward needs opset ${rule.minOpset}, the model has ${opset})` : base;
    const list = missing.get(key) ?? [];
    list.push(node.label);
    missing.set(key, list);
  }
  if (missing.size > 0) {
    const parts = [...missing].map(([op, names]) => `${op} (${names.slice(0, 3).join(', ')}${names.length > 3 ? `, +${names.length - 3} more` : ''})`);
    throw new ReconError(`no gradient rule for ${missing.size} op type(s) between parameters and losses: ${parts.join('; ')}`);
  }
}
