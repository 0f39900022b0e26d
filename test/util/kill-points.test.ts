/**
 * A kill at every commit step of a multi-file output (simulated in-process: the commit hook throws
 * before the k-th rename or removal, as if the process died there) must leave on disk either the
 * old complete version or the new complete version — never a model paired with another version's
 * external data, never checkpoint halves from different steps.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadCheckpoint, saveCheckpoint } from '../../src/conflict/checkpoint.js';
import type { ScanCheckpoint } from '../../src/conflict/scan.js';
import { GraphBuilder, loadModel, saveModel, type Model } from '../../src/onnx/index.js';
import { commitHooks } from '../../src/util/atomic-write.js';
import { acquireOutputLock } from '../../src/util/lock.js';

const root = mkdtempSync(join(tmpdir(), 'recon-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => {
  commitHooks.beforeCommit = undefined;
});

class Killed extends Error {}

/** Runs `action` with a kill before commit step `k` (none if k < 0); returns the number of steps seen. */
function killAt(k: number, action: () => void): number {
  let step = 0;
  commitHooks.beforeCommit = () => {
    if (step++ === k) throw new Killed(`killed before commit step ${k}`);
  };
  try {
    action();
  } catch (e) {
    if (!(e instanceof Killed)) throw e;
  } finally {
    commitHooks.beforeCommit = undefined;
  }
  return step;
}

function model(fill: number): Model {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [4]);
  // Each version lays its data file out differently, so a model read against another version's
  // data would find its tensors at the wrong offsets (and fail the uniformity check below).
  const n = 192 + 64 * fill;
  b.initializer('w1', 'float32', [n], new Float32Array(n).fill(fill));
  b.initializer('w2', 'float32', [128], new Float32Array(128).fill(fill * 2));
  b.output(b.op1('Add', [x, b.op1('ReduceSum', ['w1'], { keepdims: 0 })]), 'float32', [4]);
  return b.model(17); // w2 is unused by the graph but, like any initializer, must round-trip
}

/** The fill value of every tensor of the model at `path`, reading its external data as it is paired. */
function fills(path: string): number[] {
  const m = loadModel(path);
  return ['w1', 'w2'].map((name) => {
    const data = m.graph.initializers.get(name)!.data('float32');
    expect(new Set(data).size, `${name} is uniform`).toBe(1);
    return name === 'w2' ? data[0]! / 2 : data[0]!;
  });
}

describe('kill at every commit step', () => {
  it('saveModel with external data: the old pair or the new pair, never mixed', () => {
    const steps = killAt(-1, () => {
      const dir = mkdtempSync(join(root, 'count-'));
      saveModel(model(1), join(dir, 'm.onnx'), { externalDataThreshold: 64 });
      saveModel(model(2), join(dir, 'm.onnx'), { externalDataThreshold: 64 });
    });
    expect(steps).toBeGreaterThanOrEqual(5); // v1: data, model; v2: data, model, old-data removal
    for (let k = 2; k < steps; k++) {
      const dir = mkdtempSync(join(root, `model-${k}-`));
      const path = join(dir, 'm.onnx');
      saveModel(model(1), path, { externalDataThreshold: 64 });
      killAt(k - 2, () => saveModel(model(2), path, { externalDataThreshold: 64 }));
      const seen = fills(path);
      expect([
        [1, 1],
        [2, 2],
      ]).toContainEqual(seen);
      // Whatever was left, the next save succeeds and leaves exactly one data file.
      saveModel(model(3), path, { externalDataThreshold: 64 });
      expect(fills(path)).toEqual([3, 3]);
      expect(readdirSync(dir).filter((f) => f.endsWith('.data'))).toHaveLength(1);
    }
  });

  it('checkpoints: resume sees one whole step, and refuses halves that do not belong together', () => {
    const checkpoint = (step: number): ScanCheckpoint => ({
      version: 1,
      configHash: 'h',
      stepsDone: step,
      cosines: [[step / 10]],
      wholeTrunk: [[step / 20]],
      losses: [[step, step + 1]],
      params: { w: new Float32Array(64).fill(step) },
      runningStats: {},
      optimizer: undefined,
    });
    const dir = mkdtempSync(join(root, 'ckpt-count-'));
    const steps = killAt(-1, () => saveCheckpoint(join(dir, 'r.json'), checkpoint(1)));
    expect(steps).toBeGreaterThanOrEqual(2);
    for (let k = 0; k < steps + 2; k++) {
      const d = mkdtempSync(join(root, `ckpt-${k}-`));
      const report = join(d, 'r.json');
      saveCheckpoint(report, checkpoint(1));
      killAt(k, () => saveCheckpoint(report, checkpoint(2)));
      const loaded = loadCheckpoint(report);
      expect([1, 2]).toContain(loaded.stepsDone);
      expect(loaded.params['w']![0]).toBe(loaded.stepsDone);
      expect(loaded.losses[0]![0]).toBe(loaded.stepsDone);
    }
    // Halves from different steps: an old JSON beside a newer arrays file is refused, not resumed.
    const d = mkdtempSync(join(root, 'ckpt-mixed-'));
    const report = join(d, 'r.json');
    saveCheckpoint(report, checkpoint(1));
    const oldJson = readFileSync(`${report}.ckpt.json`, 'utf8');
    saveCheckpoint(report, checkpoint(2));
    writeFileSync(`${report}.ckpt.json`, oldJson);
    expect(() => loadCheckpoint(report)).toThrow(/arrays file .* is missing/);
    // A damaged arrays file is refused by its digest.
    saveCheckpoint(report, checkpoint(3));
    const npz = readdirSync(d).find((f) => f.endsWith('.npz'))!;
    const bytes = readFileSync(join(d, npz));
    bytes[bytes.length - 30]! ^= 0xff;
    writeFileSync(join(d, npz), bytes);
    expect(() => loadCheckpoint(report)).toThrow(/sha256 differs/);
  });
});

describe('one writer per output', () => {
  it('a second writer is refused with the holder named; a stale lock is taken over with a warning', () => {
    const out = join(root, 'locked.json');
    const release = acquireOutputLock(out, 'recon scan');
    expect(() => acquireOutputLock(out, 'recon scan')).toThrow(new RegExp(`being written by recon scan \\(pid ${process.pid} on `));
    release();
    const again = acquireOutputLock(out, 'recon scan');
    again();
    // A lock left by a process that no longer exists (pid 2^22 + 1 is beyond Linux's pid range).
    writeFileSync(`${out}.lock`, JSON.stringify({ pid: 4194305, host: hostname(), command: 'recon scan', since: 'then' }));
    const warnings: string[] = [];
    const taken = acquireOutputLock(out, 'recon scan', (m) => warnings.push(m));
    expect(warnings.join('\n')).toMatch(/taking over the stale lock .*locked\.json\.lock \(pid 4194305 is no longer running\)/);
    taken();
  });
});
