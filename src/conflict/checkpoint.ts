import { writeTextFileAtomic } from '../util/atomic-write.js';
import { existsSync, readFileSync } from 'node:fs';
import { ReconError } from '../onnx/errors.js';
import { readNpz, writeNpz } from '../data/npz.js';
import type { HostTensor } from '../data/host-tensor.js';
import type { ScanCheckpoint } from './scan.js';

/**
 * A scan checkpoint on disk: `<report>.ckpt.json` (counters, hashes, optimizer header) and
 * `<report>.ckpt.npz` (weights, running statistics, optimizer buffers, recorded cosines and
 * losses in float64 so a resumed scan replays them bit for bit). The combination method's state
 * (a few numbers per task or task pair) goes into the JSON, whose numbers round-trip exactly. The arrays are written first,
 * the JSON last, so a checkpoint is complete whenever its JSON exists.
 */
export function checkpointPaths(reportPath: string): { json: string; npz: string } {
  return { json: `${reportPath}.ckpt.json`, npz: `${reportPath}.ckpt.npz` };
}

export function saveCheckpoint(reportPath: string, c: ScanCheckpoint): void {
  const { json, npz } = checkpointPaths(reportPath);
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
  writeNpz(npz, arrays);
  const header = {
    version: c.version,
    configHash: c.configHash,
    stepsDone: c.stepsDone,
    optimizer: c.optimizer ? { ...c.optimizer, buffers: optimizerBuffers } : null,
    ...(c.method ? { method: c.method } : {}),
  };
  writeTextFileAtomic(json, `${JSON.stringify(header)}\n`);
}

export function loadCheckpoint(reportPath: string): ScanCheckpoint {
  const { json, npz } = checkpointPaths(reportPath);
  if (!existsSync(json) || !existsSync(npz)) {
    throw new ReconError(`no checkpoint next to ${reportPath} (${json}); only scans interrupted by this version can be resumed`);
  }
  const header = JSON.parse(readFileSync(json, 'utf8')) as {
    version: number;
    configHash: string;
    stepsDone: number;
    optimizer: (ScanCheckpoint['optimizer'] & { buffers: Record<string, number> }) | null;
    method?: ScanCheckpoint['method'];
  };
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
