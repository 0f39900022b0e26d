/**
 * Installs onnxruntime's CUDA execution provider next to onnxruntime-node's libonnxruntime.so.1,
 * from a source npm can reach, so GPU machines without access to NuGet or GitHub can use it.
 *
 *   npm run setup:cuda                      # fetch the npm package (≈ 230 MB) and install
 *   npm run setup:cuda -- --from DIR|FILE   # offline: a folder with the .so files, or the package .tgz
 *
 * Source: com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (MIT), a packaging of the official
 * onnxruntime 1.29.0 GPU build (CUDA 13, cuDNN 9) under Plugins/Linux/x64/. The provider must be
 * the same onnxruntime version as the core library, hence the pinned onnxruntime-node 1.29.0.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CUDA_PROVIDER_FILES, cudaStatus, onnxruntimeBindingDir, PINNED_ONNXRUNTIME } from '../src/runtime/cuda.js';

export const PROVIDER_PACKAGE = 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9';
const PACKAGE_SUBDIR = join('package', 'Plugins', 'Linux', 'x64');
const OPTIONAL_FILES = ['libonnxruntime_providers_tensorrt.so'];

export function installProvider(source: string, bindingDir: string): string[] {
  const files = [...CUDA_PROVIDER_FILES, ...OPTIONAL_FILES];
  const present = files.filter((f) => existsSync(join(source, f)));
  const missing = CUDA_PROVIDER_FILES.filter((f) => !present.includes(f));
  if (missing.length > 0) throw new Error(`${source} lacks ${missing.join(', ')}`);
  for (const f of present) {
    // Copy then rename, so an interrupted install never leaves a truncated library behind.
    const tmp = join(bindingDir, `${f}.tmp-${process.pid}`);
    copyFileSync(join(source, f), tmp);
    renameSync(tmp, join(bindingDir, f));
  }
  return present;
}

function unpack(tgz: string, into: string): string {
  execFileSync('tar', ['-xzf', tgz, '-C', into], { stdio: 'inherit' });
  return join(into, PACKAGE_SUBDIR);
}

function main(argv: string[]): number {
  const { dir, version } = onnxruntimeBindingDir();
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error('setup:cuda: onnxruntime-node has a CUDA provider only on Linux x64; nothing to do here.');
    return 1;
  }
  if (version !== PINNED_ONNXRUNTIME) {
    console.error(
      `setup:cuda: the provider is built for onnxruntime ${PINNED_ONNXRUNTIME}, but onnxruntime-node ${version} is installed; run npm ci to get the pinned version.`,
    );
    return 1;
  }
  const fromIndex = argv.indexOf('--from');
  const work = mkdtempSync(join(tmpdir(), 'recon-cuda-'));
  try {
    let source: string;
    if (fromIndex >= 0) {
      const from = argv[fromIndex + 1];
      if (!from || !existsSync(from)) {
        console.error(`setup:cuda: --from needs an existing folder or .tgz, got ${from ?? 'nothing'}`);
        return 1;
      }
      source = statSync(from).isDirectory() ? (existsSync(join(from, PACKAGE_SUBDIR)) ? join(from, PACKAGE_SUBDIR) : from) : unpack(from, work);
    } else {
      console.error(`setup:cuda: fetching ${PROVIDER_PACKAGE} from the npm registry (about 230 MB)...`);
      execFileSync('npm', ['pack', PROVIDER_PACKAGE, '--pack-destination', work, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
      const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
      if (!tgz) {
        console.error('setup:cuda: npm pack produced no archive');
        return 1;
      }
      source = unpack(join(work, tgz), work);
    }
    const installed = installProvider(source, dir);
    console.log(`setup:cuda: installed ${installed.join(', ')} into ${dir}`);
  } catch (e) {
    console.error(`setup:cuda: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    return 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const status = cudaStatus();
  console.log(status.fix ? `next: ${status.fix}; then run: npx recon doctor` : 'CUDA provider ready: npx recon doctor to confirm');
  return 0;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) process.exitCode = main(process.argv.slice(2));
