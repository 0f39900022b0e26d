import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, saveModel } from '../../src/onnx/index.js';
import { referenceModel } from '../../models/reference-models.js';
import { cli } from './helpers.js';
import { writeNpz } from '../../src/data/npz.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-validate-'));
const p = (f: string): string => join(dir, f);
const model = p('cnn.onnx');
const tasks = p('cnn.tasks.json');
const data = p('data.npz');

/** Every file under dir with its sha256: inputs must come out of every refused run unchanged. */
function snapshot(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const f = join(d, name);
      const s = statSync(f);
      if (s.isDirectory()) walk(f);
      else if (s.isFile()) out.set(f, createHash('sha256').update(readFileSync(f)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

beforeAll(() => {
  const cnn = referenceModel('cnn');
  saveModel(cnn.build({ opset: 17 }), model);
  writeFileSync(tasks, JSON.stringify(cnn.tasks));
  writeFileSync(data, 'not used: every case is refused before data is read');
  // a.onnx keeps its weights in b.onnx.data; e.onnx in e.onnx.data.
  saveModel(loadModel(model), p('e.onnx'), { externalDataThreshold: 16 });
  saveModel(loadModel(model), p('a.onnx'), { externalDataThreshold: 16, externalDataLocation: 'b.onnx.data' });
  symlinkSync(model, p('link.onnx'));
  mkdirSync(p('real'));
  symlinkSync(p('real'), p('via'));
  writeFileSync(p('real/r.onnx'), readFileSync(model));
  mkdirSync(p('folder'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One refused run: exit 1, one stderr line matching `message`, no stack, and nothing on disk changed. */
async function refused(args: string[], message: RegExp): Promise<void> {
  const before = snapshot();
  const r = await cli(...args);
  const shown = args.join(' ');
  expect(r.code, shown).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, `${shown}\n${r.stderr}`).toHaveLength(1);
  expect(r.stderr, shown).toMatch(message);
  expect(r.stderr, shown).not.toMatch(/internal error|\n\s+at /);
  expect(snapshot(), shown).toEqual(before);
}

describe('outputs never resolve to an input', () => {
  it('refuses outputs that are the model, the data, the task spec or a report, before any work', async () => {
    const common = ['--tasks', tasks, '--data', data];
    await refused(['grads', model, ...common, '--json', model], /--json .*cnn\.onnx is the model/);
    await refused(['grads', model, ...common, '--json', data], /--json .* is --data/);
    await refused(['inspect', model, '--json-out', model], /--json-out .* is the model/);
    // Only where a flag would lift the refusal does the message name it.
    await refused(['scan', model, ...common, '-o', model], /-o .* is the model .*choose another path\s*$/);
    await refused(['scan', model, ...common, '-o', data], /-o .* is --data/);
    await refused(['scan', model, ...common, '--save-trained', model], /--save-trained .* is the model/);
    await refused(['rewrite', model, '--tasks', tasks, '--layers', 'conv1', '-o', tasks], /-o .* is --tasks .*choose another path\s*$/);
    await refused(['rewrite', model, '--tasks', tasks, '--layers', 'conv1', '--json', model], /--json .* is the model/);
    await refused(['train', model, ...common, '-o', p('t.onnx'), '--metrics', tasks], /--metrics .* is --tasks/);
    await refused(['scan', model, ...common, '-o', p('same.json'), '--save-trained', p('same.json')], /is also -o/);
  });

  it('sees through symbolic links to files and folders, and through other spellings of a path', async () => {
    const common = ['--tasks', tasks, '--layers', 'conv1'];
    await refused(
      ['rewrite', p('link.onnx'), ...common, '-o', model],
      /-o .* is the model .*choose another path \(or --force to rewrite the model in place\)\s*$/,
    );
    await refused(['rewrite', p('via/r.onnx'), ...common, '-o', p('real/r.onnx')], /-o .* is the model/);
    await refused(['rewrite', model, ...common, '-o', `${dir}/./folder/../cnn.onnx`], /-o .* is the model/);
  });

  it("refuses outputs that would replace a model's external data, directly or as the output's own sidecar", async () => {
    const common = ['--tasks', tasks, '--layers', 'conv1'];
    const eData = p(readdirSync(dir).find((f) => f.startsWith('e.onnx.') && f.endsWith('.data'))!);
    await refused(['rewrite', p('e.onnx'), ...common, '-o', eData], /-o .*e\.onnx\.[0-9a-f]{16}\.data is the external data of/);
    // a.onnx reads b.onnx.data: writing b.onnx would write b.onnx.data beside it.
    await refused(['rewrite', p('a.onnx'), ...common, '-o', p('b.onnx')], /would replace the external data of .*a\.onnx/);
    await refused(['inspect', p('e.onnx'), '--json-out', eData], /is the external data of/);
  });
});

describe('output locations are checked before any work', () => {
  it('refuses a folder, a missing folder, a special file and /proc', async () => {
    const common = ['--tasks', tasks, '--data', data];
    await refused(['grads', model, ...common, '--json', p('folder')], /--json .*folder is a folder; give a file name/);
    await refused(['grads', model, ...common, '--json', p('missing/x.json')], /folder .*missing does not exist/);
    await refused(['scan', model, ...common, '--save-trained', p('missing/t.onnx')], /--save-trained .*folder .*missing does not exist/);
    await refused(['rewrite', model, '--tasks', tasks, '--layers', 'conv1', '--json', '/missing/x.json'], /folder \/missing does not exist/);
    await refused(['inspect', model, '--json-out', '/proc/self/status'], /cannot write under \/proc/);
    await refused(['inspect', model, '--json-out', '/dev/null'], /cannot write under \/dev|not a regular file/);
    await refused(['run', model, ...common, '-o', model], /-o .* is not a folder/);
  });
});

describe('data is checked against the model before it runs', () => {
  it('verify --data: a wrongly shaped input array is named, not left to onnxruntime', async () => {
    const wrong = p('wrong-shape.npz');
    // The cnn takes [N, 1, 36, 36] images.
    writeNpz(wrong, { input: { dtype: 'float32', dims: [2, 1, 30, 36], data: new Float32Array(2 * 30 * 36) } });
    await refused(['verify', model, model, '--data', wrong], /wrong-shape\.npz: array "input": expected shape \[N,1,36,36\].*got \[2,1,30,36\]/);
    rmSync(wrong);
  });
});

describe('options are checked before any work', () => {
  it('refuses out-of-range and malformed numbers and stray arguments with one line each', async () => {
    const scan = ['scan', model, '--tasks', tasks, '--data', data];
    const cases: [string[], RegExp][] = [
      [[...scan, '--lr', '-1'], /--lr must be a number ≥ 0, got "-1"/],
      [[...scan, '--momentum', '-5'], /--momentum must be a number ≥ 0 and ≤ 1, got "-5"/],
      [[...scan, '--milestones', 'abc'], /--milestones must be a number > 0, got "abc"/],
      [[...scan, '--cagrad-alpha', '-3'], /--cagrad-alpha must be a number ≥ 0/],
      [[...scan, '--checkpoint-every', '0'], /--checkpoint-every must be an integer ≥ 1, got "0"/],
      [[...scan, '--S', ''], /--S needs at least one number/],
      [[...scan, '--S', '2'], /--S must be a number ≥ -1 and ≤ 1, got "2"/],
      [[...scan, '--seed', '1e300'], /--seed must be an integer ≥ 0 and ≤ 4294967295, got "1e300"/],
      [[...scan, '--batch-size', '2.5'], /--batch-size must be an integer ≥ 1/],
      [[...scan, '--steps', 'NaN'], /--steps must be an integer ≥ 1, got "NaN"/],
      // onnxruntime would try to start that many threads.
      [[...scan, '--threads', '1e8'], /--threads must be an integer ≥ 1 and ≤ 1024, got "1e8"/],
      [['scan', model, p('other.onnx'), '--tasks', tasks, '--data', data], /unexpected argument ".*other\.onnx"/],
      [['verify', model, model, model], /unexpected argument/],
      [['rewrite', model, '--tasks', tasks, '--layers', 'conv1', '--tolerance', '-1'], /--tolerance must be a number ≥ 0, got "-1"/],
      [['rewrite', model, '--tasks', tasks, '--layers', 'conv1', '--tolerance', 'abc'], /--tolerance must be a number ≥ 0, got "abc"/],
      [['inspect', model, '--batch-size', '-1'], /--batch-size must be an integer ≥ 1 and ≤ 1000000, got "-1"/],
      [['inspect', model, '--batch-size', '1e8'], /--batch-size must be an integer ≥ 1 and ≤ 1000000, got "1e8"/],
      [['inspect', model, '--batch-size', 'abc'], /--batch-size must be an integer/],
      [
        ['grads', model, '--tasks', tasks, '--task', 'T1', '--data', data],
        /give the tasks one way: --tasks spec\.json, --task NAME \(repeatable\) or --outputs a,b/,
      ],
    ];
    for (const [args, message] of cases) await refused(args, message);
  });

  it('--layers @FILE reads only a small regular file and never prints its content', async () => {
    const secret = p('secret.txt');
    writeFileSync(secret, 'root:x:0:0:root:/root:/bin/bash\nconv1\n');
    const r = await cli('rewrite', model, '--tasks', tasks, '--layers', `@${secret}`, '-o', p('x.onnx'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/1 of 2 names are not layers of this model/);
    expect(r.stderr).not.toMatch(/root/);
    await refused(['rewrite', model, '--tasks', tasks, '--layers', '@/dev/zero', '-o', p('x.onnx')], /is not a regular file/);
  });
});
