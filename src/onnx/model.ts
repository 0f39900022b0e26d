import type { onnx } from 'onnx-proto';
import { Graph } from './graph.js';
import { int64ToNumber } from './long.js';
import type { ExternalResolver } from './tensor.js';

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface MetadataEntry {
  key: string;
  value: string;
}

/** A whole ONNX model: the main graph plus everything around it, kept for a lossless round trip. */
export class Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  metadataProps: MetadataEntry[];
  graph: Graph;
  /** Kept verbatim. */
  functions: onnx.IFunctionProto[];
  trainingInfo: onnx.ITrainingInfoProto[];
  /** Folder external data locations are relative to (the model file's folder). */
  baseDir: string | undefined;

  constructor(graph: Graph, init?: { irVersion?: number; opsetImports?: OpsetImport[]; producerName?: string }) {
    this.graph = graph;
    this.irVersion = init?.irVersion ?? 8;
    this.opsetImports = init?.opsetImports ?? [{ domain: '', version: 17 }];
    this.producerName = init?.producerName ?? 'recon-onnx';
    this.producerVersion = '';
    this.domain = '';
    this.modelVersion = 0;
    this.docString = '';
    this.metadataProps = [];
    this.functions = [];
    this.trainingInfo = [];
    this.baseDir = undefined;
  }

  static fromProto(p: onnx.IModelProto, baseDir: string | undefined, resolveExternal?: ExternalResolver): Model {
    const m = new Model(Graph.fromProto(p.graph ?? {}, resolveExternal));
    m.irVersion = int64ToNumber(p.irVersion);
    m.opsetImports = (p.opsetImport ?? []).map((o) => ({ domain: o.domain ?? '', version: int64ToNumber(o.version) }));
    m.producerName = p.producerName ?? '';
    m.producerVersion = p.producerVersion ?? '';
    m.domain = p.domain ?? '';
    m.modelVersion = int64ToNumber(p.modelVersion);
    m.docString = p.docString ?? '';
    m.metadataProps = (p.metadataProps ?? []).map((e) => ({ key: e.key ?? '', value: e.value ?? '' }));
    m.functions = (p.functions ?? []).slice();
    m.trainingInfo = (p.trainingInfo ?? []).slice();
    m.baseDir = baseDir;
    return m;
  }

  toProto(graph: onnx.IGraphProto = this.graph.toProto()): onnx.IModelProto {
    const p: onnx.IModelProto = {
      irVersion: this.irVersion,
      opsetImport: this.opsetImports.map((o) => (o.domain ? { domain: o.domain, version: o.version } : { version: o.version })),
      graph,
    };
    if (this.producerName) p.producerName = this.producerName;
    if (this.producerVersion) p.producerVersion = this.producerVersion;
    if (this.domain) p.domain = this.domain;
    if (this.modelVersion) p.modelVersion = this.modelVersion;
    if (this.docString) p.docString = this.docString;
    if (this.metadataProps.length > 0) p.metadataProps = this.metadataProps.map((e) => ({ ...e }));
    if (this.functions.length > 0) p.functions = this.functions;
    if (this.trainingInfo.length > 0) p.trainingInfo = this.trainingInfo;
    return p;
  }

  /** A new model around `graph` with every other field copied (metadata list included). */
  withGraph(graph: Graph): Model {
    const m = new Model(graph, { irVersion: this.irVersion, opsetImports: this.opsetImports.map((o) => ({ ...o })), producerName: this.producerName });
    m.producerVersion = this.producerVersion;
    m.domain = this.domain;
    m.modelVersion = this.modelVersion;
    m.docString = this.docString;
    m.metadataProps = this.metadataProps.map((e) => ({ ...e }));
    m.functions = this.functions.slice();
    m.trainingInfo = this.trainingInfo.slice();
    m.baseDir = this.baseDir;
    return m;
  }

  /** The opset version of a domain ('' = the default ONNX domain); 0 when not imported. */
  opset(domain = ''): number {
    const d = domain === 'ai.onnx' ? '' : domain;
    return this.opsetImports.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === d)?.version ?? 0;
  }

  setOpset(version: number, domain = ''): void {
    const entry = this.opsetImports.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === domain);
    if (entry) entry.version = version;
    else this.opsetImports.push({ domain, version });
  }

  setMetadata(key: string, value: string): void {
    const e = this.metadataProps.find((m) => m.key === key);
    if (e) e.value = value;
    else this.metadataProps.push({ key, value });
  }
}
