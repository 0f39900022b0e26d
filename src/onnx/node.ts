import type { onnx } from 'onnx-proto';
import { Attributes, makeAttribute, type AttributeValue } from './attributes.js';

/** One operator application. Edges are value names, as in ONNX; '' marks an omitted optional input. */
export class Node {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributeProtos: onnx.IAttributeProto[];
  docString: string;

  constructor(init: {
    name: string;
    opType: string;
    domain?: string;
    inputs: string[];
    outputs: string[];
    attributes?: onnx.IAttributeProto[];
    docString?: string;
  }) {
    this.name = init.name;
    this.opType = init.opType;
    this.domain = init.domain ?? '';
    this.inputs = init.inputs;
    this.outputs = init.outputs;
    this.attributeProtos = init.attributes ?? [];
    this.docString = init.docString ?? '';
  }

  static fromProto(p: onnx.INodeProto): Node {
    return new Node({
      name: p.name ?? '',
      opType: p.opType ?? '',
      domain: p.domain ?? '',
      inputs: (p.input ?? []).slice(),
      outputs: (p.output ?? []).slice(),
      attributes: (p.attribute ?? []).slice(),
      docString: p.docString ?? '',
    });
  }

  toProto(): onnx.INodeProto {
    const p: onnx.INodeProto = { input: this.inputs, output: this.outputs, opType: this.opType };
    if (this.name) p.name = this.name;
    if (this.domain) p.domain = this.domain;
    if (this.attributeProtos.length > 0) p.attribute = this.attributeProtos;
    if (this.docString) p.docString = this.docString;
    return p;
  }

  get attrs(): Attributes {
    return new Attributes(this.attributeProtos);
  }

  setAttr(name: string, value: AttributeValue): this {
    const proto = makeAttribute(name, value);
    const i = this.attributeProtos.findIndex((a) => a.name === name);
    if (i >= 0) this.attributeProtos[i] = proto;
    else this.attributeProtos.push(proto);
    return this;
  }

  removeAttr(name: string): this {
    this.attributeProtos = this.attributeProtos.filter((a) => a.name !== name);
    return this;
  }

  /** The non-empty input names. */
  get presentInputs(): string[] {
    return this.inputs.filter((i) => i !== '');
  }

  /** Display name: the node name, or op type and first output when unnamed. */
  get label(): string {
    return this.name || `${this.opType}(${this.outputs[0] ?? ''})`;
  }

  clone(): Node {
    return new Node({
      name: this.name,
      opType: this.opType,
      domain: this.domain,
      inputs: this.inputs.slice(),
      outputs: this.outputs.slice(),
      attributes: this.attributeProtos.slice(),
      docString: this.docString,
    });
  }
}
