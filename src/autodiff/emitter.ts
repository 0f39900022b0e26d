import type { AttrInput, OpOptions } from '../onnx/builder.js';
import { GraphBuilder } from '../onnx/builder.js';
import type { Graph } from '../onnx/graph.js';
import { Tensor } from '../onnx/tensor.js';
import { loweringFor, type Lowering } from './lowering.js';

/**
 * GraphBuilder plus the opset-aware idioms backward rules need (axes as attributes or inputs,
 * broadcast reduction). Every emitted node is in the default ONNX domain.
 */
export class Emitter {
  readonly builder: GraphBuilder;
  /** Name prefix for emitted nodes, so the backward of a node is recognisable in profiles. */
  prefix = 'grad';

  constructor(
    graph: Graph,
    readonly opset: number,
    /** Formulations the rules emit into this graph (default: the CPU's). */
    readonly lowering: Lowering = loweringFor('cpu'),
  ) {
    this.builder = new GraphBuilder(graph);
  }

  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrInput | undefined> = {}, options: OpOptions = {}): string[] {
    return this.builder.op(opType, inputs, attrs, { name: `${this.prefix}/${opType}`, ...options });
  }

  op1(opType: string, inputs: readonly string[], attrs: Record<string, AttrInput | undefined> = {}, options: OpOptions = {}): string {
    return this.op(opType, inputs, attrs, options)[0]!;
  }

  int64s(values: readonly number[]): string {
    return this.builder.int64s(`${this.prefix}/const`, values);
  }

  /** float32 scalar constant (rank 0, broadcasts everywhere). */
  scalar(value: number): string {
    return this.builder.scalar(`${this.prefix}/const`, value);
  }

  floats(dims: readonly number[], data: Float32Array): string {
    return this.builder.constant(`${this.prefix}/const`, 'float32', dims, data);
  }

  reduceSum(x: string, axes: readonly number[], keepdims: boolean): string {
    if (axes.length === 0) return x;
    if (this.opset >= 13) return this.op1('ReduceSum', [x, this.int64s(axes)], { keepdims: keepdims ? 1 : 0 });
    return this.op1('ReduceSum', [x], { axes: axes.slice(), keepdims: keepdims ? 1 : 0 });
  }

  reduceMean(x: string, axes: readonly number[], keepdims: boolean): string {
    if (this.opset >= 18) return this.op1('ReduceMean', [x, this.int64s(axes)], { keepdims: keepdims ? 1 : 0 });
    return this.op1('ReduceMean', [x], { axes: axes.slice(), keepdims: keepdims ? 1 : 0 });
  }

  reshape(x: string, shape: readonly number[]): string {
    return this.op1('Reshape', [x, this.int64s(shape)]);
  }

  transpose(x: string, perm: readonly number[]): string {
    if (perm.every((p, i) => p === i)) return x;
    return this.op1('Transpose', [x], { perm: perm.slice() });
  }

  unsqueeze(x: string, axes: readonly number[]): string {
    if (this.opset >= 13) return this.op1('Unsqueeze', [x, this.int64s(axes)]);
    return this.op1('Unsqueeze', [x], { axes: axes.slice() });
  }

  squeeze(x: string, axes: readonly number[]): string {
    if (this.opset >= 13) return this.op1('Squeeze', [x, this.int64s(axes)]);
    return this.op1('Squeeze', [x], { axes: axes.slice() });
  }

  add(a: string, b: string): string {
    return this.op1('Add', [a, b]);
  }

  sub(a: string, b: string): string {
    return this.op1('Sub', [a, b]);
  }

  mul(a: string, b: string): string {
    return this.op1('Mul', [a, b]);
  }

  div(a: string, b: string): string {
    return this.op1('Div', [a, b]);
  }

  neg(a: string): string {
    return this.op1('Neg', [a]);
  }

  sum(values: readonly string[]): string {
    return values.length === 1 ? values[0]! : this.op1('Sum', values);
  }

  /** Zeros of a static shape, via ConstantOfShape (no large initializer). */
  zeros(shape: readonly number[]): string {
    return this.op1('ConstantOfShape', [this.int64s(shape)], { value: Tensor.fromArray('', 'float32', [1], Float32Array.of(0)) });
  }

  /**
   * Reduces a gradient of shape `from` (a broadcast result) to the shape `to` of the input that
   * was broadcast, by summing over the broadcast axes (numpy rules, right-aligned).
   */
  reduceToShape(grad: string, from: readonly number[], to: readonly number[]): string {
    if (sameShape(from, to)) return grad;
    const lead = from.length - to.length;
    const axes: number[] = [];
    for (let i = 0; i < from.length; i++) {
      if (i < lead) axes.push(i);
      else if (to[i - lead] === 1 && from[i] !== 1) axes.push(i);
    }
    let g = this.reduceSum(grad, axes, true);
    const reduced = from.map((d, i) => (axes.includes(i) ? 1 : d));
    if (!sameShape(reduced, to)) g = this.reshape(g, to);
    return g;
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** numpy broadcast of two shapes. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    out.push(da === 1 ? db : da);
  }
  return out;
}
