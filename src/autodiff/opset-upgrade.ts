import type { onnx } from 'onnx-proto';
import { Graph } from '../onnx/graph.js';
import type { Model } from '../onnx/model.js';
import { Node } from '../onnx/node.js';
import { Tensor } from '../onnx/tensor.js';
import { ReconError } from '../util/errors.js';
import { tensorTypeOf } from '../onnx/value-info.js';
import { makeAttribute } from '../onnx/attributes.js';

/**
 * Raises a model's default-domain opset in place (e.g. 11–15 → 16, which the MaxPool gradient's
 * ScatterElements needs), rewriting the forward nodes whose schema changed on the way so the
 * model computes exactly what it did:
 * - 12: Dropout's `ratio` attribute becomes an input;
 * - 13: ReduceSum's `axes`, Squeeze/Unsqueeze's `axes` and Split's `split` attributes become
 *   int64 inputs; Softmax/LogSoftmax/Hardmax stop coercing the input to 2-D around `axis`
 *   (rewritten as Flatten → op over the last axis → Reshape to the input's shape, or just
 *   axis = −1 when `axis` is already the last axis);
 * - 14: BatchNormalization with the training outputs (mean, var, saved_mean, saved_var) becomes
 *   training_mode=1 with three outputs; a model that reads saved_mean/saved_var is refused;
 * - 16: RoiAlign's default coordinate_transformation_mode changed, so the old one is made explicit.
 * Other changes between opsets 11 and 17 only widen types or add optional attributes and inputs.
 * The other Reduce* ops keep `axes` as an attribute until opset 18, so targets stop at 17.
 * Subgraphs (If/Loop/Scan bodies) are upgraded too. Returns the model.
 */
export function upgradeOpset(model: Model, target: number): Model {
  const source = model.opset('');
  if (source >= target) return model;
  if (source < 11) {
    throw new ReconError(
      `cannot upgrade a model from opset ${source}: only opsets 11 and later are supported (convert it to opset 11+ first, e.g. with onnx.version_converter)`,
    );
  }
  if (target > 17) throw new ReconError(`cannot upgrade to opset ${target}: the upgrade stops at opset 17 (Reduce* axes become inputs at 18)`);
  const taken = new Set<string>();
  collectNames(model.graph.toProto(), taken);
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    return name;
  };
  upgradeGraph(model.graph, { source, target, fresh });
  model.setOpset(target);
  // IR version 8 is the one that goes with opsets 15–18.
  if (model.irVersion < 8) model.irVersion = 8;
  return model;
}

interface UpgradeContext {
  source: number;
  target: number;
  fresh: (base: string) => string;
}

/** Whether the default-domain schema of an op changed at `version` within this upgrade. */
function crosses(u: UpgradeContext, version: number): boolean {
  return u.source < version && u.target >= version;
}

const CHANGED_OPS = new Set(['Dropout', 'ReduceSum', 'Squeeze', 'Unsqueeze', 'Split', 'Softmax', 'LogSoftmax', 'Hardmax', 'BatchNormalization', 'RoiAlign']);

function isDefaultDomain(domain: string | null | undefined): boolean {
  return !domain || domain === 'ai.onnx';
}

function collectNames(g: onnx.IGraphProto, out: Set<string>): void {
  for (const vi of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) if (vi.name) out.add(vi.name);
  for (const t of g.initializer ?? []) if (t.name) out.add(t.name);
  for (const n of g.node ?? []) {
    if (n.name) out.add(n.name);
    for (const v of [...(n.input ?? []), ...(n.output ?? [])]) if (v) out.add(v);
    for (const a of n.attribute ?? []) for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) collectNames(sg, out);
  }
}

/** Whether a subgraph (or one nested in it) holds a node this upgrade rewrites. */
function needsUpgrade(g: onnx.IGraphProto): boolean {
  return (g.node ?? []).some(
    (n) =>
      (isDefaultDomain(n.domain) && CHANGED_OPS.has(n.opType ?? '')) ||
      (n.attribute ?? []).some((a) => [a.g, ...(a.graphs ?? [])].some((sg) => sg && needsUpgrade(sg))),
  );
}

function upgradeGraph(g: Graph, u: UpgradeContext): void {
  for (const node of g.nodes) {
    for (const a of node.attributeProtos) {
      if (a.g && needsUpgrade(a.g)) a.g = upgradeSubgraph(a.g, u);
      if (a.graphs) a.graphs = a.graphs.map((sg) => (needsUpgrade(sg) ? upgradeSubgraph(sg, u) : sg));
    }
  }
  const read = new Set<string>(g.outputNames);
  for (const n of g.nodes) for (const i of n.inputs) if (i) read.add(i);
  for (const n of g.nodes) for (const a of n.attributeProtos) for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) collectNames(sg, read);
  const nodes: Node[] = [];
  for (const node of g.nodes) nodes.push(...(isDefaultDomain(node.domain) ? upgradeNode(g, node, u, read) : [node]));
  g.nodes = nodes;
}

function upgradeSubgraph(p: onnx.IGraphProto, u: UpgradeContext): onnx.IGraphProto {
  const g = Graph.fromProto(p);
  upgradeGraph(g, u);
  return g.toProto();
}

/** An int64 1-D initializer under a fresh name. */
function int64Initializer(g: Graph, u: UpgradeContext, base: string, values: readonly number[]): string {
  const name = u.fresh(base);
  g.initializers.set(
    name,
    Tensor.fromArray(
      name,
      'int64',
      [values.length],
      BigInt64Array.from(values, (v) => BigInt(v)),
    ),
  );
  return name;
}

/** Moves an ints attribute to input position `index` (after the existing inputs). */
function attributeToInput(g: Graph, node: Node, u: UpgradeContext, attr: string, index: number): void {
  const values = node.attrs.ints(attr);
  if (values === undefined) return;
  node.removeAttr(attr);
  const inputs = node.inputs.slice();
  while (inputs.length < index) inputs.push('');
  inputs[index] = int64Initializer(g, u, `${node.name || node.opType}_${attr}`, values);
  node.inputs = inputs;
}

/** Static rank of a value when the graph declares it (inputs, outputs, value_info, initializers). */
function declaredRank(g: Graph, value: string): number | undefined {
  const t = g.initializers.get(value);
  if (t) return t.dims.length;
  for (const vi of [...g.inputs, ...g.valueInfo, ...g.outputs]) {
    if (vi.name !== value) continue;
    const dims = tensorTypeOf(vi)?.dims;
    if (dims) return dims.length;
  }
  return undefined;
}

function upgradeNode(g: Graph, node: Node, u: UpgradeContext, read: ReadonlySet<string>): Node[] {
  switch (node.opType) {
    case 'Dropout':
      if (crosses(u, 12) && node.attrs.has('ratio')) {
        const ratio = node.attrs.float('ratio', 0.5);
        node.removeAttr('ratio');
        const name = u.fresh(`${node.name || 'Dropout'}_ratio`);
        g.initializers.set(name, Tensor.fromArray(name, 'float32', [], Float32Array.of(ratio)));
        node.inputs = [node.inputs[0]!, name];
      }
      return [node];
    case 'ReduceSum':
      if (crosses(u, 13)) attributeToInput(g, node, u, 'axes', 1);
      return [node];
    case 'Squeeze':
    case 'Unsqueeze':
      if (crosses(u, 13)) attributeToInput(g, node, u, 'axes', 1);
      return [node];
    case 'Split':
      if (crosses(u, 13)) attributeToInput(g, node, u, 'split', 1);
      return [node];
    case 'Softmax':
    case 'LogSoftmax':
    case 'Hardmax':
      return crosses(u, 13) ? upgradeSoftmax(g, node, u) : [node];
    case 'BatchNormalization':
      if (crosses(u, 14)) upgradeBatchNorm(node, read);
      return [node];
    case 'RoiAlign':
      if (crosses(u, 16) && !node.attrs.has('coordinate_transformation_mode')) {
        node.setAttr('coordinate_transformation_mode', { kind: 'string', value: 'output_half_pixel' });
      }
      return [node];
    default:
      return [node];
  }
}

/**
 * Before opset 13 these ops flatten the input to [∏ dims[:axis], ∏ dims[axis:]] and normalise
 * each row; from 13 they normalise along one axis. Equal when `axis` is the last axis; otherwise
 * the coercion is spelled out with Flatten and a Reshape back to Shape(X).
 */
function upgradeSoftmax(g: Graph, node: Node, u: UpgradeContext): Node[] {
  const x = node.inputs[0]!;
  const axis = node.attrs.int('axis', 1);
  const rank = declaredRank(g, x);
  if (axis === -1 || (rank !== undefined && (axis + rank) % rank === rank - 1)) {
    node.setAttr('axis', { kind: 'int', value: -1 });
    return [node];
  }
  const base = node.name || node.opType;
  const y = node.outputs[0]!;
  const flat = u.fresh(`${base}_flat`);
  const normalised = u.fresh(`${base}_2d`);
  const shape = u.fresh(`${base}_shape`);
  const flatten = new Node({
    name: u.fresh(`${base}/Flatten`),
    opType: 'Flatten',
    inputs: [x],
    outputs: [flat],
    attributes: [makeAttribute('axis', { kind: 'int', value: axis })],
  });
  node.inputs = [flat];
  node.outputs = [normalised];
  node.setAttr('axis', { kind: 'int', value: 1 });
  const shapeOf = new Node({ name: u.fresh(`${base}/Shape`), opType: 'Shape', inputs: [x], outputs: [shape] });
  const reshape = new Node({ name: u.fresh(`${base}/Reshape`), opType: 'Reshape', inputs: [normalised, shape], outputs: [y] });
  return [flatten, node, shapeOf, reshape];
}

/**
 * BatchNormalization-9 computes batch statistics when it has the extra outputs; BN-14 says so
 * with training_mode=1 and has only (Y, running_mean, running_var), with the same running-stat
 * update. saved_mean/saved_var have no BN-14 counterpart.
 */
function upgradeBatchNorm(node: Node, read: ReadonlySet<string>): void {
  if (node.outputs.slice(1).every((o) => !o)) {
    node.outputs = node.outputs.slice(0, 1);
    return;
  }
  const saved = node.outputs.slice(3).filter((o) => o && read.has(o));
  if (saved.length > 0) {
    throw new ReconError(
      `${node.label}: BatchNormalization outputs ${saved.join(', ')} (saved mean/variance) are read by the model; they do not exist from opset 14 on, so the model cannot be upgraded`,
    );
  }
  node.outputs = node.outputs.slice(0, 3);
  while (node.outputs.length > 1 && !node.outputs[node.outputs.length - 1]) node.outputs.pop();
  node.setAttr('training_mode', { kind: 'int', value: 1 });
}
