/**
 * `recon run` and `recon report` with the graph view, on the corpus U-Net (a real, fast scan):
 * both graphs in report.html, the standalone SVG, the Markdown summary, and what happens when the
 * model is missing.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConflictReport } from '../../src/report/io.js';
import { cli } from './helpers.js';

const UNET = 'test/fixtures/corpus/unet';
const dir = mkdtempSync(join(tmpdir(), 'recon-report-graph-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (f: string): string => join(dir, f);

describe('report graph view from the CLI', () => {
  it('run draws the original and the rewritten graph; report writes SVG and Markdown; a missing model is said', async () => {
    const model = p('unet.onnx');
    copyFileSync(join(UNET, 'unet_op17_train_nofold.onnx'), model);
    const out = p('out');
    const run = await cli(
      'run',
      model,
      '--tasks',
      join(UNET, 'unet.tasks.json'),
      '--data',
      join(UNET, 'batch.npz'),
      '--search-steps',
      '8',
      '--batch-size',
      '2',
      '--top-k',
      '2',
      '--record-steps',
      '-o',
      out,
    );
    expect(run.stderr).not.toMatch(/warning|error/i);
    expect(run.code).toBe(0);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('data-graph="original"');
    expect(html).toContain('data-graph="rewritten"');
    const before = readConflictReport(join(out, 'report.json'));
    const chosen = before.layers.filter((l) => l.scores[before.settings.S.indexOf(-0.02)]!.rank <= 2).map((l) => l.name);
    // Each chosen layer has one copy per task in the rewritten graph, with per-step cosines in its tooltip.
    for (const name of chosen) for (const task of ['seg', 'depth']) expect(html).toContain(`&quot;label&quot;:&quot;${name}__${task}&quot;`);
    expect(html).toContain('&quot;kind&quot;:&quot;step-cosine&quot;');

    // The rewritten scan against the original: SVG, HTML and Markdown, the model found via the report.
    const after = join(out, 'report-rewritten.json');
    const r = await cli(
      'report',
      after,
      '--before',
      join(out, 'report.json'),
      '--graph-svg',
      p('g.svg'),
      '--html',
      p('r.html'),
      '--format',
      'md',
      '-o',
      p('s.md'),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const svg = readFileSync(p('g.svg'), 'utf8');
    expect(svg.startsWith('<?xml')).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(svg).not.toContain('<script');
    expect(svg.match(/class="gnode [^"]*copy/g)!.length).toBeGreaterThanOrEqual(2 * chosen.length);
    const md = readFileSync(p('s.md'), 'utf8');
    expect(md).toContain('before | after');
    expect(md).toContain('[Full report with the conflict graph](r.html)');

    // Without the model the page says so, and a warning says why; --graph-svg refuses.
    rmSync(join(out, 'model.recon.onnx'));
    const missing = await cli('report', after, '--html', p('m.html'));
    expect(missing.code).toBe(0);
    expect(missing.stderr).toMatch(/^warning: no graph view: the model file .*model\.recon\.onnx named by the report was not found/);
    expect(readFileSync(p('m.html'), 'utf8')).toContain('No model graph: the model file');
    const refused = await cli('report', after, '--graph-svg', p('x.svg'));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/--graph-svg needs the model/);
    expect(existsSync(p('x.svg'))).toBe(false);
    const bad = await cli('report', after, '--html', p('y.html'), '--model', p('nope.onnx'));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--model .*nope\.onnx: file not found/);
    expect(existsSync(p('y.html'))).toBe(false);
    // --model with the original model given explicitly: drawn, with a warning that it is not the scanned one.
    const other = await cli('report', after, '--html', p('z.html'), '--model', model);
    expect(other.code).toBe(0);
    expect(other.stderr).toMatch(/differs from the model the report scanned/);
  });
});
