import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { onnx } from 'onnx-proto';
import { proto } from './proto.js';
import { Model } from './model.js';
import { checkNameLength, printable, ReconError } from '../util/errors.js';
import { checkExternalRange, externalFileSize, type ExternalResolver } from './tensor.js';
import { tensorTypeOf } from './value-info.js';
import { describeUnknownFields, findUnknownFields } from './unknown-fields.js';

export interface LoadOptions {
  /** Folder for relative external-data locations when loading from bytes. */
  baseDir?: string;
  /** Read every external tensor now instead of on first use (so missing files fail early). */
  eagerExternalData?: boolean;
  /** Called with one line per problem that does not stop loading (e.g. fields of newer ONNX versions). */
  onWarning?: (message: string) => void;
}

/** Loads a model from a file path or from serialized bytes. */
export function loadModel(source: string | Uint8Array, options: LoadOptions = {}): Model {
  const where = typeof source === 'string' ? source : '<bytes>';
  let bytes: Uint8Array;
  let baseDir = options.baseDir;
  if (typeof source === 'string') {
    try {
      const st = statSync(source);
      if (st.isDirectory()) throw new ReconError(`${source}: is a directory, not an ONNX model file`);
      // Reading a pipe or device could block forever or never end.
      if (!st.isFile()) throw new ReconError(`${source}: not a regular file, not an ONNX model file`);
      bytes = readFileSync(source);
    } catch (e) {
      if (e instanceof ReconError) throw e;
      throw new ReconError(`${source}: cannot read model file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    baseDir ??= dirname(resolve(source));
  } else {
    bytes = source;
  }
  return decodeModel(bytes, where, baseDir, options);
}

function decodeModel(bytes: Uint8Array, where: string, baseDir: string | undefined, options: LoadOptions): Model {
  if (bytes.length === 0) throw new ReconError(`${where}: empty file, not an ONNX model`);
  let decoded: onnx.ModelProto;
  let unknown: ReturnType<typeof findUnknownFields>;
  try {
    unknown = findUnknownFields(bytes);
    decoded = proto.ModelProto.decode(bytes);
  } catch (e) {
    throw new ReconError(`${where}: not an ONNX model, or the file is truncated (${firstLine(e)})`);
  }
  if (!decoded.graph || decoded.opsetImport.length === 0 || Number(decoded.irVersion) <= 0) {
    throw new ReconError(`${where}: not an ONNX model (no graph, IR version or opset import)`);
  }
  if (unknown.length > 0) {
    options.onWarning?.(`${where}: fields unknown to the bundled ONNX 1.10 schema are dropped: ${describeUnknownFields(unknown)}`);
  }
  checkGraphNames(decoded.graph, where);
  const resolveExternal = baseDir ? externalResolver(baseDir, where) : undefined;
  const model = Model.fromProto(decoded, baseDir, resolveExternal);
  checkGraphInputDims(model, where);
  checkOutputsProduced(model, where);
  if (options.eagerExternalData) {
    for (const t of model.graph.initializers.values()) if (t.externalSource) t.rawBytes();
  } else {
    checkExternalFiles(model);
  }
  return model;
}

/**
 * External data locations are relative paths inside the model's folder; the folder's real path is
 * kept so that every read checks again, after resolving symbolic links, that the file is inside.
 */
function externalResolver(baseDir: string, where: string): ExternalResolver {
  let root: string | undefined;
  return (location) => {
    if (isAbsolute(location) || location.split(/[\\/]/).includes('..') || location.includes('\0')) {
      throw new ReconError(`${where}: external data location "${printable(location)}" must be a relative path inside the model folder`);
    }
    checkNameLength(location, 'external data location');
    if (root === undefined) {
      try {
        root = realpathSync(baseDir);
      } catch (e) {
        throw new ReconError(`${where}: model folder ${baseDir} cannot be resolved (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
      }
    }
    return { path: resolve(baseDir, location), root };
  };
}

/** Fails early, with the tensor named, when an external data file is missing, not a regular file, outside the folder or too short. */
function checkExternalFiles(model: Model): void {
  const sizes = new Map<string, number>();
  for (const t of model.graph.initializers.values()) {
    const ext = t.externalSource;
    if (!ext) continue;
    let size = sizes.get(ext.path);
    if (size === undefined) {
      size = externalFileSize(t.name, ext);
      sizes.set(ext.path, size);
    }
    checkExternalRange(t.name, ext, size);
  }
}

/**
 * Names become parts of generated names, file names and messages: a name of megabytes would be
 * copied into every node derived from it, so overlong names are refused while loading.
 */
function checkGraphNames(graph: onnx.IGraphProto, where: string): void {
  const check = (name: string | null | undefined, what: string): void => {
    if (name) checkNameLength(name, `${where}: ${what}`);
  };
  check(graph.name, 'graph name');
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) check(v.name, 'value');
  for (const t of graph.initializer ?? []) check(t.name, 'initializer');
  for (const n of graph.node ?? []) {
    check(n.name, 'node');
    check(n.opType, 'operator type');
    for (const v of [...(n.input ?? []), ...(n.output ?? [])]) check(v, `node "${printable(n.name ?? '', 60)}": value`);
  }
}

/**
 * Every graph output must come from somewhere; onnxruntime would otherwise fail with an internal
 * message (for a graph whose nodes were all removed, a multi-line exception).
 */
function checkOutputsProduced(model: Model, where: string): void {
  const g = model.graph;
  const available = new Set<string>([...g.inputNames, ...g.initializers.keys(), ...g.nodes.flatMap((n) => n.outputs)]);
  for (const name of g.outputNames) {
    if (!available.has(name)) {
      throw new ReconError(
        `${where}: graph output "${printable(name)}" is not computed by any node (the graph has ${g.nodes.length} nodes) nor a graph input or initializer`,
      );
    }
  }
}

/** Largest size accepted for one fixed dimension of a graph input (2^31: bigger is a corrupt field, not a model). */
const MAX_INPUT_DIM = 2 ** 31;

/**
 * Fixed graph-input dimensions become the shapes of the zero tensors and batches recon
 * allocates; a negative or absurd one is a corrupt model, said here rather than as an allocation
 * failure later. -1 is read as "unknown", as some exporters write it.
 */
function checkGraphInputDims(model: Model, where: string): void {
  for (const input of model.graph.feedInputs) {
    const dims = tensorTypeOf(input)?.dims;
    if (!dims) continue;
    for (const d of dims) {
      if (typeof d !== 'number' || d === -1) continue;
      if (!Number.isSafeInteger(d) || d < 0 || d > MAX_INPUT_DIM) {
        const shown = dims.map((x) => (x === null ? '?' : String(x))).join(',');
        throw new ReconError(`${where}: graph input "${printable(input.name ?? '')}" has invalid dimension ${d} in shape [${shown}]`);
      }
    }
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
}
