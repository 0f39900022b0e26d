import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, rmSync } from 'node:fs';
import { commitRemove, commitRename, temporaryPathFor, writeAll } from '../util/atomic-write.js';
import { loadModel } from './load.js';
import { basename, dirname, join, resolve } from 'node:path';
import { proto } from './proto.js';
import type { Model } from './model.js';
import type { Tensor } from './tensor.js';

export interface SaveOptions {
  /**
   * Move every initializer of at least this many bytes into one external data file next to the
   * model. Tensors that were external when loaded stay external regardless. Models whose inline
   * tensors would pass protobuf's 2 GB limit are always written with external data.
   */
  externalDataThreshold?: number;
  /**
   * Name of the external data file, relative to the model's folder. Default
   * `<model file name>.<digest>.data`, named by its content (see saveModel).
   */
  externalDataLocation?: string;
}

/** Protobuf cannot serialise messages of 2 GiB or more; stay clear of it. */
const PROTOBUF_LIMIT = 2 ** 31 - 64 * 2 ** 20;
const ALIGNMENT = 64;

/** Serialises a model whose tensors are all inline. */
export function serializeModel(model: Model): Uint8Array {
  return proto.ModelProto.encode(model.toProto()).finish();
}

/** `<model file name>.<16 hex digits>.data`: the data files saveModel names for that model. */
function digestNamedData(path: string): RegExp {
  return new RegExp(`^${basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.[0-9a-f]{16}\\.data$`);
}

/**
 * `<model file name>.data` (the name earlier versions wrote) when the model now at `path` reads
 * it. Another model may name that file too, so it is removed only when this one did; the model
 * is parsed only when such a file exists.
 */
function legacyDataInUse(path: string): string | undefined {
  const legacy = `${path}.data`;
  if (!existsSync(legacy) || !existsSync(path)) return undefined;
  try {
    for (const t of loadModel(path).graph.initializers.values()) if (t.externalSource?.path === legacy) return legacy;
  } catch {
    // not a readable model: nothing of ours to clean up
  }
  return undefined;
}

/**
 * Writes a model and its external data so that no kill leaves a model paired with another
 * version's data: the data goes to a new file named by its content digest
 * (`<model>.<16 hex digits>.data`), renamed into place first — no existing model refers to that
 * name unless it holds the very same bytes — then the model is renamed over the old one, and only
 * then the data file the old model used is removed. Readers see the old pair or the new pair.
 */
export function saveModel(model: Model, path: string, options: SaveOptions = {}): void {
  const target = resolve(path);
  const dir = dirname(target);
  const tensors = [...model.graph.initializers.values()];
  const inlineBytes = tensors.reduce((n, t) => n + (t.externalSource ? 0 : t.byteLength), 0);
  const threshold = options.externalDataThreshold ?? (inlineBytes > PROTOBUF_LIMIT ? 1024 : Infinity);
  const goesExternal = (t: Tensor): boolean => t.dtype !== 'string' && (t.externalSource !== undefined || t.byteLength >= threshold);
  const external = tensors.filter(goesExternal);
  // Bytes still backed by files this save may remove or replace are read now.
  for (const t of external) t.rawBytes();
  const legacyData = legacyDataInUse(target);

  const tmpModel = temporaryPathFor(target);
  const tmpData = temporaryPathFor(join(dir, `${basename(target)}.data`));
  let location: string | undefined;
  try {
    const placement = new Map<Tensor, number>();
    if (external.length > 0) {
      const digest = createHash('sha256');
      const fd = openSync(tmpData, 'w');
      try {
        let offset = 0;
        for (const t of external) {
          const pad = (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
          if (pad > 0) {
            writeAll(fd, new Uint8Array(pad));
            digest.update(new Uint8Array(pad));
            offset += pad;
          }
          placement.set(t, offset);
          const bytes = t.rawBytes();
          writeAll(fd, bytes);
          digest.update(bytes);
          offset += bytes.byteLength;
        }
      } finally {
        closeSync(fd);
      }
      location = options.externalDataLocation ?? `${basename(target)}.${digest.digest('hex').slice(0, 16)}.data`;
      commitRename(tmpData, resolve(dir, location));
    }
    const graph = model.graph.toProto((t) => {
      const offset = placement.get(t);
      return offset === undefined || location === undefined ? t.toProto() : t.toProto({ location, offset });
    });
    const fd = openSync(tmpModel, 'w');
    try {
      writeAll(fd, proto.ModelProto.encode(model.toProto(graph)).finish());
    } finally {
      closeSync(fd);
    }
    commitRename(tmpModel, target);
  } catch (e) {
    rmSync(tmpModel, { force: true });
    rmSync(tmpData, { force: true });
    throw e;
  }
  const current = location === undefined ? undefined : resolve(dir, location);
  // The old model's data, and data files of saves killed before their model was renamed in.
  const own = digestNamedData(target);
  const stale = readdirSync(dir)
    .filter((f) => own.test(f))
    .map((f) => join(dir, f));
  if (legacyData) stale.push(legacyData);
  for (const old of stale) if (old !== current) commitRemove(old);
}
