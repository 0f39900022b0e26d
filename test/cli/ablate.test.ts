import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, saveModel } from '../../src/onnx/index.js';
import { writeNpz } from '../../src/data/npz.js';
import { randomTwoTaskArrays } from '../ablate/helpers.js';
import { countMacs, countParameters } from '../../src/rewrite/cost.js';
import { inferShapes } from '../../src/analysis/shapes.js';
import { readConflictReport } from '../../src/report/io.js';
import type { AblationTable } from '../../src/ablate/table.js';
import { referenceModel } from '../../models/reference-models.js';
import { cli } from './helpers.js';

// The cnn reference model's shared layers in network order (models/cnn.ts).
const CNN_ORDER = ['conv1', 'bn1', 'conv2', 'bn2', 'conv3', 'bn3', 'fc'];

const dir = mkdtempSync(join(tmpdir(), 'recon-ablate-'));
const p = (f: string) => join(dir, f);
const model = p('cnn.onnx');
const tasks = p('cnn.tasks.json');
let train = '';
let test = '';
beforeAll(async () => {
  saveModel(referenceModel('cnn').build({ opset: 17 }), model);
  writeFileSync(tasks, JSON.stringify(referenceModel('cnn').tasks));
  train = p('train.npz');
  test = p('test.npz');
  writeNpz(train, randomTwoTaskArrays(128, 1));
  writeNpz(test, randomTwoTaskArrays(128, 2));
  const scan = await cli('scan', model, '--tasks', tasks, '--data', train, '--steps', '4', '--batch-size', '32', '-o', p('report.json'));
  expect(scan.code, scan.stderr).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const common = () => ['--tasks', tasks, '--scores', p('report.json'), '--data', train, '--eval', test, '--steps', '2', '--batch-size', '32'];
const readTable = (out: string): AblationTable => JSON.parse(readFileSync(join(out, 'ablation.json'), 'utf8')) as AblationTable;
const trainedRuns = (stderr: string): string[] => [...stderr.matchAll(/^training (\S+ seed \d+) from scratch/gm)].map((m) => m[1]!);

describe('recon ablate', () => {
  it('trains joint, Recon and the controls per seed; the table matches independent counts and formulas; reruns resume', async () => {
    const out = p('out');
    const args = ['ablate', model, ...common(), '--top-k', '2', '--seeds', '0,1', '--save-models', '-o', out];
    const first = await cli(...args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Δm%/);
    expect(first.stderr).toMatch(/\[1\/12\] joint seed 0 \(ETA after the first run\)/);
    expect(first.stderr).toMatch(/\[2\/12\] recon-k2 seed 0 \(ETA \d+s for the runs left\)/);
    const table = readTable(out);
    expect(table.partial).toBe(false);
    expect(table.variants.map((v) => v.id)).toEqual(['joint', 'recon-k2', 'rsl-k2', 'rsp-k2', 'first-k2', 'last-k2']);
    const layersOf = (id: string) => table.variants.find((v) => v.id === id)!.layers;

    // Recon: the two best scores at the report's first S, ties in network order.
    const report = readConflictReport(p('report.json'));
    const byScore = report.layers
      .map((l, i) => ({ name: l.name, score: l.scores[0]!.score, i }))
      .sort((a, b) => b.score - a.score || a.i - b.i)
      .slice(0, 2)
      .map((l) => l.name);
    expect(layersOf('recon-k2')).toEqual(byScore);
    expect(layersOf('first-k2')).toEqual(CNN_ORDER.slice(0, 2));
    expect(layersOf('last-k2')).toEqual(CNN_ORDER.slice(-2));
    expect(layersOf('rsl-k2')).toHaveLength(2);
    expect([...layersOf('rsl-k2')].sort()).not.toEqual([...byScore].sort());
    // Two tasks: branching a layer adds its parameters once. RSP stays within Recon's cost.
    const added = (names: string[]) => names.reduce((n, name) => n + report.layers.find((l) => l.name === name)!.params, 0);
    expect(added(layersOf('rsp-k2'))).toBeLessThanOrEqual(added(byScore));

    expect(table.rows).toHaveLength(12);
    const joint0 = loadModel(join(out, 'models', 'joint.seed0.onnx'));
    expect(countParameters(joint0.graph)).toBe(referenceModel('cnn').expected.parameters);
    for (const row of table.rows) {
      // Parameters and MACs of the table against the trained models themselves (a rule independent of the cost model).
      const trained = loadModel(join(out, 'models', `${row.variant}.seed${row.seed}.onnx`));
      expect(row.params, row.variant).toBe(countParameters(trained.graph));
      expect(row.params, row.variant).toBe(referenceModel('cnn').expected.parameters + added(row.layers));
      if (row.seed === 0) {
        const shapes = await inferShapes(trained, { batchSize: 1 });
        expect(row.macs, row.variant).toBe(countMacs(trained.graph, new Map([...shapes.values].map(([k, v]) => [k, v.dims]))));
      }
      // Δm% by hand: both tasks report accuracy (higher is better).
      const joint = table.rows.find((r) => r.kind === 'joint' && r.seed === row.seed)!;
      const acc = (ms: typeof row.metrics, t: string) => ms.find((m) => m.task === t)!.accuracy!;
      const expected =
        (-100 *
          ((acc(row.metrics, 'T1') - acc(joint.metrics, 'T1')) / acc(joint.metrics, 'T1') +
            (acc(row.metrics, 'T2') - acc(joint.metrics, 'T2')) / acc(joint.metrics, 'T2'))) /
        2;
      expect(row.deltaMPct!, row.variant).toBeCloseTo(expected, 9);
      // Conflicts left in the remaining shared layers, from the run's own conflict report.
      const runReport = readConflictReport(join(out, 'runs', `${row.variant}.seed${row.seed}.report.json`));
      expect(runReport.layers.map((l) => l.name)).toEqual(CNN_ORDER.filter((l) => !row.layers.includes(l)));
      expect(row.conflict.sharedLayers).toBe(7 - row.layers.length);
      const h = runReport.trunk.histogram;
      expect(row.conflict.severePct).toBeCloseTo((100 * (h[2]! + h[3]! + h[4]!)) / runReport.trunk.observations, 9);
      expect(row.conflict.conflictPct).toBeCloseTo((100 * (h[1]! + h[2]! + h[3]! + h[4]!)) / runReport.trunk.observations, 9);
      expect(row.steps).toBe(2);
    }
    // Summary: Δm of the mean accuracies.
    const mean = (id: string, t: string) =>
      table.rows.filter((r) => r.variant === id).reduce((s, r) => s + r.metrics.find((m) => m.task === t)!.accuracy!, 0) / 2;
    const reconSummary = table.summary.find((s) => s.variant === 'recon-k2')!;
    const expectedMean =
      (-100 * ((mean('recon-k2', 'T1') - mean('joint', 'T1')) / mean('joint', 'T1') + (mean('recon-k2', 'T2') - mean('joint', 'T2')) / mean('joint', 'T2'))) /
      2;
    expect(reconSummary.deltaMPct!).toBeCloseTo(expectedMean, 9);
    expect(reconSummary.seeds).toEqual([0, 1]);

    const csv = readFileSync(join(out, 'ablation.csv'), 'utf8').trimEnd().split('\r\n');
    expect(csv).toHaveLength(1 + 12 + 6);
    const header = csv[0]!.split(',');
    const reconRow = csv[1 + 1]!.split(',');
    expect(reconRow[header.indexOf('variant')]).toBe('recon-k2');
    expect(Number(reconRow[header.indexOf('T1_accuracy')])).toBe(table.rows[1]!.metrics[0]!.accuracy);

    // A rerun reuses every finished run; a deleted run is the only one trained again.
    const again = await cli(...args);
    expect(again.code, again.stderr).toBe(0);
    expect(trainedRuns(again.stderr)).toEqual([]);
    expect(readTable(out).rows).toEqual(table.rows);
    rmSync(join(out, 'runs', 'rsl-k2.seed1.json'));
    const resumed = await cli(...args);
    expect(trainedRuns(resumed.stderr)).toEqual(['rsl-k2 seed 1']);
    // Training is deterministic: the retrained run gives the same row (wall time aside).
    const retrained = readTable(out).rows.find((r) => r.variant === 'rsl-k2' && r.seed === 1)!;
    expect({ ...retrained, seconds: 0 }).toEqual({ ...table.rows.find((r) => r.variant === 'rsl-k2' && r.seed === 1)!, seconds: 0 });

    // Other training settings: nothing is reused.
    const changed = await cli('ablate', model, ...common(), '--top-k', '2', '--seeds', '0', '--controls', 'last', '--lr', '0.05', '-o', out);
    expect(changed.code, changed.stderr).toBe(0);
    expect(trainedRuns(changed.stderr)).toEqual(['joint seed 0', 'recon-k2 seed 0', 'last-k2 seed 0']);
    expect(changed.stderr).toMatch(/made with other settings/);
  });

  it('refuses bad options with one line before any training', async () => {
    const out = p('never');
    const cases: [string[], RegExp][] = [
      [['--top-k', '2', '--k', '3'], /exactly one of --top-k/],
      [['--top-k', '7'], /from 1 to 6/],
      [['--k', '2,0'], /--k must be an integer ≥ 1, got "0"/],
      [['--top-k', '2', '--controls', 'rsl,best'], /--controls takes rsl, rsp, first, last; got "best"/],
      [['--top-k', '2', '--seeds', '0,x'], /--seeds must be an integer ≥ 0 and ≤ 4294967295, got "x"/],
      [['--top-k', '2', '--seeds', '1,1'], /seed is repeated/],
      [['--top-k', '2', '--S', '0.5'], /no scores for S=0.5/],
      [['--param-budget', '-3'], /positive parameter counts or percentages/],
      [['--param-budget', '100%'], /selects all 7 shared layers/],
      [['--top-k', '2', '--optimizer', 'none'], /trains every variant/],
      [['--top-k', '2', '--batch-size', '1000'], /fewer than one batch/],
    ];
    for (const [extra, message] of cases) {
      const r = await cli('ablate', model, ...common(), ...extra, '-o', out);
      expect(r.code, extra.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), extra.join(' ')).toHaveLength(1);
      expect(r.stderr, extra.join(' ')).toMatch(message);
      expect(existsSync(join(out, 'runs')), extra.join(' ')).toBe(false);
    }
    const noEval = await cli('ablate', model, '--tasks', tasks, '--scores', p('report.json'), '--data', train, '--top-k', '2', '-o', out);
    expect(noEval.stderr).toMatch(/--eval test.npz is required/);
    const noOut = await cli('ablate', model, ...common(), '--top-k', '2');
    expect(noOut.stderr).toMatch(/-o out\/ is required/);
  });
});
