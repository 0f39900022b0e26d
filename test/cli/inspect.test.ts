import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, saveModel } from '../../src/onnx/index.js';
import { Node } from '../../src/onnx/node.js';
import { validateInspectReport } from '../../src/analysis/inspect-schema.js';
import { REFERENCE_MODELS } from '../../models/reference-models.js';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-cli-'));
const resnet = join(dir, 'resnet18.onnx');
const mlp = join(dir, 'mlp.onnx');
beforeAll(() => {
  saveModel(REFERENCE_MODELS.find((r) => r.name === 'resnet18')!.build({ opset: 17 }), resnet);
  saveModel(REFERENCE_MODELS.find((r) => r.name === 'mlp')!.build({ opset: 13 }), mlp);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('recon inspect', () => {
  it('prints the table: shared layers in network order, heads, totals', async () => {
    const r = await cli('inspect', resnet);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Shared layers \(41\)/);
    expect(r.stdout).toMatch(/1\s+conv1\s+Conv\s+\[64×1×7×7\]\s+3,136\s+\[1×64×18×18\]/);
    expect(r.stdout).toMatch(/41\s+fc\s+Gemm\s+\[100×512\] \+ \[100\]\s+51,300/);
    expect(r.stdout).toMatch(/Parameters: 11,223,560 total, 11,221,540 shared/);
    expect(r.stdout).toMatch(/T1: 1,010 task-specific/);
  });

  it('--json follows the documented schema', async () => {
    const r = await cli('inspect', resnet, '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { layers: { name: string; shared: boolean }[]; totals: { shared: number } };
    expect(validateInspectReport(doc)).toEqual([]);
    expect(doc.layers.filter((l) => l.shared)).toHaveLength(41);
    expect(doc.totals.shared).toBe(11_221_540);
    // The validator does catch a broken document.
    expect(validateInspectReport({ ...doc, schemaVersion: 2 })).toEqual(['$.schemaVersion: must be 1']);
  });

  it('--outputs picks tasks; an unknown output lists those that exist', async () => {
    const ok = await cli('inspect', mlp, '--outputs', 'T1', '--json');
    expect(JSON.parse(ok.stdout).tasks).toEqual([{ name: 'T1', output: 'T1' }]);
    const bad = await cli('inspect', mlp, '--outputs', 'T3');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('recon inspect: task "T3": the model has no output "T3" (outputs: T1, T2)\n');
  });

  it('bad input gives one line and a non-zero exit, a stack only with --debug', async () => {
    const text = join(dir, 'notes.onnx');
    writeFileSync(text, 'not a model');
    const r = await cli('inspect', text);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^recon inspect: .*notes\.onnx: not an ONNX model/);
    const d = await cli('inspect', text, '--debug');
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/ReconError: .*not an ONNX model[\s\S]*\n\s+at /);
  });

  it('a graph with a cycle', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    b.graph.nodes.push(new Node({ name: 'a', opType: 'Add', inputs: [x, 'v2'], outputs: ['v1'] }));
    b.graph.nodes.push(new Node({ name: 'b', opType: 'Relu', inputs: ['v1'], outputs: ['v2'] }));
    b.output('v2', 'float32', [2]);
    const p = join(dir, 'cycle.onnx');
    saveModel(b.model(17), p);
    const r = await cli('inspect', p);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('recon inspect: graph has a cycle through 2 node(s): a, b\n');
  });

  it('usage errors', async () => {
    expect((await cli('inspect')).code).toBe(2);
    const r = await cli('inspect', mlp, '--frobnicate');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown option --frobnicate/);
    expect((await cli('nope')).stderr).toMatch(/unknown command "nope"/);
    const help = await cli('inspect', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: recon inspect model\.onnx/);
  });
});
