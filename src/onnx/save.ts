import { closeSync, openSync, renameSync, rmSync, writeSync, writeFileSync } from 'node:fs';
import { temporaryPathFor } from '../util/atomic-write.js';
import { basename, dirname, resolve } from 'node:path';
import { proto } from './proto.js';
import type { Model } from './model.js';
import type { Tensor } from './tensor.js';

export interface SaveOptions {
  /**
   * Move every initializer of at least this many bytes into one external data file
   * `<model file name>.data` next to the model. Tensors that were external when loaded stay
   * external regardless. Models whose inline tensors would pass protobuf's 2 GB limit are always
   * written with external data.
   */
  externalDataThreshold?: number;
  /** Name of the external data file, relative to the model's folder. */
  externalDataLocation?: string;
}

/** Protobuf cannot serialise messages of 2 GiB or more; stay clear of it. */
const PROTOBUF_LIMIT = 2 ** 31 - 64 * 2 ** 20;
const ALIGNMENT = 64;

/** Serialises a model whose tensors are all inline. */
export function serializeModel(model: Model): Uint8Array {
  return proto.ModelProto.encode(model.toProto()).finish();
}

/**
 * Writes a model (and its external data file, if any) atomically: both go to temporary files
 * that are renamed into place only once everything is written.
 */
export function saveModel(model: Model, path: string, options: SaveOptions = {}): void {
  const target = resolve(path);
  const dir = dirname(target);
  const location = options.externalDataLocation ?? `${basename(target)}.data`;
  const dataPath = resolve(dir, location);
  const tensors = [...model.graph.initializers.values()];
  const inlineBytes = tensors.reduce((n, t) => n + (t.externalSource ? 0 : t.byteLength), 0);
  const threshold = options.externalDataThreshold ?? (inlineBytes > PROTOBUF_LIMIT ? 1024 : Infinity);
  const goesExternal = (t: Tensor): boolean => t.dtype !== 'string' && (t.externalSource !== undefined || t.byteLength >= threshold);

  // A tensor still backed by the file we are about to replace must be read first.
  for (const t of tensors) if (t.externalSource?.path === dataPath) t.rawBytes();

  const tmpModel = temporaryPathFor(target);
  const tmpData = temporaryPathFor(dataPath);
  const external = tensors.filter(goesExternal);
  try {
    const placement = new Map<Tensor, number>();
    if (external.length > 0) {
      const fd = openSync(tmpData, 'w');
      try {
        let offset = 0;
        for (const t of external) {
          const pad = (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
          if (pad > 0) {
            writeSync(fd, new Uint8Array(pad));
            offset += pad;
          }
          placement.set(t, offset);
          const bytes = t.rawBytes();
          writeSync(fd, bytes);
          offset += bytes.byteLength;
        }
      } finally {
        closeSync(fd);
      }
    }
    const graph = model.graph.toProto((t) => {
      const offset = placement.get(t);
      return offset === undefined ? t.toProto() : t.toProto({ location, offset });
    });
    writeFileSync(tmpModel, proto.ModelProto.encode(model.toProto(graph)).finish());
    if (external.length > 0) renameSync(tmpData, dataPath);
    renameSync(tmpModel, target);
  } catch (e) {
    rmSync(tmpModel, { force: true });
    rmSync(tmpData, { force: true });
    throw e;
  }
}
