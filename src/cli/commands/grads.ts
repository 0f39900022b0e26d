import { makeDirectory } from '../../util/make-directory.js';
import { writeTextFileAtomic } from '../../util/atomic-write.js';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { loadDataset } from '../../data/dataset.js';
import { checkDataset, feedsFor, planFeeds } from '../../analysis/model-feeds.js';
import { writeNpy } from '../../data/npy.js';
import { ReconError } from '../../util/errors.js';
import { createGradientSession } from '../../conflict/gradient-session.js';
import { buildGradsReport, formatGradsReport } from '../../conflict/grads-report.js';
import { optionValue } from '../args.js';
import type { Command } from '../command.js';
import { bnArg, modelTasksAndData, RUNTIME_OPTIONS, runtimeArgs, TASK_OPTIONS } from './common.js';

export const gradsCommand: Command = {
  name: 'grads',
  summary: 'Per-task losses and, for every shared layer, task-gradient norms and pairwise cosines on one batch.',
  usage: 'recon grads model.onnx --tasks spec.json --data batch.npz [--bn train|eval] [--device cpu|cuda|auto] [--json out.json] [--dump-grads DIR]',
  positionals: [{ name: 'the model', kind: 'input' }],
  options: [
    ...TASK_OPTIONS,
    {
      name: 'data',
      check: { kind: 'input' },
      value: 'file',
      description: '.npz/.npy or a directory of TensorProto .pb files (inputs and targets, batch on axis 0)',
    },
    { name: 'batch-size', check: { kind: 'number', integer: true, min: 1 }, value: 'N', description: 'use the first N rows (default: all rows are one batch)' },
    { name: 'json', check: { kind: 'output', stdout: true }, value: 'file', description: 'write the report as JSON (- for stdout)' },
    {
      name: 'dump-grads',
      check: { kind: 'output-dir' },
      value: 'DIR',
      description: "write each task's raw gradient of every shared parameter as DIR/<task>/<param>.npy",
    },
    ...RUNTIME_OPTIONS,
  ],
  async run(args, io) {
    const { path, model, tasks, dataPath } = modelTasksAndData(args, io, this.usage);
    const dataset = loadDataset(dataPath);
    const plan = planFeeds(model, tasks);
    checkDataset(dataset, plan);
    const requested = Number(optionValue(args, 'batch-size') ?? dataset.length);
    if (requested > dataset.length) throw new ReconError(`--batch-size ${requested} is more than the ${dataset.length} rows of ${dataPath}`);
    const rows = Array.from({ length: requested }, (_, i) => i);
    const batchNorm = bnArg(args, 'train');
    const dumpDir = optionValue(args, 'dump-grads');
    const session = createGradientSession(model, tasks, { ...runtimeArgs(args, io), batchNorm, rawGradients: dumpDir !== undefined });
    try {
      const step = await session.run(feedsFor(dataset, plan, rows));
      const report = buildGradsReport({
        modelPath: path,
        model,
        analysis: session.analysis,
        step,
        batchNorm,
        device: await session.device,
        batchSize: rows.length,
      });
      if (dumpDir) {
        for (const [task, grads] of step.gradients) {
          const taskDir = join(dumpDir, safeFileName(task));
          makeDirectory(taskDir);
          for (const [param, g] of grads) {
            writeNpy(join(taskDir, `${safeFileName(param)}.npy`), {
              dtype: 'float32',
              dims: model.graph.initializers.get(param)!.dims.slice(),
              data: g,
            });
          }
        }
      }
      const json = optionValue(args, 'json');
      if (json === '-') io.stdout(`${JSON.stringify(report, null, 2)}\n`);
      else {
        if (json) writeTextFileAtomic(json, `${JSON.stringify(report, null, 2)}\n`);
        io.stdout(`${formatGradsReport(report)}\n`);
      }
      return 0;
    } finally {
      await session.release();
    }
  },
};

/**
 * A task or parameter name as one file name: names come from the model and may hold `/`, `..` or
 * control characters, which must not lead a write outside the --dump-grads folder. Characters
 * outside [A-Za-z0-9._-] become `_`; a name of dots only gets a leading `_`; long names are cut
 * and keep a digest of the full name so that distinct names stay distinct.
 */
export function safeFileName(name: string): string {
  let safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
  if (/^\.*$/.test(safe)) safe = `_${safe}`;
  if (safe.length > 120 || safe !== name) {
    const digest = createHash('sha256').update(name).digest('hex').slice(0, 8);
    safe = `${safe.slice(0, 120)}~${digest}`;
  }
  return safe;
}
