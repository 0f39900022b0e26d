import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { onnx } from 'onnx-proto';
import { proto } from './proto.js';
import { Model } from './model.js';
import { ReconError } from '../util/errors.js';
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
      if (statSync(source).isDirectory()) throw new ReconError(`${source}: is a directory, not an ONNX model file`);
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
  const resolveExternal = baseDir
    ? (location: string) => {
        if (isAbsolute(location) || location.split(/[\\/]/).includes('..')) {
          throw new ReconError(`${where}: external data location "${location}" must be a relative path inside the model folder`);
        }
        return resolve(baseDir, location);
      }
    : undefined;
  const model = Model.fromProto(decoded, baseDir, resolveExternal);
  if (options.eagerExternalData) {
    for (const t of model.graph.initializers.values()) if (t.externalSource) t.rawBytes();
  } else {
    checkExternalFiles(model);
  }
  return model;
}

/** Fails early, with the tensor named, when an external data file is missing or too short. */
function checkExternalFiles(model: Model): void {
  const sizes = new Map<string, number>();
  for (const t of model.graph.initializers.values()) {
    const ext = t.externalSource;
    if (!ext) continue;
    let size = sizes.get(ext.path);
    if (size === undefined) {
      try {
        size = statSync(ext.path).size;
      } catch {
        throw new ReconError(`tensor "${t.name}": external data file not found: ${ext.path}`);
      }
      sizes.set(ext.path, size);
    }
    if (ext.offset + ext.length > size) {
      throw new ReconError(`tensor "${t.name}": external data ${ext.path} has ${size} bytes, needs offset ${ext.offset} + length ${ext.length}`);
    }
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
}
