/**
 * The package as a user gets it: `npm pack`, installed into an empty project (with onnxruntime's
 * CUDA download skipped), then the `recon` binary and every public entry of the library.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { referenceModel } from '../../models/reference-models.js';
import { saveModel } from '../../src/onnx/index.js';

const ROOT = resolve('.');
const work = mkdtempSync(join(tmpdir(), 'recon-package-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_audit: 'false', npm_config_fund: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('the installed npm package', () => {
  it('installs into an empty project; `recon` runs and every public entry imports', async () => {
    // `npm pack` runs `prepare`, so dist/ is rebuilt from the current sources.
    run('npm', ['pack', '--pack-destination', work], ROOT);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
    expect(tarball).toBeDefined();
    const listing = run('tar', ['tzf', join(work, tarball)], work).split('\n');
    // .gitignore's `data/` once kept src/data out of the tarball.
    expect(listing).toContain('package/dist/src/data/npz.js');
    expect(listing.some((f) => f.startsWith('package/test/') || f.startsWith('package/src/'))).toBe(false);

    const project = join(work, 'project');
    run('mkdir', ['-p', project], work);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', type: 'module' }));
    run('npm', ['install', join(work, tarball), '--prefer-offline'], project);

    expect(run('npx', ['recon', '--help'], project)).toMatch(/usage: recon <command>/);
    const modelPath = join(project, 'mlp.onnx');
    saveModel(referenceModel('mlp').build({ opset: 17 }), modelPath);
    expect(run('npx', ['recon', 'inspect', modelPath], project)).toMatch(/Parameters: 1,864 total/);

    const expected = Object.keys(await import('../../src/index.js')).sort();
    const script = "import('recon-onnx').then((m) => console.log(JSON.stringify(Object.keys(m).sort())))";
    const installed = JSON.parse(run('node', ['--input-type=module', '-e', script], project)) as string[];
    expect(installed).toEqual(expected);

    // recon-onnx/report: reading and rendering reports without loading onnxruntime's native binding.
    const reportExpected = Object.keys(await import('../../src/report/index.js')).sort();
    const reportScript = [
      "import { createRequire } from 'node:module';",
      "const m = await import('recon-onnx/report');",
      'const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes("onnxruntime"));',
      'console.log(JSON.stringify({ keys: Object.keys(m).sort(), loaded }));',
    ].join('\n');
    const report = JSON.parse(run('node', ['--input-type=module', '-e', reportScript], project)) as { keys: string[]; loaded: string[] };
    expect(report.keys).toEqual(reportExpected);
    expect(report.keys).toContain('readConflictReport');
    expect(report.loaded).toEqual([]);
    // The main entry does load it (what the check above would see if the report entry pulled it in).
    const mainScript = reportScript.replace("'recon-onnx/report'", "'recon-onnx'");
    expect((JSON.parse(run('node', ['--input-type=module', '-e', mainScript], project)) as { loaded: string[] }).loaded.length).toBeGreaterThan(0);
  }, 240_000);
});
