import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, serializeModel } from '../../src/onnx/index.js';
import { buildMlp } from '../../models/mlp.js';

const dir = mkdtempSync(join(tmpdir(), 'models-build-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runBuild(args: string[]): string {
  return execFileSync(process.execPath, ['--import', 'tsx', 'models/build.ts', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('models/build.ts', () => {
  it('writes the op13 and op17 models and the task spec of the selected model, one line per file', () => {
    const printed = runBuild(['--out', dir, '--only', 'mlp']).trim().split('\n');
    expect(printed).toEqual([join(dir, 'mlp_op13.onnx'), join(dir, 'mlp_op17.onnx'), join(dir, 'mlp.tasks.json')]);
    expect(readdirSync(dir).sort()).toEqual(['mlp.tasks.json', 'mlp_op13.onnx', 'mlp_op17.onnx']);
    expect(Buffer.from(serializeModel(loadModel(join(dir, 'mlp_op17.onnx'))))).toEqual(Buffer.from(serializeModel(buildMlp({ opset: 17 }))));
    expect(JSON.parse(readFileSync(join(dir, 'mlp.tasks.json'), 'utf8'))).toEqual({
      tasks: [
        { name: 'T1', output: 'T1', loss: 'cross_entropy', target: 'T1_target', weight: 1, ignoreIndex: -1 },
        { name: 'T2', output: 'T2', loss: 'cross_entropy', target: 'T2_target', weight: 1, ignoreIndex: -1 },
      ],
    });
  });

  it('rejects an unknown model name', () => {
    expect(() => runBuild(['--out', dir, '--only', 'nope'])).toThrow(/unknown reference model "nope"/);
  });
});
