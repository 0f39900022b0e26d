import type { Graph } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';
import { subgraphOuterReads, topologicalOrder } from '../onnx/graph.js';
import type { Reachability } from './reach.js';
import { carriesGradientIn, classifyParameters, dataDependentValues, isExporterName, type FrozenInitializer } from './parameters.js';

/** One parameter-owning unit, as Recon defines a layer (a module's parameters together). */
export interface Layer {
  name: string;
  /** The op that applies the parameters to the data (Conv, Gemm, MatMul, BatchNormalization, ...). */
  op: string;
  /**
   * The nodes that apply the parameters to the data, plus the nodes that prepare the parameters
   * (Transpose, Unsqueeze, Slice, Concat, ... on parameters only), in graph order.
   */
  nodes: Node[];
  /** Parameter initializer names, in the order they are first used. */
  params: string[];
  numel: number;
  /** Task indices the layer reaches. */
  tasks: number[];
  shared: boolean;
}

export interface LayerDiscovery {
  layers: Layer[];
  /** Float initializers that reach a task but are not trained (running statistics, scales, exporter constants). */
  frozen: FrozenInitializer[];
}

/** Ops that apply parameters elementwise; their layers are grouped by module, not per node. */
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Where']);
/** Ops that hand a part of a parameter on: users of different parts belong to one layer. */
const PARTIAL_VIEWS = new Set(['Slice', 'Split', 'Gather', 'GatherElements', 'GatherND']);

/** The parameters one node applies to the data, with the nodes preparing them. */
interface Group {
  users: Node[];
  chain: Set<Node>;
  params: Set<string>;
  /** Parameters reaching the users through a partial view (a slice, a gather). */
  partial: Set<string>;
}

/**
 * Finds the model's layers. Every trainable parameter (see `classifyParameters`) is followed
 * forward through the nodes that compute on parameters and constants only (its preparation:
 * Identity, Transpose, Unsqueeze, Expand, Slice, Concat, Gather with constant indices, ...) to the
 * nodes that first combine it with data: its users. Each user and the parameters it applies is a
 * group; groups merge into one layer when they
 * - apply the same parameters (a shared layer downstream of a Recon branch runs once per task),
 * - share a preparing node, or read parts of one parameter (MultiheadAttention's q, k and v slices),
 * - are a MatMul and the bias Add right after it (Linear exported as MatMul + Add),
 * - or carry the same module name (a decomposed LayerNorm's Mul and Add; a stacked LSTM's nodes).
 * A parameter read whole by two unrelated nodes (an exporter merging equal tensors) stays in both
 * layers and is listed by `sharedInitializers`.
 */
export function findLayers(graph: Graph, reach: Reachability, taskOutputs: readonly string[]): LayerDiscovery {
  const order = topologicalOrder(graph.nodes, graph.externallyDefined());
  const position = new Map(order.map((n, i) => [n, i]));
  const at = (n: Node): number => position.get(n)!;
  const byPosition = (a: Node, b: Node): number => at(a) - at(b);
  const { trainable, frozen } = classifyParameters(graph, taskOutputs, reach.valueTasks);
  const params = new Set([...trainable, ...deadParameters(graph, reach, new Set([...trainable, ...frozen.map((f) => f.name)]))]);
  const dataDependent = dataDependentValues(graph, order);
  const producers = graph.producers();
  const outputs = new Set(graph.outputNames);

  // Forward: values computed from parameters and constants only, the nodes computing them, and
  // the nodes that apply them to data (or hand them straight to a graph output).
  const prepared = new Set<string>(params);
  const preparing = new Set<Node>();
  const users: Node[] = [];
  const readsPrepared = (n: Node): boolean => n.inputs.some((v, k) => v !== '' && prepared.has(v) && carriesGradientIn(n, k));
  for (const n of order) {
    if (!readsPrepared(n)) continue;
    const mixesData = [...n.inputs, ...subgraphOuterReads(n)].some((v) => v !== '' && dataDependent.has(v));
    if (mixesData) {
      users.push(n);
      continue;
    }
    preparing.add(n);
    for (const o of n.outputs) if (o) prepared.add(o);
    if (n.outputs.some((o) => outputs.has(o))) users.push(n);
  }

  // Backward from each user: the preparing nodes and parameters behind what it reads.
  const groups: Group[] = users.map((u) => {
    const g: Group = { users: [u], chain: new Set(), params: new Set(), partial: new Set() };
    const seen = new Set<string>();
    const walk = (v: string, partial: boolean): void => {
      const key = `${partial ? 'p' : 'w'}${v}`;
      if (seen.has(key)) return;
      seen.add(key);
      if (params.has(v)) {
        g.params.add(v);
        if (partial) g.partial.add(v);
        return;
      }
      const p = producers.get(v);
      if (!p || !preparing.has(p) || p === u) return;
      g.chain.add(p);
      p.inputs.forEach((i, k) => {
        if (i !== '' && prepared.has(i) && carriesGradientIn(p, k)) walk(i, partial || PARTIAL_VIEWS.has(p.opType));
      });
    };
    u.inputs.forEach((v, k) => {
      if (v !== '' && prepared.has(v) && carriesGradientIn(u, k)) walk(v, false);
    });
    if (preparing.has(u)) u.inputs.forEach((v) => v !== '' && prepared.has(v) && walk(v, PARTIAL_VIEWS.has(u.opType)));
    return g;
  });

  // Union-find over the groups.
  const parent = groups.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const union = (a: number, b: number): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  const joinBy = (keysOf: (g: Group) => string[]): void => {
    const first = new Map<string, number>();
    groups.forEach((g, i) => {
      for (const k of keysOf(g)) {
        const j = first.get(k);
        if (j === undefined) first.set(k, i);
        else union(i, j);
      }
    });
  };
  joinBy((g) => [[...g.params].sort().join('\u0000')]);
  joinBy((g) => [...g.chain].map((n) => String(at(n))));
  joinBy((g) => [...g.partial]);
  const groupOfUser = new Map(groups.map((g, i) => [g.users[0]!, i]));
  const consumers = graph.consumers();
  groups.forEach((g, i) => {
    const u = g.users[0]!;
    if (u.opType !== 'MatMul') return;
    const next = consumers.get(u.outputs[0] ?? '') ?? [];
    const j = next.length === 1 && next[0]!.opType === 'Add' ? groupOfUser.get(next[0]!) : undefined;
    if (j !== undefined) union(i, j);
  });
  const indexOf = new Map(groups.map((g, i) => [g, i]));
  const members = (): Group[][] => {
    const m = new Map<number, Group[]>();
    groups.forEach((g, i) => {
      const root = find(i);
      const list = m.get(root);
      if (list) list.push(g);
      else m.set(root, [g]);
    });
    return [...m.values()];
  };
  const nameOf = (gs: Group[]): string =>
    layerName(
      primaryUser(
        gs.flatMap((g) => g.users),
        at,
      ),
      orderedParams(gs),
    );
  const orderedParams = (gs: Group[]): string[] => {
    const first = (p: string): number => (consumers.get(p) ?? []).reduce((m, c) => Math.min(m, position.get(c) ?? Infinity), Infinity);
    return unique(gs.flatMap((g) => [...g.params])).sort((a, b) => first(a) - first(b));
  };
  const rootByName = new Map<string, number>();
  for (const gs of members()) {
    const root = find(indexOf.get(gs[0]!)!);
    const name = nameOf(gs);
    const other = rootByName.get(name);
    if (other === undefined) rootByName.set(name, root);
    else union(root, other);
  }

  const found = members().map((gs) => {
    const us = unique(gs.flatMap((g) => g.users)).sort(byPosition);
    const nodes = unique([...gs.flatMap((g) => [...g.chain]), ...us]).sort(byPosition);
    const ps = orderedParams(gs);
    const tasks = new Set<number>();
    for (const n of nodes) for (const t of reach.nodeTasks.get(n) ?? []) tasks.add(t);
    const sorted = [...tasks].sort((a, b) => a - b);
    return {
      at: at(primaryUser(us, at)),
      name: nameOf(gs),
      layer: {
        op: opOf(us),
        nodes,
        params: ps,
        numel: ps.reduce((n, p) => n + graph.initializers.get(p)!.numel, 0),
        tasks: sorted,
        shared: sorted.length >= 2,
      },
    };
  });
  found.sort((a, b) => a.at - b.at);
  const names = uniqueNames(found.map((f) => f.name));
  return { layers: found.map((f, i) => ({ name: names[i]!, ...f.layer })), frozen };
}

/** The node a layer is named and ordered after: its first non-elementwise user, else its first user. */
function primaryUser(nodes: readonly Node[], at: (n: Node) => number): Node {
  const sorted = [...nodes].sort((a, b) => at(a) - at(b));
  return sorted.find((n) => !ELEMENTWISE.has(n.opType) && n.opType !== 'Identity') ?? sorted[0]!;
}

function opOf(users: readonly Node[]): string {
  const main = users.filter((u) => !ELEMENTWISE.has(u.opType));
  if (main.length > 0) return unique(main.map((u) => u.opType)).join('+');
  return unique(users.map((u) => u.opType)).join('+');
}

/** Float initializers that reach no task (dead code) but are read where a gradient could flow. */
function deadParameters(graph: Graph, reach: Reachability, known: ReadonlySet<string>): string[] {
  const consumers = graph.consumers();
  const out: string[] = [];
  for (const [name, t] of graph.initializers) {
    if (known.has(name) || t.numel === 0 || !['float32', 'float64', 'float16', 'bfloat16'].includes(t.dtype)) continue;
    if ((reach.valueTasks.get(name)?.size ?? 0) > 0) continue;
    const uses = consumers.get(name) ?? [];
    if (uses.some((c) => c.inputs.some((i, k) => i === name && carriesGradientIn(c, k))) && !isExporterName(name)) out.push(name);
  }
  return out;
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

/** Leaf names of parameters that a module owns as its standard weight and bias. */
const MODULE_PARAM_LEAVES =
  /^(weight|bias|running_mean|running_var|(weight|bias)_(ih|hh)_l\d+(_reverse)?|in_proj_weight|in_proj_bias|[qkv]_proj_weight|bias_[kv])$/;

/**
 * A layer's name, stable across exports of one architecture: the PyTorch module path.
 * - Parameters named by the state dict give it directly: `layer1.0.conv1.weight` → `layer1.0.conv1`;
 *   several parameters of one module (`attn.in_proj_weight` + `attn.in_proj_bias`) → `attn`; a lone
 *   parameter that is not a module's weight or bias (`cls_token`, `blocks.0.gamma`) keeps its name.
 * - Parameters the exporter made (folded or fused: `onnx::MatMul_12`) say nothing: the node's
 *   scope gives the module (`/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`).
 * A per-task copy made by `recon rewrite` (`conv1.weight__T1`) names layer `conv1__T1`.
 */
export function layerName(node: Node, params: readonly string[]): string {
  const named: { base: string; copy: string }[] = [];
  for (const p of params) {
    if (isExporterName(p)) continue;
    const copy = /^(.*?)(__[^.]+)$/.exec(p);
    named.push({ base: copy ? copy[1]! : p, copy: copy ? copy[2]! : '' });
  }
  if (named.length > 0) {
    const parents = new Set(named.map(({ base, copy }) => `${parentOf(base)}\u0000${copy}`));
    if (parents.size === 1) {
      const { base, copy } = named[0]!;
      const parent = parentOf(base);
      const leaf = base.slice(parent.length + (parent ? 1 : 0));
      if (parent !== '' && (named.length > 1 || MODULE_PARAM_LEAVES.test(leaf))) return parent + copy;
      if (named.length === 1 && params.length === 1) return base + copy;
    }
  }
  const fromNode = modulePathOf(node.name);
  if (fromNode) return fromNode;
  if (named.length === 1) return named[0]!.base + named[0]!.copy;
  return node.name || `${node.opType}(${node.outputs[0] ?? ''})`;
}

function parentOf(name: string): string {
  const i = name.lastIndexOf('.');
  return i < 0 ? '' : name.slice(0, i);
}

/** `/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`; undefined when the name has no module path. */
export function modulePathOf(nodeName: string): string | undefined {
  if (!nodeName.startsWith('/')) return undefined;
  const parts = nodeName.split('/').filter((p) => p !== '');
  if (parts.length < 2) return undefined;
  // A scope is named relative to some ancestor: `layer1.0` refines `layer1`, and `downsample.0`
  // refines `downsample`; a refinement replaces the component it extends.
  const segments: string[] = [];
  for (const part of parts.slice(0, -1)) {
    const whole = segments.join('.');
    const last = segments[segments.length - 1];
    if (whole !== '' && part.startsWith(`${whole}.`)) segments.splice(0, segments.length, part);
    else if (last !== undefined && part.startsWith(`${last}.`)) segments[segments.length - 1] = part;
    else segments.push(part);
  }
  return segments.length > 0 ? segments.join('.') : undefined;
}

function uniqueNames(names: string[]): string[] {
  const count = new Map<string, number>();
  return names.map((n) => {
    const k = (count.get(n) ?? 0) + 1;
    count.set(n, k);
    return k === 1 ? n : `${n}#${k}`;
  });
}

/** Initializers used by more than one layer (e.g. merged equal biases in eval-mode exports). */
export function sharedInitializers(layers: readonly Layer[]): { name: string; layers: string[] }[] {
  const users = new Map<string, string[]>();
  for (const l of layers) for (const p of new Set(l.params)) users.set(p, [...(users.get(p) ?? []), l.name]);
  return [...users].filter(([, ls]) => ls.length > 1).map(([name, ls]) => ({ name, layers: ls }));
}
