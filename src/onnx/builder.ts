import type { onnx } from 'onnx-proto';
import type { DType, NumericDType, TypedArrayByDType } from './dtype.js';
import { Graph } from './graph.js';
import { Model } from './model.js';
import { Node } from './node.js';
import { Tensor } from './tensor.js';
import { makeValueInfo, type Dim } from './value-info.js';
import type { AttributeValue } from './attributes.js';
import { ReconError } from '../util/errors.js';

/** Attribute values written the short way: numbers are ints unless wrapped with `float()`. */
export type AttrInput = number | readonly number[] | string | readonly string[] | Tensor | AttributeValue;

export function float(value: number): AttributeValue {
  return { kind: 'float', value };
}

export function floats(value: readonly number[]): AttributeValue {
  return { kind: 'floats', value };
}

function toAttributeValue(v: AttrInput): AttributeValue {
  if (v instanceof Tensor) return { kind: 'tensor', value: v };
  if (typeof v === 'number') return { kind: 'int', value: v };
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') return { kind: 'strings', value: v as readonly string[] };
    return { kind: 'ints', value: v as readonly number[] };
  }
  return v as AttributeValue;
}

export interface OpOptions {
  /** Node name; also the prefix of generated output names. */
  name?: string;
  /** Explicit output names (their count decides the number of outputs). */
  outputs?: string[];
  /** Number of outputs when names are generated. */
  outputCount?: number;
  domain?: string;
}

/**
 * Appends nodes to a graph with generated, collision-free names. Used by the reference-model
 * builders, by the autodiff to emit backward nodes, and by tests.
 */
export class GraphBuilder {
  readonly graph: Graph;
  private readonly fresh: (base: string) => string;

  constructor(graph: Graph = new Graph()) {
    this.graph = graph;
    this.fresh = graph.namer();
  }

  /** Reserves a name not used anywhere in the graph yet. */
  name(base: string): string {
    return this.fresh(base);
  }

  input(name: string, dtype: DType, dims: readonly Dim[]): string {
    this.fresh(name);
    this.graph.inputs.push(makeValueInfo(name, dtype, dims));
    return name;
  }

  output(name: string, dtype: DType, dims?: readonly Dim[]): string {
    this.graph.outputs.push(makeValueInfo(name, dtype, dims));
    return name;
  }

  /** Adds an initializer with exactly this name. */
  initializer<D extends NumericDType>(name: string, dtype: D, dims: readonly number[], data: TypedArrayByDType[D]): string {
    if (this.graph.initializers.has(name)) throw new ReconError(`initializer "${name}" already exists`);
    this.fresh(name);
    this.graph.initializers.set(name, Tensor.fromArray(name, dtype, dims, data));
    return name;
  }

  /** Adds a constant initializer under a fresh name derived from `base`. */
  constant<D extends NumericDType>(base: string, dtype: D, dims: readonly number[], data: TypedArrayByDType[D]): string {
    const name = this.fresh(base);
    this.graph.initializers.set(name, Tensor.fromArray(name, dtype, dims, data));
    return name;
  }

  int64s(base: string, values: readonly number[]): string {
    return this.constant(
      base,
      'int64',
      [values.length],
      BigInt64Array.from(values, (v) => BigInt(v)),
    );
  }

  scalar(base: string, value: number, dtype: 'float32' | 'int64' = 'float32'): string {
    return dtype === 'int64' ? this.constant(base, 'int64', [], BigInt64Array.of(BigInt(value))) : this.constant(base, 'float32', [], Float32Array.of(value));
  }

  /** Appends one node; returns its output names. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrInput | undefined> = {}, options: OpOptions = {}): string[] {
    const nodeName = this.fresh(options.name ?? opType);
    const count = options.outputs?.length ?? options.outputCount ?? 1;
    const outputs = options.outputs ?? Array.from({ length: count }, (_, i) => this.fresh(count === 1 ? `${nodeName}_out` : `${nodeName}_out${i}`));
    if (options.outputs) for (const o of outputs) this.fresh(o);
    const attributes: onnx.IAttributeProto[] = [];
    const node = new Node({ name: nodeName, opType, domain: options.domain ?? '', inputs: inputs.slice(), outputs, attributes });
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined) node.setAttr(k, toAttributeValue(v));
    this.graph.nodes.push(node);
    return outputs;
  }

  /** Appends a single-output node and returns that output's name. */
  op1(opType: string, inputs: readonly string[], attrs: Record<string, AttrInput | undefined> = {}, options: OpOptions = {}): string {
    return this.op(opType, inputs, attrs, options)[0]!;
  }

  model(opset: number, init?: { irVersion?: number; producerName?: string }): Model {
    return new Model(this.graph, {
      irVersion: init?.irVersion ?? (opset >= 18 ? 8 : 7),
      opsetImports: [{ domain: '', version: opset }],
      producerName: init?.producerName ?? 'recon-onnx',
    });
  }
}
