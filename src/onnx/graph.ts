import type { onnx } from 'onnx-proto';
import { Node } from './node.js';
import { Tensor, type ExternalResolver } from './tensor.js';
import { ReconError } from '../util/errors.js';

/**
 * A computation graph. Values are identified by name; nodes, initializers and graph inputs
 * produce them. Lookups (producers, consumers) are computed on demand so the graph can be edited
 * freely with plain array and map operations.
 */
export class Graph {
  name: string;
  docString: string;
  nodes: Node[];
  inputs: onnx.IValueInfoProto[];
  outputs: onnx.IValueInfoProto[];
  valueInfo: onnx.IValueInfoProto[];
  initializers: Map<string, Tensor>;
  /** Kept verbatim: we never analyse or edit these. */
  sparseInitializers: onnx.ISparseTensorProto[];
  quantizationAnnotation: onnx.ITensorAnnotation[];

  constructor(init?: Partial<Pick<Graph, 'name' | 'nodes' | 'inputs' | 'outputs' | 'valueInfo' | 'initializers'>>) {
    this.name = init?.name ?? 'graph';
    this.docString = '';
    this.nodes = init?.nodes ?? [];
    this.inputs = init?.inputs ?? [];
    this.outputs = init?.outputs ?? [];
    this.valueInfo = init?.valueInfo ?? [];
    this.initializers = init?.initializers ?? new Map();
    this.sparseInitializers = [];
    this.quantizationAnnotation = [];
  }

  static fromProto(p: onnx.IGraphProto, resolveExternal?: ExternalResolver): Graph {
    const g = new Graph();
    g.name = p.name ?? '';
    g.docString = p.docString ?? '';
    g.nodes = (p.node ?? []).map((n) => Node.fromProto(n));
    g.inputs = (p.input ?? []).slice();
    g.outputs = (p.output ?? []).slice();
    g.valueInfo = (p.valueInfo ?? []).slice();
    for (const t of p.initializer ?? []) {
      const tensor = Tensor.fromProto(t, resolveExternal);
      g.initializers.set(tensor.name, tensor);
    }
    g.sparseInitializers = (p.sparseInitializer ?? []).slice();
    g.quantizationAnnotation = (p.quantizationAnnotation ?? []).slice();
    return g;
  }

  /** Serialises; `placeTensor` chooses inline or external storage per initializer. */
  toProto(placeTensor?: (t: Tensor) => onnx.ITensorProto): onnx.IGraphProto {
    const p: onnx.IGraphProto = {
      node: this.nodes.map((n) => n.toProto()),
      name: this.name,
      initializer: [...this.initializers.values()].map((t) => (placeTensor ? placeTensor(t) : t.toProto())),
      input: this.inputs,
      output: this.outputs,
    };
    if (this.docString) p.docString = this.docString;
    if (this.valueInfo.length > 0) p.valueInfo = this.valueInfo;
    if (this.sparseInitializers.length > 0) p.sparseInitializer = this.sparseInitializers;
    if (this.quantizationAnnotation.length > 0) p.quantizationAnnotation = this.quantizationAnnotation;
    return p;
  }

  get inputNames(): string[] {
    return this.inputs.map((i) => i.name ?? '');
  }

  get outputNames(): string[] {
    return this.outputs.map((o) => o.name ?? '');
  }

  /** Graph inputs that are not initializers (what the caller feeds). */
  get feedInputs(): onnx.IValueInfoProto[] {
    return this.inputs.filter((i) => !this.initializers.has(i.name ?? ''));
  }

  /** Value name → the node that produces it. */
  producers(): Map<string, Node> {
    const m = new Map<string, Node>();
    for (const n of this.nodes) for (const o of n.outputs) if (o) m.set(o, n);
    return m;
  }

  /** Value name → nodes that read it, in node order (a node reading a value twice appears once). */
  consumers(): Map<string, Node[]> {
    const m = new Map<string, Node[]>();
    for (const n of this.nodes) {
      for (const i of new Set(n.inputs)) {
        if (!i) continue;
        let list = m.get(i);
        if (!list) m.set(i, (list = []));
        list.push(n);
      }
    }
    return m;
  }

  /** Every value name in use: inputs, outputs, initializers, node outputs, value_info. */
  valueNames(): Set<string> {
    const s = new Set<string>();
    for (const vi of [...this.inputs, ...this.outputs, ...this.valueInfo]) if (vi.name) s.add(vi.name);
    for (const k of this.initializers.keys()) s.add(k);
    for (const n of this.nodes) {
      for (const v of n.inputs) if (v) s.add(v);
      for (const v of n.outputs) if (v) s.add(v);
    }
    return s;
  }

  /** A name generator that never repeats a node, value or initializer name of this graph. */
  namer(): (base: string) => string {
    const taken = this.valueNames();
    for (const n of this.nodes) if (n.name) taken.add(n.name);
    return (base: string) => {
      let name = base;
      for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
      taken.add(name);
      return name;
    };
  }

  /**
   * Orders nodes so every value is produced before it is read (stable: keeps the existing order
   * where it is already valid). Throws a ReconError naming the nodes of a cycle.
   */
  toposort(): this {
    this.nodes = topologicalOrder(this.nodes, this.externallyDefined());
    return this;
  }

  /** Values available without any node: graph inputs and initializers. */
  externallyDefined(): Set<string> {
    const s = new Set<string>(this.initializers.keys());
    for (const i of this.inputs) if (i.name) s.add(i.name);
    return s;
  }

  /** The nodes some graph output depends on (through subgraph reads too). */
  liveNodes(): Set<Node> {
    const producers = this.producers();
    const live = new Set<Node>();
    const stack = [...this.outputNames];
    const seen = new Set<string>();
    while (stack.length > 0) {
      const v = stack.pop()!;
      if (seen.has(v)) continue;
      seen.add(v);
      const p = producers.get(v);
      if (p && !live.has(p)) {
        live.add(p);
        for (const i of p.inputs) if (i) stack.push(i);
        for (const i of subgraphOuterReads(p)) stack.push(i);
      }
    }
    return live;
  }

  /**
   * Removes nodes none of whose outputs reach a graph output, then initializers and value_info
   * nobody reads. Graph inputs stay (they are the model's interface).
   */
  cleanup(): this {
    const live = this.liveNodes();
    this.nodes = this.nodes.filter((n) => live.has(n));
    const used = new Set<string>();
    for (const n of this.nodes) {
      for (const i of n.inputs) used.add(i);
      for (const i of subgraphOuterReads(n)) used.add(i);
    }
    for (const o of this.outputNames) used.add(o);
    const inputNames = new Set(this.inputNames);
    for (const k of [...this.initializers.keys()]) {
      if (!used.has(k) && !inputNames.has(k)) this.initializers.delete(k);
    }
    const defined = new Set<string>();
    for (const n of this.nodes) for (const o of n.outputs) defined.add(o);
    this.valueInfo = this.valueInfo.filter((vi) => defined.has(vi.name ?? ''));
    return this;
  }
}

/** Names a node's subgraphs read from the enclosing scope (so they count as inputs). */
export function subgraphOuterReads(node: Node): string[] {
  const out: string[] = [];
  for (const a of node.attributeProtos) {
    for (const g of [a.g, ...(a.graphs ?? [])]) if (g) collectOuterReads(g, out);
  }
  return out;
}

function collectOuterReads(g: onnx.IGraphProto, out: string[]): void {
  const local = new Set<string>();
  for (const i of g.input ?? []) if (i.name) local.add(i.name);
  for (const t of g.initializer ?? []) if (t.name) local.add(t.name);
  for (const n of g.node ?? []) for (const o of n.output ?? []) local.add(o);
  for (const n of g.node ?? []) {
    for (const i of n.input ?? []) if (i && !local.has(i)) out.push(i);
    for (const a of n.attribute ?? []) for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) collectOuterReads(sg, out);
  }
  for (const o of g.output ?? []) if (o.name && !local.has(o.name)) out.push(o.name);
}

/** Kahn's algorithm, taking the earliest ready node each time so valid orders are kept. */
export function topologicalOrder(nodes: readonly Node[], available: ReadonlySet<string>): Node[] {
  const producerIndex = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => o && producerIndex.set(o, i)));
  const missing = new Array<number>(nodes.length).fill(0);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    const deps = new Set<number>();
    for (const v of [...n.inputs, ...subgraphOuterReads(n)]) {
      if (!v || available.has(v)) continue;
      const p = producerIndex.get(v);
      if (p !== undefined && p !== i) deps.add(p);
      else if (p === i) deps.add(i);
    }
    missing[i] = deps.size;
    for (const d of deps) dependents[d]!.push(i);
  });
  // A min-heap keyed by original position keeps the order stable.
  const ready = new MinHeap();
  missing.forEach((m, i) => m === 0 && ready.push(i));
  const order: Node[] = [];
  while (ready.size > 0) {
    const i = ready.pop();
    order.push(nodes[i]!);
    for (const d of dependents[i]!) if (--missing[d]! === 0) ready.push(d);
  }
  if (order.length < nodes.length) {
    const stuck = nodes.filter((_, i) => missing[i]! > 0).map((n) => n.label);
    const shown = stuck.slice(0, 8).join(', ');
    throw new ReconError(`graph has a cycle through ${stuck.length} node(s): ${shown}${stuck.length > 8 ? ', ...' : ''}`);
  }
  return order;
}

class MinHeap {
  private items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(v: number): void {
    const a = this.items;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let mv = last;
        if (l < a.length && a[l]! < mv) {
          m = l;
          mv = a[l]!;
        }
        if (r < a.length && a[r]! < mv) m = r;
        if (m === i) break;
        a[i] = a[m]!;
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
}
