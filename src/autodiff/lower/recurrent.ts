import { Graph, subgraphOuterReads } from '../../onnx/graph.js';
import type { Model } from '../../onnx/model.js';
import { Node } from '../../onnx/node.js';
import { ReconError, InternalError } from '../../util/errors.js';
import { inferShapes } from '../../analysis/shapes.js';
import type { HostTensor } from '../../runtime/ort-tensor.js';
import { Emitter } from '../emitter.js';

/**
 * ONNX RNN, GRU and LSTM have no gradient rules of their own: they are rewritten here, before
 * differentiation, as the unrolled loop of standard ops they stand for (MatMul, Add, Mul, Sub,
 * Sigmoid/Tanh/Relu, Split, Squeeze, Unsqueeze, Concat, Transpose) over the static sequence
 * length, so the reverse-mode builder differentiates them with the rules it already has (and
 * backpropagation through time falls out of the unrolling).
 *
 * Semantics are the ONNX operator spec's (opsets 7–22): gate blocks in W/R/B ordered zrh for GRU
 * and iofc for LSTM (peepholes P in iof order), B = [Wb, Rb], GRU's linear_before_reset, reverse
 * directions reading the sequence back to front while Y keeps time order, layout 0 (time-major)
 * and 1 (batch-major). Refused with a ReconError naming the node: sequence_lens that are not all
 * the full length (or not known at build time), `clip`, LSTM `input_forget`, and activations other
 * than Sigmoid, Tanh and Relu (the others take alpha/beta and are rare outside hand-made models).
 */

export const RECURRENT_OPS: ReadonlySet<string> = new Set(['RNN', 'GRU', 'LSTM']);

type RecurrentOp = 'RNN' | 'GRU' | 'LSTM';

/** Static shapes (and small integer values) the lowering reads; `ShapeInfo` satisfies it. */
export interface RecurrentShapes {
  values: ReadonlyMap<string, { readonly dims: readonly number[] }>;
  constants?: ReadonlyMap<string, readonly number[]>;
}

/**
 * Test seam: lets a test reorder the gate blocks each step reads, to show that the forward
 * equivalence test notices a wrong gate order. Left empty everywhere else.
 */
export const recurrentLoweringFaults: { permuteGates?: (op: RecurrentOp, gates: string[]) => string[] } = {};

export function isRecurrentNode(node: Node): boolean {
  return RECURRENT_OPS.has(node.opType) && (node.domain === '' || node.domain === 'ai.onnx');
}

/** Parameterless activations: every slot may use any of them (alpha/beta never apply). */
const ACTIVATIONS: Record<string, string> = { sigmoid: 'Sigmoid', tanh: 'Tanh', relu: 'Relu' };

const DEFAULT_ACTIVATIONS: Record<RecurrentOp, readonly string[]> = {
  RNN: ['Tanh'],
  GRU: ['Sigmoid', 'Tanh'],
  LSTM: ['Sigmoid', 'Tanh', 'Tanh'],
};

/** Lowers every recurrent node of `graph` in place; returns how many were lowered. */
export function lowerRecurrentOps(graph: Graph, shapes: RecurrentShapes, opset: number): number {
  const nodes = graph.nodes.filter(isRecurrentNode);
  for (const node of nodes) lowerRecurrentNode(graph, node, shapes, opset);
  return nodes.length;
}

/**
 * Lowers every recurrent node of a model, probing on onnxruntime the static shapes it needs (X,
 * R, sequence_lens) with `feeds`. Each probe runs only the nodes upstream of the recurrent nodes
 * it serves, never a recurrent node itself (onnxruntime's CPU kernels refuse layout 1), so stacked
 * layers are lowered one level per probe. Returns how many nodes were lowered.
 */
export async function lowerRecurrentModel(model: Model, feeds: Record<string, HostTensor>): Promise<number> {
  const g = model.graph;
  const opset = model.opset('');
  let lowered = 0;
  for (;;) {
    const pending = g.nodes.filter(isRecurrentNode);
    if (pending.length === 0) return lowered;
    const producers = g.producers();
    const upstream = new Set<Node>();
    const ready: Node[] = [];
    for (const node of pending) {
      const above = ancestorNodes(probedInputs(node), producers);
      if ([...above].some(isRecurrentNode)) continue;
      ready.push(node);
      for (const n of above) upstream.add(n);
    }
    if (ready.length === 0) throw new ReconError(`recurrent nodes depend on each other in a cycle: ${pending.map((n) => n.label).join(', ')}`);
    const probe = new Graph({ name: g.name, nodes: g.nodes.filter((n) => upstream.has(n)), inputs: g.inputs, initializers: g.initializers, outputs: [] });
    const wanted = ready.flatMap(probedInputs).filter((v) => producers.has(v));
    if (wanted.length === 0) {
      // onnxruntime refuses a graph without outputs; the inputs' shapes come back regardless.
      const first = ready[0]!.inputs[0]!;
      const echo = probe.namer()(`${first}/probe`);
      probe.nodes.push(new Node({ name: echo, opType: 'Identity', inputs: [first], outputs: [echo] }));
      wanted.push(echo);
    }
    const shapes = await inferShapes(model.withGraph(probe), { feeds, only: wanted });
    for (const node of ready) lowerRecurrentNode(g, node, shapes, opset);
    lowered += ready.length;
  }
}

/** X, R (hidden size when the attribute is absent) and sequence_lens (checked to be full). */
function probedInputs(node: Node): string[] {
  return [node.inputs[0], node.inputs[2], node.inputs[4]].filter((v): v is string => !!v);
}

function ancestorNodes(values: readonly string[], producers: ReadonlyMap<string, Node>): Set<Node> {
  const out = new Set<Node>();
  const stack = values.slice();
  while (stack.length > 0) {
    const p = producers.get(stack.pop()!);
    if (!p || out.has(p)) continue;
    out.add(p);
    for (const i of [...p.inputs, ...subgraphOuterReads(p)]) if (i) stack.push(i);
  }
  return out;
}

/** Replaces one RNN/GRU/LSTM node by its unrolled form, keeping its output names. */
export function lowerRecurrentNode(graph: Graph, node: Node, shapes: RecurrentShapes, opset: number): void {
  const index = graph.nodes.indexOf(node);
  if (index < 0) throw new InternalError(`lowerRecurrentNode: ${node.label} is not in the graph`);
  const spec = readSpec(graph, node, shapes);
  const e = new Emitter(graph, opset);
  e.prefix = `${node.name || node.opType}/unrolled`;
  const before = graph.nodes.length;
  emitUnrolled(e, node, spec, opset);
  // The new nodes read only the node's inputs, so they can take its place in the order.
  const added = graph.nodes.splice(before);
  graph.nodes.splice(index, 1, ...added);
}

interface Spec {
  op: RecurrentOp;
  directions: ('forward' | 'reverse')[];
  layout: 0 | 1;
  hidden: number;
  seqLength: number;
  /** Per direction, the activation of each slot (f; f, g; f, g, h). */
  activations: string[][];
  linearBeforeReset: boolean;
}

function readSpec(graph: Graph, node: Node, shapes: RecurrentShapes): Spec {
  const op = node.opType as RecurrentOp;
  const label = node.label;
  const where = `${op} node "${label}"`;
  const a = node.attrs;
  const direction = a.string('direction', 'forward');
  const directions: Spec['directions'] =
    direction === 'forward' ? ['forward'] : direction === 'reverse' ? ['reverse'] : direction === 'bidirectional' ? ['forward', 'reverse'] : [];
  if (directions.length === 0) throw new ReconError(`${where}: attribute "direction" is "${direction}", expected forward, reverse or bidirectional`);
  const layout = a.int('layout', 0);
  if (layout !== 0 && layout !== 1) throw new ReconError(`${where}: attribute "layout" is ${layout}, expected 0 or 1`);
  if (a.has('clip')) throw new ReconError(`${where}: attribute "clip" (cell clipping) is not supported by the gradient lowering`);
  if (op === 'LSTM' && a.int('input_forget', 0) !== 0) {
    throw new ReconError(`${where}: attribute "input_forget" (coupled input and forget gates) is not supported by the gradient lowering`);
  }

  const perDirection = DEFAULT_ACTIVATIONS[op].length;
  const listed = a.has('activations') ? (a.get('activations')!.strings ?? []).map((s) => new TextDecoder().decode(s)) : undefined;
  if (listed && listed.length < perDirection * directions.length) {
    throw new ReconError(`${where}: attribute "activations" lists ${listed.length} functions, expected ${perDirection * directions.length}`);
  }
  const activations = directions.map((_, d) =>
    DEFAULT_ACTIVATIONS[op].map((fallback, k) => {
      const name = listed ? listed[d * perDirection + k]! : fallback;
      const known = ACTIVATIONS[name.toLowerCase()];
      if (!known)
        throw new ReconError(`${where}: attribute "activations" uses ${name}, which the gradient lowering does not support (only Sigmoid, Tanh, Relu)`);
      return known;
    }),
  );

  const [x, , r, , seqLens] = node.inputs;
  const xDims = x ? shapes.values.get(x)?.dims : undefined;
  if (xDims?.length !== 3) throw new ReconError(`${where}: the static shape of input X ("${x ?? ''}") is unknown`);
  const seqLength = xDims[layout === 0 ? 0 : 1]!;
  const batch = xDims[layout === 0 ? 1 : 0]!;
  if (seqLength < 1) throw new ReconError(`${where}: empty sequence (length ${seqLength})`);
  const hidden = a.int('hidden_size') ?? (r ? shapes.values.get(r)?.dims[2] : undefined);
  if (hidden === undefined || hidden < 1) throw new ReconError(`${where}: no hidden_size attribute and the shape of R is unknown`);

  if (seqLens) {
    const lengths = staticValue(graph, seqLens, shapes);
    if (!lengths) {
      throw new ReconError(
        `${where}: input sequence_lens ("${seqLens}") is not known when the graph is built; only sequences of the full length are supported`,
      );
    }
    if (lengths.length !== batch || lengths.some((l) => l !== seqLength)) {
      throw new ReconError(`${where}: input sequence_lens is [${lengths.join(', ')}]; only sequences of the full length ${seqLength} are supported`);
    }
  }
  return { op, directions, layout, hidden, seqLength, activations, linearBeforeReset: op === 'GRU' && a.int('linear_before_reset', 0) !== 0 };
}

/**
 * The value of an integer tensor fixed when the graph is built: an initializer, or a value the
 * probe computed from no fed data (shapes of fed data are static, their contents are not).
 */
function staticValue(graph: Graph, name: string, shapes: RecurrentShapes): readonly number[] | undefined {
  const init = graph.initializers.get(name);
  if (init) return init.toNumbers();
  const producers = graph.producers();
  const fed = new Set(graph.feedInputs.map((i) => i.name ?? ''));
  const seen = new Set<string>();
  const stack = [name];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    if (fed.has(v)) return undefined;
    const p = producers.get(v);
    if (!p || p.opType === 'Shape' || p.opType === 'Size') continue;
    if (p.attrs.hasSubgraphs()) return undefined;
    for (const i of p.inputs) if (i) stack.push(i);
  }
  return shapes.constants?.get(name);
}

function emitUnrolled(e: Emitter, node: Node, s: Spec, opset: number): void {
  const [x, w, r, bias, , initialH, initialC, peepholes] = node.inputs as (string | undefined)[];
  const H = s.hidden;
  const D = s.directions.length;
  const timeAxis = s.layout === 0 ? 0 : 1;
  // Where num_directions sits in initial_h/initial_c and Y_h/Y_c (and, one further, in Y).
  const stateDirAxis = s.layout === 0 ? 0 : 1;

  const split = (v: string, axis: number, sizes: readonly number[]): string[] => {
    if (sizes.length === 1) return [v];
    return opset >= 13
      ? e.op('Split', [v, e.int64s(sizes)], { axis }, { outputCount: sizes.length })
      : e.op('Split', [v], { axis, split: sizes.slice() }, { outputCount: sizes.length });
  };
  /** The per-direction slices of a [num_directions, ...] (or batch-major) tensor. */
  const perDirection = (v: string | undefined, axis: number): (string | undefined)[] =>
    v ? split(v, axis, Array<number>(D).fill(1)).map((p) => e.squeeze(p, [axis])) : Array<undefined>(D).fill(undefined);
  const add = (a: string, b: string | undefined): string => (b ? e.add(a, b) : a);
  const act = (name: string, v: string): string => e.op1(name, [v]);
  const permute = (gates: string[]): string[] => recurrentLoweringFaults.permuteGates?.(s.op, gates) ?? gates;
  /** X·Wᵀ (+ bias) for every time step at once, then cut into per-step [batch, k·H] pieces. */
  const project = (weights: string, b: string | undefined): string[] => {
    const all = add(e.op1('MatMul', [x!, e.transpose(weights, [1, 0])]), b);
    return split(all, timeAxis, Array<number>(s.seqLength).fill(1)).map((p) => e.squeeze(p, [timeAxis]));
  };

  const Ws = perDirection(w, 0);
  const Rs = perDirection(r, 0);
  const Bs = perDirection(bias || undefined, 0);
  const H0 = perDirection(initialH || undefined, stateDirAxis);
  const C0 = perDirection(initialC || undefined, stateDirAxis);
  const Ps = perDirection(peepholes || undefined, 0);

  const ys: string[][] = [];
  const finalH: string[] = [];
  const finalC: string[] = [];
  s.directions.forEach((dir, d) => {
    const [f, g, hAct] = s.activations[d]!;
    const order = Array.from({ length: s.seqLength }, (_, t) => (dir === 'forward' ? t : s.seqLength - 1 - t));
    const hs: string[] = new Array<string>(s.seqLength);
    // An absent initial state is zero: the terms it would enter are left out rather than computed.
    let h = H0[d];
    let c = C0[d];
    if (s.op === 'GRU') {
      const [wzr, wh] = split(Ws[d]!, 0, [2 * H, H]) as [string, string];
      const [rzr, rh] = split(Rs[d]!, 0, [2 * H, H]) as [string, string];
      let biasZR: string | undefined;
      let biasH: string | undefined;
      let recurrentBiasH: string | undefined;
      if (Bs[d]) {
        const [wbzr, wbh, rbzr, rbh] = split(Bs[d]!, 0, [2 * H, H, 2 * H, H]) as [string, string, string, string];
        biasZR = e.add(wbzr, rbzr);
        // With linear_before_reset, Rbh sits inside the reset gate's product, so it stays apart.
        if (s.linearBeforeReset) {
          biasH = wbh;
          recurrentBiasH = rbh;
        } else {
          biasH = e.add(wbh, rbh);
        }
      }
      const xzr = project(wzr, biasZR);
      const xh = project(wh, biasH);
      const rzrT = e.transpose(rzr, [1, 0]);
      const rhT = e.transpose(rh, [1, 0]);
      for (const t of order) {
        const zrPre = h ? e.add(xzr[t]!, e.op1('MatMul', [h, rzrT])) : xzr[t]!;
        const [z, reset] = permute(split(act(f!, zrPre), 1, [H, H])) as [string, string];
        let hPre = xh[t]!;
        if (s.linearBeforeReset) {
          const recurrent = h ? add(e.op1('MatMul', [h, rhT]), recurrentBiasH) : recurrentBiasH;
          if (recurrent) hPre = e.add(hPre, e.mul(reset, recurrent));
        } else if (h) {
          hPre = e.add(hPre, e.op1('MatMul', [e.mul(reset, h), rhT]));
        }
        const candidate = act(g!, hPre);
        // Ht = (1 − z)⊙h̃ + z⊙Ht−1, written h̃ + z⊙(Ht−1 − h̃) to save an op.
        h = h ? e.add(candidate, e.mul(z, e.sub(h, candidate))) : e.sub(candidate, e.mul(z, candidate));
        hs[t] = h;
      }
    } else {
      const gates = s.op === 'LSTM' ? 4 : 1;
      let b: string | undefined;
      if (Bs[d]) {
        const [wb, rb] = split(Bs[d]!, 0, [gates * H, gates * H]) as [string, string];
        b = e.add(wb, rb);
      }
      const xs = project(Ws[d]!, b);
      const rT = e.transpose(Rs[d]!, [1, 0]);
      const [pi, po, pf] = Ps[d] ? split(Ps[d]!, 0, [H, H, H]) : [];
      for (const t of order) {
        const pre = h ? e.add(xs[t]!, e.op1('MatMul', [h, rT])) : xs[t]!;
        if (s.op === 'RNN') {
          h = act(f!, pre);
        } else {
          let [gi, go, gf, gc] = permute(split(pre, 1, [H, H, H, H])) as [string, string, string, string];
          if (c && pi) gi = e.add(gi, e.mul(pi, c));
          const candidate = act(g!, gc);
          let cNew = e.mul(act(f!, gi), candidate);
          if (c) {
            if (pf) gf = e.add(gf, e.mul(pf, c));
            cNew = e.add(e.mul(act(f!, gf), c), cNew);
          }
          // The output gate's peephole reads the new cell state.
          if (po) go = e.add(go, e.mul(po, cNew));
          h = e.mul(act(f!, go), act(hAct!, cNew));
          c = cNew;
        }
        hs[t] = h;
      }
    }
    ys.push(hs);
    finalH.push(h!);
    if (c) finalC.push(c);
  });

  const join = (parts: string[], axis: number, out?: string): string => {
    if (parts.length > 1) return e.op1('Concat', parts, { axis }, out ? { outputs: [out] } : {});
    return out ? e.op1('Identity', [parts[0]!], {}, { outputs: [out] }) : parts[0]!;
  };
  const [yOut, yhOut, ycOut] = node.outputs;
  if (yOut) {
    // Y is [seq, D, batch, H] (layout 0) or [batch, seq, D, H] (layout 1).
    const stepAxes = s.layout === 0 ? [0, 1] : [1, 2];
    const perDir = ys.map((hs) =>
      join(
        hs.map((v) => e.unsqueeze(v, stepAxes)),
        timeAxis,
      ),
    );
    join(perDir, stepAxes[1]!, yOut);
  }
  if (yhOut)
    join(
      finalH.map((v) => e.unsqueeze(v, [stateDirAxis])),
      stateDirAxis,
      yhOut,
    );
  if (ycOut && s.op === 'LSTM')
    join(
      finalC.map((v) => e.unsqueeze(v, [stateDirAxis])),
      stateDirAxis,
      ycOut,
    );
}
