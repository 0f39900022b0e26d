import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { saveModel } from '../../src/onnx/index.js';
import { cudaStatus } from '../../src/runtime/cuda.js';
import { RuntimeSession, type SessionOptions } from '../../src/runtime/session.js';
import { referenceModel } from '../../models/reference-models.js';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-settings-'));
const model = join(dir, 'mlp.onnx');
const tasks = join(dir, 'mlp.tasks.json');
const data = 'test/fixtures/grads/mlp_op17_train.npz';
saveModel(referenceModel('mlp').build({ opset: 17 }), model);
writeFileSync(tasks, JSON.stringify(referenceModel('mlp').tasks));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** A two-step training scan of the MLP with extra flags. */
const scan = (...extra: string[]) => cli('scan', model, '--tasks', tasks, '--data', data, '--steps', '2', '--batch-size', '4', ...extra);

describe('scan, train and run pass every runtime setting to their sessions', () => {
  it('--opt-level and --threads reach every onnxruntime session of a training scan', async () => {
    const seen: SessionOptions[] = [];
    const create = RuntimeSession.create.bind(RuntimeSession);
    vi.spyOn(RuntimeSession, 'create').mockImplementation(async (bytes, options) => {
      seen.push(options ?? {});
      return create(bytes, options);
    });
    const r = await scan('--opt-level', 'basic', '--threads', '1', '-o', join(dir, 'r.json'));
    expect(r.code, r.stderr).toBe(0);
    const gradientSessions = seen.filter((o) => o.device !== undefined);
    expect(gradientSessions.length).toBeGreaterThan(0);
    for (const o of gradientSessions) {
      expect(o.graphOptimizationLevel).toBe('basic');
      expect(o.intraOpThreads).toBe(1);
    }
  });

  // A machine with a working CUDA provider (never CI) does not fall back.
  it.skipIf(cudaStatus().fix === undefined)('--device auto without a CUDA provider says it falls back to the CPU', async () => {
    const r = await cli('scan', model, '--tasks', tasks, '--data', data, '--steps', '1', '--batch-size', '4', '--device', 'auto', '-o', join(dir, 'a.json'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: CUDA execution provider unavailable \(.*\); running on CPU/);
  });

  it('--update chooses where the training update runs, and the path taken is printed', async () => {
    for (const [mode, said] of [
      ['graph', 'in the graph'],
      ['host', 'on the host'],
    ] as const) {
      const r = await scan('--update', mode, '-o', join(dir, `u-${mode}.json`));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`training update ran ${said}`);
    }
    const bad = await cli('scan', model, '--tasks', tasks, '--data', data, '--update', 'gpu', '-o', join(dir, 'u.json'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--update must be auto, host or graph, got "gpu"/);
  });
});
