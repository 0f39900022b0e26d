import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDataset } from '../../src/data/dataset.js';
import { randomTwoTaskArrays } from './helpers.js';
import { resolveTasks } from '../../src/analysis/task-spec.js';
import { runScan, type ScanConfig } from '../../src/conflict/scan.js';
import { runAblation, type AblationHooks, type AblationOptions } from '../../src/ablate/run.js';
import type { AblationTable } from '../../src/ablate/table.js';
import { isReconError } from '../../src/util/errors.js';
import type { ConflictReport } from '../../src/report/schema.js';
import { referenceModel } from '../../models/reference-models.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-ablate-lib-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const model = referenceModel('cnn').build({ opset: 17 });
const tasks = resolveTasks(model, { outputs: ['T1', 'T2'] });
const data = (split: 'train' | 'test', seed: number) => makeDataset(randomTwoTaskArrays(64, seed), split);
const training: ScanConfig = {
  modelPath: 'cnn',
  dataPath: 'train',
  steps: 2,
  batchSize: 32,
  seed: 0,
  shuffle: true,
  optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0, milestones: [], gamma: 0.1 },
  method: 'ew',
  S: [0],
  batchNorm: 'train',
  device: 'cpu',
};

describe('runAblation', () => {
  it('an interrupted ablation writes a partial table and a rerun trains only the missing runs', async () => {
    const train = data('train', 1);
    const { report } = await runScan(model, tasks, train, { ...training, optimizer: { ...training.optimizer, kind: 'none' } });
    const options: AblationOptions = {
      model,
      modelPath: 'cnn',
      tasks,
      report: report as ConflictReport,
      reportPath: 'scan',
      train,
      evalData: data('test', 2),
      budgets: [{ kind: 'top-k', k: 3 }],
      controls: ['last'],
      seeds: [0, 1],
      training,
      outDir: join(dir, 'out'),
    };
    const trained: string[] = [];
    let calls = 0;
    // The third training is stopped after its first of two steps, as Ctrl-C does.
    const stopThird: AblationHooks = {
      train: (m, t, d, c, label) => {
        calls++;
        const stop = calls === 3;
        if (!stop) trained.push(label);
        return runScan(m, t, d, c, { shouldStop: () => stop });
      },
    };
    let error: unknown;
    try {
      await runAblation(options, stopThird);
    } catch (e) {
      error = e;
    }
    expect(isReconError(error)).toBe(true);
    expect((error as Error).message).toMatch(/training of last-k3 seed 0 stopped .* run the same command again/);
    const partial = JSON.parse(readFileSync(join(dir, 'out', 'ablation.json'), 'utf8')) as AblationTable;
    expect(partial.partial).toBe(true);
    expect(partial.rows.map((r) => `${r.variant} seed ${r.seed}`)).toEqual(['joint seed 0', 'recon-k3 seed 0']);
    expect(trained).toEqual(['joint seed 0', 'recon-k3 seed 0']);

    trained.length = 0;
    const table = await runAblation(options, {
      train: (m, t, d, c, label) => {
        trained.push(label);
        return runScan(m, t, d, c);
      },
    });
    expect(trained).toEqual(['last-k3 seed 0', 'joint seed 1', 'recon-k3 seed 1', 'last-k3 seed 1']);
    expect(table.partial).toBe(false);
    expect(table.rows).toHaveLength(6);
    expect(table.rows.slice(0, 2).map((r) => ({ ...r, seconds: 0 }))).toEqual(partial.rows.map((r) => ({ ...r, seconds: 0 })));
    // Joint's Δm against itself is 0; its summary has no reduction of its own conflicts.
    expect(table.rows.filter((r) => r.kind === 'joint').map((r) => r.deltaMPct)).toEqual([0, 0]);
    expect(table.summary.find((s) => s.kind === 'joint')!.severeReductionPct).toBeNull();
  });
});
