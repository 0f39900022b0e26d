import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/onnx/index.js';
import { readNpy } from '../../src/data/npy.js';
import { readNpz, writeNpz } from '../../src/data/npz.js';
import { cosineFromGram } from '../../src/conflict/gram.js';
import { referenceModel } from '../../models/reference-models.js';
import { safeFileName } from '../../src/cli/commands/grads.js';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-grads-'));
const model = join(dir, 'mlp.onnx');
const batch = 'test/fixtures/grads/mlp_op17_train.npz';
beforeAll(() => saveModel(referenceModel('mlp').build({ opset: 17 }), model));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('recon grads', () => {
  it('--json has losses, and per layer and parameter the norms and pair cosines; --dump-grads writes the raw gradients', async () => {
    const r = await cli('grads', model, '--task', 'T1', '--task', 'T2', '--data', batch, '--json', join(dir, 'g.json'), '--dump-grads', join(dir, 'dump'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cos T1\|T2/);
    const doc = JSON.parse(readFileSync(join(dir, 'g.json'), 'utf8')) as {
      schemaVersion: number;
      tasks: { name: string; loss: number }[];
      layers: { name: string; params: string[]; norm: Record<string, number>; cos: Record<string, number> }[];
      params: { name: string; norm: Record<string, number>; cos: Record<string, number> }[];
    };
    expect(doc.schemaVersion).toBe(1);
    expect(doc.tasks.map((t) => t.name)).toEqual(['T1', 'T2']);
    expect(doc.layers.map((l) => l.name)).toEqual(['fc1', 'fc2']);
    expect(doc.params.map((p) => p.name)).toEqual(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    // The layer cosine is that of the concatenated (weight, bias) gradients, recomputed from the dumps.
    const g = (t: string, p: string) => readNpy(join(dir, 'dump', t, `${p}.npy`)).data as Float32Array;
    const gram = [0, 0, 0, 0];
    for (const p of ['fc1.weight', 'fc1.bias']) {
      const a = g('T1', p);
      const b = g('T2', p);
      for (let i = 0; i < a.length; i++) {
        gram[0]! += a[i]! * a[i]!;
        gram[1]! += a[i]! * b[i]!;
        gram[3]! += b[i]! * b[i]!;
      }
    }
    gram[2] = gram[1]!;
    expect(doc.layers[0]!.cos['T1|T2']).toBeCloseTo(cosineFromGram(gram, 2, 0, 1), 5);
    expect(doc.layers[0]!.norm['T1']).toBeCloseTo(Math.sqrt(gram[0]!), 4);
  });

  it('bad data: a missing target array, a wrong shape, no --data', async () => {
    const arrays = readNpz(batch);
    arrays.delete('T2_target');
    writeNpz(join(dir, 'no-t2.npz'), arrays);
    const missing = await cli('grads', model, '--task', 'T1', '--task', 'T2', '--data', join(dir, 'no-t2.npz'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no array "T2_target" \(arrays: input, T1_target\)/);
    const bad = readNpz(batch);
    bad.set('input', { dtype: 'float32', dims: [16, 4], data: new Float32Array(64) });
    writeNpz(join(dir, 'bad.npz'), bad);
    const shape = await cli('grads', model, '--task', 'T1', '--task', 'T2', '--data', join(dir, 'bad.npz'));
    expect(shape.stderr).toMatch(/array "input": expected shape \[N,16\] \(any dtype\), got \[16,4\]/);
    const none = await cli('grads', model);
    expect(none.stderr).toMatch(/--data is required/);
    writeFileSync(join(dir, 'x.txt'), 'x');
    const wrongType = await cli('grads', model, '--data', join(dir, 'x.txt'));
    expect(wrongType.stderr).toMatch(/unsupported file type "\.txt"/);
    expect(existsSync(join(dir, 'dump2'))).toBe(false);
  });

  it('--dump-grads keeps hostile task names inside the folder; --batch-size beyond the data is refused', async () => {
    const spec = join(dir, 'hostile.tasks.json');
    writeFileSync(
      spec,
      JSON.stringify({
        tasks: [
          { name: '../../escaped', output: 'T1', loss: 'cross_entropy', target: 'T1_target' },
          { name: '..', output: 'T2', loss: 'cross_entropy', target: 'T2_target' },
        ],
      }),
    );
    const dump = join(dir, 'sub', 'dump');
    const r = await cli('grads', model, '--tasks', spec, '--data', batch, '--dump-grads', dump);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(dir, 'escaped'))).toBe(false);
    expect(existsSync(join(dir, 'sub', 'escaped'))).toBe(false);
    const written = readdirSync(dump).sort();
    expect(written).toHaveLength(2);
    for (const name of written) {
      expect(name).toMatch(/^[A-Za-z0-9._~-]+$/);
      expect(name).not.toMatch(/^\.+$/);
      expect(readdirSync(join(dump, name))).toContain('fc1.weight.npy');
    }
    expect(safeFileName('a/b')).not.toBe(safeFileName('a_b'));
    const rows = (readNpz(batch).get('input')!.dims[0] as number) + 1;
    const tooMany = await cli('grads', model, '--task', 'T1', '--task', 'T2', '--data', batch, '--batch-size', String(rows));
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toMatch(new RegExp(`--batch-size ${rows} is more than the ${rows - 1} rows`));
  });
});
