import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CUDA_PROVIDER_FILES, cudaStatus } from '../../src/runtime/cuda.js';
import { RuntimeSession } from '../../src/runtime/session.js';
import { GraphBuilder, serializeModel } from '../../src/onnx/index.js';
import { installProvider } from '../../scripts/setup-cuda.js';
import { cli } from '../cli/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-cuda-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const status = cudaStatus();
// These tests describe a machine without the CUDA provider (CI); on a GPU box they are skipped.
const cpuOnly = status.missingProviderFiles.length > 0;

function tinyModel(): Uint8Array {
  const b = new GraphBuilder();
  b.output(b.op1('Relu', [b.input('x', 'float32', [2])], {}, { outputs: ['y'] }), 'float32', [2]);
  return serializeModel(b.model(17));
}

describe.skipIf(!cpuOnly)('CUDA on a machine without the provider', () => {
  it('cudaStatus names the missing files and the fix', () => {
    expect(status.missingProviderFiles).toEqual(CUDA_PROVIDER_FILES);
    expect(status.fix).toMatch(/npm run setup:cuda/);
  });

  it('--device cuda fails with one actionable line; auto falls back to CPU with a warning', async () => {
    await expect(RuntimeSession.create(tinyModel(), { device: 'cuda' })).rejects.toThrow(/cannot use the CUDA execution provider: .*setup:cuda.*README/);
    const warnings: string[] = [];
    const s = await RuntimeSession.create(tinyModel(), { device: 'auto', onWarning: (w) => warnings.push(w) });
    expect(s.device).toBe('cpu');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/running on CPU/);
    await s.release();
  });

  it('recon doctor reports CPU working and why CUDA is not, without crashing', async () => {
    const r = await cli('doctor');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cpu\s+OK$/m);
    expect(r.stdout).toMatch(/^cuda\s+not available: the CUDA provider is not installed: run npm run setup:cuda/m);
    const strict = await cli('doctor', '--require', 'cuda');
    expect(strict.code).toBe(1);
  });
});

describe('npm run setup:cuda', () => {
  it('installs the provider libraries from a folder, atomically, and refuses an incomplete one', () => {
    const source = join(dir, 'provider');
    const binding = join(dir, 'binding');
    mkdirSync(source);
    mkdirSync(binding);
    writeFileSync(join(source, 'libonnxruntime_providers_shared.so'), 'shared');
    expect(() => installProvider(source, binding)).toThrow(/lacks libonnxruntime_providers_cuda\.so/);
    expect(existsSync(join(binding, 'libonnxruntime_providers_shared.so'))).toBe(false);
    writeFileSync(join(source, 'libonnxruntime_providers_cuda.so'), 'cuda');
    expect(installProvider(source, binding)).toEqual(CUDA_PROVIDER_FILES);
    expect(readFileSync(join(binding, 'libonnxruntime_providers_cuda.so'), 'utf8')).toBe('cuda');
  });

  it('the script explains a bad --from in one line and exits non-zero', () => {
    let code = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, ['--import', 'tsx', 'scripts/setup-cuda.ts', '--from', join(dir, 'nope')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      code = (e as { status: number }).status;
      stderr = (e as { stderr: string }).stderr;
    }
    expect(code).toBe(1);
    expect(stderr.trim()).toMatch(/^setup:cuda: --from needs an existing folder or \.tgz/);
  });
});
