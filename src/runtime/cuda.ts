import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Files onnxruntime loads, from next to libonnxruntime.so.1, to use its CUDA execution provider. */
export const CUDA_PROVIDER_FILES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

/** The onnxruntime-node version whose CUDA provider `npm run setup:cuda` installs. */
export const PINNED_ONNXRUNTIME = '1.29.0';

export interface CudaStatus {
  /** Folder of onnxruntime-node's native binding (where provider libraries must be). */
  bindingDir: string;
  onnxruntimeVersion: string;
  missingProviderFiles: string[];
  /** Shared libraries the CUDA provider needs that the dynamic loader cannot find (CUDA runtime, cuBLAS, cuDNN, driver). */
  missingLibraries: string[];
  /** GPU names from nvidia-smi, when it is installed. */
  gpus: string[];
  /** One line on what to do, when CUDA cannot work yet. */
  fix: string | undefined;
}

const require = createRequire(import.meta.url);

export function onnxruntimeBindingDir(): { dir: string; version: string } {
  const pkg = require.resolve('onnxruntime-node/package.json');
  const version = (require(pkg) as { version: string }).version;
  return { dir: join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch), version };
}

/** What stands between this machine and the CUDA execution provider, without loading it. */
export function cudaStatus(): CudaStatus {
  const { dir, version } = onnxruntimeBindingDir();
  const missingProviderFiles = CUDA_PROVIDER_FILES.filter((f) => !existsSync(join(dir, f)));
  const missingLibraries: string[] = [];
  if (missingProviderFiles.length === 0 && process.platform === 'linux') {
    try {
      const out = execFileSync('ldd', [join(dir, 'libonnxruntime_providers_cuda.so')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      for (const line of out.split('\n')) {
        const m = /^\s*(\S+) => not found/.exec(line);
        if (m) missingLibraries.push(m[1]!);
      }
    } catch {
      // No ldd: the session attempt reports what is missing instead.
    }
  }
  let gpus: string[] = [];
  try {
    gpus = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
  } catch {
    gpus = [];
  }
  let fix: string | undefined;
  if (process.platform !== 'linux' || process.arch !== 'x64') fix = 'onnxruntime-node has a CUDA provider only on Linux x64';
  else if (missingProviderFiles.length > 0) {
    fix = `the CUDA provider is not installed: run npm run setup:cuda${version === PINNED_ONNXRUNTIME ? '' : ` (it matches onnxruntime-node ${PINNED_ONNXRUNTIME}; this is ${version})`}`;
  } else if (missingLibraries.length > 0) {
    fix = `add the folders holding ${missingLibraries.join(', ')} to LD_LIBRARY_PATH (CUDA 13 runtime, cuBLAS, cuDNN 9)`;
  } else if (gpus.length === 0) fix = 'no NVIDIA GPU found (nvidia-smi is missing or lists none)';
  return { bindingDir: dir, onnxruntimeVersion: version, missingProviderFiles, missingLibraries, gpus, fix };
}
