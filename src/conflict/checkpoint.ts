import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { commitRemove, commitRename, temporaryPathFor, writeTextFileAtomic } from '../util/atomic-write.js';
import { ReconError } from '../util/errors.js';
import { readNpz, writeNpz } from '../data/npz.js';
import type { HostTensor } from '../data/host-tensor.js';
import type { OptimizerStateHeader } from './optimizer.js';
import type { ScanCheckpoint } from './scan.js';

/**
 * A scan checkpoint on disk: `<report>.ckpt.json` (counters, hashes, optimizer header) and an
 * arrays file `<report>.ckpt.<digest>.npz` (weights, running statistics, optimizer buffers,
 * recorded cosines and losses in float64 so a resumed scan replays them bit for bit). The
 * combination method's state (a few numbers per task or task pair) goes into the JSON, whose
 * numbers round-trip exactly.
 *
 * The two halves can never pair across steps: the arrays go to a new file named by the first 16
 * hex digits of their sha256, then the JSON — naming that file and its full digest — replaces the
 * old JSON, and only then the previous arrays file is removed. A kill at any point leaves the old
 * pair or the new pair; loading verifies the digest, so a damaged or foreign arrays file is refused.
 */
export function checkpointPaths(reportPath: string): { json: string } {
  return { json: `${reportPath}.ckpt.json` };
}

interface CheckpointHeader {
  version: number;
  configHash: string;
  stepsDone: number;
  /** The arrays file (beside the JSON) and the sha256 of its bytes. */
  arrays: { file: string; sha256: string };
  optimizer: { header: OptimizerStateHeader; buffers: Record<string, number> } | null;
  method?: ScanCheckpoint['method'];
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The arrays file the checkpoint JSON at `json` names, if the JSON is readable. */
function currentArraysFile(json: string): string | undefined {
  try {
    const header = JSON.parse(readFileSync(json, 'utf8')) as Partial<CheckpointHeader>;
    return typeof header.arrays?.file === 'string' ? join(dirname(json), basename(header.arrays.file)) : undefined;
  } catch {
    return undefined;
  }
}

export function saveCheckpoint(reportPath: string, c: ScanCheckpoint): void {
  const { json } = checkpointPaths(reportPath);
  const arrays: Record<string, HostTensor> = {};
  const matrix = (rows: number[][]): HostTensor => {
    const width = rows[0]?.length ?? 0;
    return { dtype: 'float64', dims: [rows.length, width], data: Float64Array.from(rows.flat()) };
  };
  arrays['cosines'] = matrix(c.cosines);
  arrays['whole_trunk'] = matrix(c.wholeTrunk);
  arrays['losses'] = matrix(c.losses);
  for (const [k, v] of Object.entries(c.params)) arrays[`param/${k}`] = { dtype: 'float32', dims: [v.length], data: v };
  for (const [k, v] of Object.entries(c.runningStats)) arrays[`running/${k}`] = { dtype: 'float32', dims: [v.length], data: v };
  const optimizerBuffers: Record<string, number> = {};
  for (const [k, v] of Object.entries(c.optimizer?.buffers ?? {})) {
    arrays[`optimizer/${k}`] = { dtype: 'float32', dims: [v.length], data: v };
    optimizerBuffers[k] = v.length;
  }
  const previous = currentArraysFile(json);
  // Written under a private name, hashed, then renamed to its digest name: no JSON names it yet.
  const staging = temporaryPathFor(`${reportPath}.ckpt.npz`);
  let file: string;
  let sha256: string;
  try {
    // Hashed as it is written: the arrays are not read back.
    const hash = createHash('sha256');
    writeNpz(staging, arrays, { onBytes: (bytes) => hash.update(bytes) });
    sha256 = hash.digest('hex');
    file = `${reportPath}.ckpt.${sha256.slice(0, 16)}.npz`;
    commitRename(staging, file);
  } catch (e) {
    rmSync(staging, { force: true });
    throw e;
  }
  const header: CheckpointHeader = {
    version: c.version,
    configHash: c.configHash,
    stepsDone: c.stepsDone,
    arrays: { file: basename(file), sha256 },
    optimizer: c.optimizer ? { ...c.optimizer, buffers: optimizerBuffers } : null,
    ...(c.method ? { method: c.method } : {}),
  };
  writeTextFileAtomic(json, `${JSON.stringify(header)}\n`);
  // The previous arrays, and arrays of saves killed before their JSON was written.
  const dir = dirname(json);
  const prefix = `${basename(reportPath)}.ckpt.`;
  const stale = readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && /^[0-9a-f]{16}\.npz$/.test(f.slice(prefix.length)))
    .map((f) => join(dir, f));
  for (const old of new Set([...(previous ? [previous] : []), ...stale])) if (old !== file) commitRemove(old);
}

/** Removes a checkpoint (a finished scan's): the JSON first, so no JSON ever names a missing file. */
export function removeCheckpoint(reportPath: string): void {
  const { json } = checkpointPaths(reportPath);
  const arrays = currentArraysFile(json);
  rmSync(json, { force: true });
  if (arrays) rmSync(arrays, { force: true });
}

export function loadCheckpoint(reportPath: string): ScanCheckpoint {
  const { json } = checkpointPaths(reportPath);
  if (!existsSync(json)) {
    throw new ReconError(`no checkpoint next to ${reportPath} (${json}); only scans interrupted by this version can be resumed`);
  }
  let header: CheckpointHeader;
  try {
    header = JSON.parse(readFileSync(json, 'utf8')) as CheckpointHeader;
  } catch {
    throw new ReconError(`${json}: not a readable checkpoint`);
  }
  if (typeof header.arrays?.file !== 'string' || typeof header.arrays.sha256 !== 'string') {
    throw new ReconError(`${json}: checkpoint from an older version (no arrays digest); start the scan again`);
  }
  const npz = join(dirname(json), basename(header.arrays.file));
  if (!existsSync(npz)) throw new ReconError(`${json}: its arrays file ${npz} is missing; start the scan again`);
  if (sha256File(npz) !== header.arrays.sha256) {
    throw new ReconError(`${json}: ${npz} does not match the checkpoint (sha256 differs): refusing to resume from mismatched halves`);
  }
  const arrays = readNpz(npz);
  const rows = (name: string): number[][] => {
    const t = arrays.get(name)!;
    const [n, w] = t.dims as [number, number];
    const data = t.data as Float64Array;
    return Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * w, (i + 1) * w)));
  };
  const prefixed = (prefix: string): Record<string, Float32Array> =>
    Object.fromEntries([...arrays].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v.data as Float32Array]));
  return {
    version: 1,
    configHash: header.configHash,
    stepsDone: header.stepsDone,
    cosines: rows('cosines'),
    wholeTrunk: rows('whole_trunk'),
    losses: rows('losses'),
    params: prefixed('param/'),
    runningStats: prefixed('running/'),
    optimizer: header.optimizer ? { ...header.optimizer, buffers: prefixed('optimizer/') } : undefined,
    ...(header.method ? { method: header.method } : {}),
  };
}
