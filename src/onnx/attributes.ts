import type { onnx } from 'onnx-proto';
import { proto } from './proto.js';
import { Tensor } from './tensor.js';
import { int64ToNumber } from './long.js';

const A = proto.AttributeProto.AttributeType;

/** Values an attribute can be set to from code. */
export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'float'; value: number }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string }
  | { kind: 'strings'; value: readonly string[] }
  | { kind: 'tensor'; value: Tensor };

export function makeAttribute(name: string, v: AttributeValue): onnx.IAttributeProto {
  const enc = new TextEncoder();
  switch (v.kind) {
    case 'int':
      return { name, type: A.INT, i: v.value };
    case 'ints':
      return { name, type: A.INTS, ints: v.value.slice() };
    case 'float':
      return { name, type: A.FLOAT, f: v.value };
    case 'floats':
      return { name, type: A.FLOATS, floats: v.value.slice() };
    case 'string':
      return { name, type: A.STRING, s: enc.encode(v.value) };
    case 'strings':
      return { name, type: A.STRINGS, strings: v.value.map((s) => enc.encode(s)) };
    case 'tensor':
      return { name, type: A.TENSOR, t: v.value.toProto() };
  }
}

/** Typed read access to a node's attribute protos. */
export class Attributes {
  constructor(private readonly protos: onnx.IAttributeProto[]) {}

  has(name: string): boolean {
    return this.protos.some((a) => a.name === name);
  }

  get(name: string): onnx.IAttributeProto | undefined {
    return this.protos.find((a) => a.name === name);
  }

  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  int(name: string, fallback?: number): number | undefined {
    const a = this.get(name);
    return a ? int64ToNumber(a.i) : fallback;
  }

  ints(name: string, fallback: number[]): number[];
  ints(name: string): number[] | undefined;
  ints(name: string, fallback?: number[]): number[] | undefined {
    const a = this.get(name);
    return a ? (a.ints ?? []).map((x) => int64ToNumber(x)) : fallback;
  }

  float(name: string, fallback: number): number;
  float(name: string): number | undefined;
  float(name: string, fallback?: number): number | undefined {
    const a = this.get(name);
    return a ? (a.f ?? 0) : fallback;
  }

  floats(name: string): number[] | undefined {
    const a = this.get(name);
    return a ? (a.floats ?? []).slice() : undefined;
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    const a = this.get(name);
    return a ? new TextDecoder().decode(a.s ?? new Uint8Array()) : fallback;
  }

  tensor(name: string): Tensor | undefined {
    const a = this.get(name);
    return a?.t ? Tensor.fromProto(a.t) : undefined;
  }

  /** Subgraphs held by this node (If/Loop/Scan bodies). */
  hasSubgraphs(): boolean {
    return this.protos.some((a) => a.g || (a.graphs && a.graphs.length > 0));
  }
}
