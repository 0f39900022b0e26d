import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, saveModel } from '../../src/onnx/index.js';
import { Tensor } from '../../src/onnx/tensor.js';
import { writeMultiFashionMnist } from '../../src/data/multi-fashion-mnist.js';
import { readConflictReport } from '../../src/report/io.js';
import { readProvenance } from '../../src/rewrite/provenance.js';
import { referenceModel } from '../../models/reference-models.js';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-pipeline-'));
const model = join(dir, 'cnn.onnx');
const tasks = join(dir, 'cnn.tasks.json');
let train = '';
let test = '';
beforeAll(() => {
  saveModel(referenceModel('cnn').build({ opset: 17 }), model);
  writeFileSync(tasks, JSON.stringify(referenceModel('cnn').tasks));
  ({ train, test } = writeMultiFashionMnist(join(dir, 'data'), { limit: 256, seed: 0 }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const p = (f: string) => join(dir, f);

describe('scan → report → rewrite → verify → compare', () => {
  it('runs end to end on files, with one-line errors for bad input', async () => {
    const scan = await cli('scan', model, '--tasks', tasks, '--data', train, '--steps', '6', '--batch-size', '32', '--record-steps', '-o', p('report.json'));
    expect(scan.stderr).not.toMatch(/error/i);
    expect(scan.code).toBe(0);
    expect(scan.stdout).toMatch(/rank\s+layer/);
    const report = readConflictReport(p('report.json'));
    expect(report.partial).toBe(false);
    expect(report.layers).toHaveLength(7);
    expect(report.cost).toHaveLength(7);
    expect(existsSync(p('report.json.cosines.f32'))).toBe(true);
    expect(existsSync(p('report.json.ckpt.json'))).toBe(false);

    // Any S can be recomputed from the recorded cosines.
    const r = await cli('report', p('report.json'), '--S', '-0.3', '--csv', p('r.csv'), '--html', p('r.html'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/S = -0\.3/);
    expect(readFileSync(p('r.csv'), 'utf8').split('\n')[0]).toMatch(/layer/);
    expect(readFileSync(p('r.html'), 'utf8')).toMatch(/<svg/);

    const rw = await cli(
      'rewrite',
      model,
      '--tasks',
      tasks,
      '--scores',
      p('report.json'),
      '--top-k',
      '2',
      '-o',
      p('cnn.recon.onnx'),
      '--json',
      p('rewrite.json'),
    );
    expect(rw.code).toBe(0);
    expect(rw.stderr).toMatch(/verified/);
    const summary = JSON.parse(readFileSync(p('rewrite.json'), 'utf8')) as { layers: string[]; params: { after: number } };
    expect(summary.layers).toHaveLength(2);
    const prov = readProvenance(loadModel(p('cnn.recon.onnx')));
    expect(JSON.stringify(prov)).toContain(summary.layers[0]!);

    const v = await cli('verify', model, p('cnn.recon.onnx'), '--data', test);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/OK/);

    // A model whose weights differ is caught.
    const broken = loadModel(p('cnn.recon.onnx'));
    const w = broken.graph.initializers.get('fc.weight')!;
    broken.graph.initializers.set(
      'fc.weight',
      Tensor.fromArray(
        'fc.weight',
        'float32',
        w.dims,
        w.data('float32').map((x) => x * 1.5),
      ),
    );
    saveModel(broken, p('broken.onnx'));
    const bad = await cli('verify', model, p('broken.onnx'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/outputs differ/);

    const after = await cli('scan', p('cnn.recon.onnx'), '--tasks', tasks, '--data', train, '--steps', '6', '--batch-size', '32', '-o', p('after.json'));
    expect(after.code).toBe(0);
    const cmp = await cli('compare', p('report.json'), p('after.json'), '--json', p('compare.json'));
    expect(cmp.code).toBe(0);
    expect(cmp.stdout).toMatch(/reduction of severe conflicts/);
  });

  it('rewrite refuses bad requests with one line and writes nothing', async () => {
    const out = p('never.onnx');
    const cases: [string[], RegExp][] = [
      [['--layers', 'conv1', '-o', model], /-o .* is the model .*writing it would destroy an input/],
      [['--layers', 'conv9'], /unknown layer: "conv9" \(closest: conv1, conv2, conv3/],
      [['--layers', 'head1'], /nothing to do: head1 is already task-specific/],
      [['--layers', ''], /empty layer selection|choose layers/],
      [['--scores', p('report.json'), '--max-param-increase', '0.001%'], /budget/],
      [['--scores', p('report.json')], /exactly one of --top-k/],
    ];
    for (const [args, message] of cases) {
      const r = await cli('rewrite', model, '--tasks', tasks, ...(args.includes('-o') ? [] : ['-o', out]), ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
    const before = statSync(model).mtimeMs;
    expect(statSync(model).mtimeMs).toBe(before);
  });

  it('static shards merge to the single-run scores', async () => {
    const common = ['--tasks', tasks, '--data', train, '--steps', '4', '--batch-size', '32', '--optimizer', 'none'];
    expect((await cli('scan', model, ...common, '-o', p('all.json'))).code).toBe(0);
    expect((await cli('scan', model, ...common, '--shard', '1/2', '-o', p('s1.json'))).code).toBe(0);
    expect((await cli('scan', model, ...common, '--shard', '2/2', '-o', p('s2.json'))).code).toBe(0);
    const m = await cli('merge', p('s1.json'), p('s2.json'), '-o', p('merged.json'));
    expect(m.code).toBe(0);
    const scores = (f: string) => readConflictReport(p(f)).layers.map((l) => l.scores);
    expect(scores('merged.json')).toEqual(scores('all.json'));
    const missing = await cli('merge', p('s1.json'), '-o', p('bad.json'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/shard/);
  });

  it('recon run does the whole pipeline and a re-run reuses the finished stages', async () => {
    const args = ['run', model, '--tasks', tasks, '--data', train, '--search-steps', '4', '--batch-size', '32', '--top-k', '2', '-o', p('out')];
    const first = await cli(...args);
    expect(first.code).toBe(0);
    for (const f of ['model.recon.onnx', 'report.json', 'report-rewritten.json', 'compare.json', 'report.html'])
      expect(existsSync(join(p('out'), f))).toBe(true);
    expect(first.stdout).toMatch(/chosen 2 layer\(s\)/);
    expect(first.stdout).toMatch(/MACs\/sample/);
    const second = await cli(...args);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/reusing scan of the original model/);
    expect(second.stderr).toMatch(/reusing the rewritten model/);
    expect(second.stderr).toMatch(/reusing scan of the rewritten model/);
  });
});
