import { readFileSync } from 'node:fs';
import { ReconError } from '../../onnx/errors.js';
import { GraphBuilder } from '../../onnx/builder.js';
import { serializeModel } from '../../onnx/save.js';
import { RuntimeSession } from '../../runtime/session.js';
import { cudaStatus, PINNED_ONNXRUNTIME } from '../../runtime/cuda.js';
import { optionValue } from '../args.js';
import type { Command } from '../command.js';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'Which onnxruntime execution providers work on this machine, and for those that do not, why and how to fix it.',
  usage: 'recon doctor [--require cuda]',
  options: [{ name: 'require', value: 'cpu|cuda', description: 'exit 1 unless this provider works' }],
  async run(args, io) {
    const required = optionValue(args, 'require');
    if (required && required !== 'cpu' && required !== 'cuda') throw new ReconError('--require must be cpu or cuda');
    const status = cudaStatus();
    const lines: string[] = [];
    lines.push(`onnxruntime-node ${status.onnxruntimeVersion} (${status.bindingDir})`);
    if (status.onnxruntimeVersion !== PINNED_ONNXRUNTIME) lines.push(`  note: the CUDA provider from npm run setup:cuda matches onnxruntime-node ${PINNED_ONNXRUNTIME}`);
    const probe = probeModel();
    const cpu = await tryProvider(probe, 'cpu');
    lines.push(`cpu   ${cpu.ok ? 'OK' : `FAILED: ${cpu.error}`}`);
    let cudaOk = false;
    if (status.fix) {
      lines.push(`cuda  not available: ${status.fix}`);
      if (status.missingProviderFiles.length > 0) lines.push(`      missing next to libonnxruntime.so.1: ${status.missingProviderFiles.join(', ')}`);
    } else {
      const cuda = await tryProvider(probe, 'cuda');
      cudaOk = cuda.ok;
      lines.push(`cuda  ${cuda.ok ? `OK on ${cuda.device} (${status.gpus.join(', ')})` : `FAILED: ${cuda.error}`}`);
    }
    const gpus = status.gpus.length > 0 ? status.gpus.join(', ') : 'none found';
    lines.push(`gpus  ${gpus}`);
    lines.push(`driver ${driverVersion() ?? 'no NVIDIA driver found'}`);
    io.stdout(`${lines.join('\n')}\n`);
    if (required === 'cpu' && !cpu.ok) return 1;
    if (required === 'cuda' && !cudaOk) return 1;
    return 0;
  },
};

function probeModel(): Uint8Array {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [2, 2]);
  b.output(b.op1('MatMul', [x, x], {}, { outputs: ['y'] }), 'float32', [2, 2]);
  return serializeModel(b.model(17));
}

async function tryProvider(model: Uint8Array, device: 'cpu' | 'cuda'): Promise<{ ok: boolean; device?: string; error?: string }> {
  try {
    const s = await RuntimeSession.create(model, { device });
    await s.run({ x: { dtype: 'float32', dims: [2, 2], data: Float32Array.of(1, 2, 3, 4) } });
    const d = s.device;
    await s.release();
    return { ok: true, device: d };
  } catch (e) {
    return { ok: false, error: (e instanceof Error ? e.message : String(e)).split('\n')[0]! };
  }
}

function driverVersion(): string | undefined {
  try {
    return /Kernel Module\s+(\S+)/.exec(readFileSync('/proc/driver/nvidia/version', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}
