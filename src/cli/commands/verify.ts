import { ReconError } from '../../util/errors.js';
import { loadModel } from '../../onnx/load.js';
import { loadDataset } from '../../data/dataset.js';
import type { HostTensor } from '../../data/host-tensor.js';
import { checkDataset, planFeeds, feedsFor } from '../../analysis/model-feeds.js';
import { verify } from '../../rewrite/verify.js';
import { optionValue } from '../args.js';
import type { Command } from '../command.js';
import { deviceArg } from './common.js';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'Run two models on the same inputs and check every task output is equal (e.g. original vs rewritten).',
  usage: 'recon verify original.onnx rewritten.onnx [--data batch.npz] [--tolerance 1e-5] [--outputs a,b]',
  positionals: [
    { name: 'the original model', kind: 'input' },
    { name: 'the rewritten model', kind: 'input' },
  ],
  options: [
    { name: 'data', check: { kind: 'input' }, value: 'file', description: 'inputs to run (default: random inputs shaped from the model, symbolic dims = 2)' },
    { name: 'tolerance', check: { kind: 'number', min: 0 }, value: 't', description: 'allowed difference relative to max(1, max|output|) (default 1e-5)' },
    { name: 'outputs', value: 'a,b', description: 'outputs to compare (default: every output of the original)' },
    { name: 'rows', check: { kind: 'number', integer: true, min: 1 }, value: 'N', description: 'with --data, use the first N rows (default 16)' },
    { name: 'device', value: 'cpu|cuda|auto', description: 'execution provider' },
  ],
  async run(args, io) {
    const [a, b] = args.positionals;
    if (!a || !b) throw new ReconError(`two models are needed (usage: ${this.usage})`);
    const warn = (m: string): void => io.stderr(`warning: ${m}\n`);
    const reference = loadModel(a, { onWarning: warn });
    const candidate = loadModel(b, { onWarning: warn });
    const tolerance = Number(optionValue(args, 'tolerance') ?? 1e-5);
    const dataPath = optionValue(args, 'data');
    let feeds: Record<string, HostTensor> | undefined;
    if (dataPath) {
      const dataset = loadDataset(dataPath);
      const plan = { ...planFeeds(reference, []), targets: [] };
      // Shapes and index ranges up front: a bad array is named as such, not as an onnxruntime failure.
      checkDataset(dataset, plan);
      const rows = Math.min(Number(optionValue(args, 'rows') ?? 16), dataset.length);
      feeds = feedsFor(
        dataset,
        plan,
        Array.from({ length: rows }, (_, i) => i),
      );
    }
    const outputs = optionValue(args, 'outputs')?.split(',');
    const result = await verify(reference, candidate, { tolerance, device: deviceArg(args), ...(feeds ? { feeds } : {}), ...(outputs ? { outputs } : {}) });
    for (const d of result.all) io.stdout(`${d.output}: max |diff| ${d.maxAbsDiff.toExponential(3)}, relative ${d.maxRel.toExponential(3)}\n`);
    if (!result.ok) {
      io.stderr(
        `recon verify: outputs differ: "${result.worst.output}" by ${result.worst.maxAbsDiff.toExponential(3)} (relative ${result.worst.maxRel.toExponential(3)} > ${tolerance})\n`,
      );
      return 1;
    }
    io.stdout(`OK: every compared output equal within ${tolerance}\n`);
    return 0;
  },
};
