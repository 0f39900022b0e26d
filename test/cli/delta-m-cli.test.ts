import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/onnx/index.js';
import { writeNpz } from '../../src/data/npz.js';
import { randomTwoTaskArrays } from '../ablate/helpers.js';
import type { TaskMetrics } from '../../src/train/evaluate.js';
import { referenceModel } from '../../models/reference-models.js';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-deltam-'));
const p = (f: string) => join(dir, f);
const model = p('cnn.onnx');
const tasks = p('cnn.tasks.json');
let train = '';
let test = '';
beforeAll(() => {
  saveModel(referenceModel('cnn').build({ opset: 17 }), model);
  writeFileSync(tasks, JSON.stringify(referenceModel('cnn').tasks));
  train = p('train.npz');
  test = p('test.npz');
  writeNpz(train, randomTwoTaskArrays(128, 1));
  writeNpz(test, randomTwoTaskArrays(128, 2));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Δm% by hand for two classification tasks: −mean of the relative accuracy changes. */
function handDeltaM(model: TaskMetrics[], base: TaskMetrics[]): number {
  const acc = (ms: TaskMetrics[], t: string) => ms.find((m) => m.task === t)!.accuracy!;
  return (-100 * ((acc(model, 'T1') - acc(base, 'T1')) / acc(base, 'T1') + (acc(model, 'T2') - acc(base, 'T2')) / acc(base, 'T2'))) / 2;
}

describe('Δm% in recon train and recon run', () => {
  it('recon train --baseline adds Δm against another training’s metrics', async () => {
    const common = ['--tasks', tasks, '--data', train, '--eval', test, '--steps', '3', '--batch-size', '32', '--reinit'];
    expect((await cli('train', model, ...common, '-o', p('a.onnx'))).code).toBe(0);
    const b = await cli('train', model, ...common, '--seed', '1', '--baseline', p('a.onnx.metrics.json'), '-o', p('b.onnx'));
    expect(b.code, b.stderr).toBe(0);
    const base = (JSON.parse(readFileSync(p('a.onnx.metrics.json'), 'utf8')) as { final: TaskMetrics[] }).final;
    const mine = JSON.parse(readFileSync(p('b.onnx.metrics.json'), 'utf8')) as { final: TaskMetrics[]; deltaM: { deltaPct: number } };
    const expected = handDeltaM(mine.final, base);
    expect(mine.deltaM.deltaPct).toBeCloseTo(expected, 9);
    expect(b.stdout).toContain(`Δm% against ${p('a.onnx.metrics.json')}: ${expected.toFixed(2)}`);
    const bad = await cli('train', model, ...common, '--baseline', p('missing.json'), '-o', p('c.onnx'));
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/missing\.json: cannot read metrics/);
  });

  it('recon run --eval reports Δm of the rewritten model against the original', async () => {
    const r = await cli(
      'run',
      model,
      '--tasks',
      tasks,
      '--data',
      train,
      '--eval',
      test,
      '--search-steps',
      '2',
      '--batch-size',
      '32',
      '--top-k',
      '2',
      '-o',
      p('run'),
    );
    expect(r.code, r.stderr).toBe(0);
    const metrics = (f: string) => (JSON.parse(readFileSync(join(p('run'), f), 'utf8')) as { metrics: TaskMetrics[] }).metrics;
    const expected = handDeltaM(metrics('train-recon.json'), metrics('train-original.json'));
    const saved = JSON.parse(readFileSync(join(p('run'), 'delta-m.json'), 'utf8')) as { deltaPct: number };
    expect(saved.deltaPct).toBeCloseTo(expected, 9);
    expect(r.stdout).toContain(`Δm% of the rewritten model against the original: ${expected.toFixed(2)}`);
  });
});
