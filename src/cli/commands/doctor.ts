import { readFileSync } from 'node:fs';
import { ReconError } from '../../util/errors.js';
import { GraphBuilder } from '../../onnx/builder.js';
import { serializeModel } from '../../onnx/save.js';
import { RuntimeSession } from '../../runtime/session.js';
import { cudaStatus, onnxruntimeBindingDir, PINNED_ONNXRUNTIME } from '../../runtime/cuda.js';
import { cudaKernelTable, formatPlacementReport } from '../../analysis/placement.js';
import { forecastGradientGraph, syntheticBatch } from '../../autodiff/gradient-placement.js';
import { loadModel } from '../../onnx/load.js';
import { optionValue, type ParsedArgs } from '../args.js';
import type { Command, CommandIO } from '../command.js';
import { analyzeModel } from '../../analysis/analyze.js';
import { bnArg, TASK_OPTIONS, tasksArg } from './common.js';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'Which onnxruntime execution providers work on this machine, and for those that do not, why and how to fix it.',
  usage: 'recon doctor [--require cuda] | recon doctor --graph model.onnx [--tasks spec.json] [--bn train|eval] [--training]',
  positionals: [],
  options: [
    { name: 'require', value: 'cpu|cuda', description: 'exit 1 unless this provider works' },
    {
      name: 'graph',
      check: { kind: 'input' },
      value: 'model.onnx',
      description: "forecast, without a GPU, which nodes of the model's gradient graph the CUDA provider leaves to the CPU; exit 1 on an unexpected fallback",
    },
    ...TASK_OPTIONS,
    { name: 'bn', value: 'train|eval', description: 'with --graph: BatchNormalization statistics as in grads/scan (default train)' },
    {
      name: 'batch-size',
      check: { kind: 'number', integer: true, min: 1 },
      value: 'N',
      description: 'with --graph: rows of the synthetic batch that fixes the shapes (default 2)',
    },
    {
      name: 'training',
      description: 'with --graph: the graph of a training scan (every parameter a loss reaches fed as an input) instead of grads/static scans',
    },
  ],
  async run(args, io) {
    if (optionValue(args, 'graph') !== undefined) return graphForecast(args, io);
    const required = optionValue(args, 'require');
    if (required && required !== 'cpu' && required !== 'cuda') throw new ReconError('--require must be cpu or cuda');
    const status = cudaStatus();
    const lines: string[] = [];
    lines.push(`onnxruntime-node ${status.onnxruntimeVersion} (${status.bindingDir})`);
    if (status.onnxruntimeVersion !== PINNED_ONNXRUNTIME)
      lines.push(`  note: the CUDA provider from npm run setup:cuda matches onnxruntime-node ${PINNED_ONNXRUNTIME}`);
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

/**
 * `--graph`: builds the gradient graph as `--device cuda` would (synthetic batch shaped like the
 * model's inputs) and prints where onnxruntime's CUDA provider would place each node.
 */
async function graphForecast(args: ParsedArgs, io: CommandIO): Promise<number> {
  if (optionValue(args, 'require') !== undefined) throw new ReconError('--graph and --require are separate checks: run them one at a time');
  if (args.positionals.length > 0) throw new ReconError(`unexpected argument "${args.positionals[0]}": give the model as --graph model.onnx`);
  const path = optionValue(args, 'graph')!;
  const batchSize = Number(optionValue(args, 'batch-size') ?? 2);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ReconError('--batch-size must be a positive integer');
  const model = loadModel(path, { onWarning: (m) => io.stderr(`warning: ${m}\n`) });
  const tasks = tasksArg(model, args);
  const batchNorm = bnArg(args, 'train');
  const training = args.flags.has('training');
  // The parameters a training scan feeds (runScan): every one some task's loss reaches.
  const trainableParams = training ? [...analyzeModel(model, tasks).paramTasks].filter(([, t]) => t.length > 0).map(([p]) => p) : undefined;
  const feeds = await syntheticBatch(model, tasks, { batchSize });
  const report = await forecastGradientGraph(model, tasks, { batchNorm, feeds, trainableParams });
  const p = cudaKernelTable().provenance;
  io.stdout(
    `${training ? 'training ' : ''}gradient graph of ${path} (tasks ${tasks.map((t) => t.name).join(', ')}; --bn ${batchNorm}; batch ${batchSize})\n` +
      `CUDA placement forecast from the kernel table of onnxruntime ${p.version} @ ${p.commit.slice(0, 12)} (src/analysis/cuda-kernels.json; onnxruntime-node here: ${onnxruntimeBindingDir().version})\n` +
      `${formatPlacementReport(report)}\n`,
  );
  return report.fallbacks.length > 0 ? 1 : 0;
}

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
