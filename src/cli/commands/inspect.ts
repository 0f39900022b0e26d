import { writeTextFileAtomic } from '../../util/atomic-write.js';
import { loadModel } from '../../onnx/load.js';
import { resolveTasks } from '../../analysis/task-spec.js';
import { analyzeModel } from '../../analysis/analyze.js';
import { inferShapes } from '../../analysis/shapes.js';
import { buildInspectReport, formatInspectReport } from '../../analysis/inspect.js';
import { listOption, optionValue } from '../args.js';
import type { Command } from '../command.js';
import { refuseExternalDataOutputs } from './common.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Show what a multi-task model shares between tasks, what each task owns, and which layers Recon could make task-specific.',
  usage: 'recon inspect model.onnx [--outputs a,b | --tasks spec.json | --task NAME[:LOSS]] [--json] [--json-out file]',
  positionals: [{ name: 'the model', kind: 'input' }],
  options: [
    { name: 'outputs', value: 'a,b', description: 'graph outputs to treat as tasks (default: every float output)' },
    { name: 'tasks', check: { kind: 'input' }, value: 'spec.json', description: 'task spec file' },
    { name: 'task', value: 'NAME[:LOSS]', description: 'a task by output name (repeatable)', repeatable: true },
    { name: 'json', description: 'print the report as JSON (schema version 1) instead of a table' },
    { name: 'json-out', check: { kind: 'output' }, value: 'file', description: 'also write the JSON report to a file' },
    {
      name: 'batch-size',
      check: { kind: 'number', integer: true, min: 1, max: 1000000 },
      value: 'N',
      description: 'batch size used to infer intermediate shapes (default 1)',
    },
    { name: 'no-shapes', description: 'skip the onnxruntime run that infers output shapes' },
  ],
  async run(args, io) {
    const path = args.positionals[0];
    if (!path || args.positionals.length > 1) {
      io.stderr(`usage: ${this.usage}\n`);
      return 2;
    }
    const model = loadModel(path, { onWarning: (m) => io.stderr(`warning: ${m}\n`) });
    refuseExternalDataOutputs(args, path, model);
    const tasks = resolveTasks(model, {
      outputs: listOption(args, 'outputs'),
      specFile: optionValue(args, 'tasks'),
      shorthands: args.options.get('task') ?? [],
    });
    model.graph.toposort();
    const analysis = analyzeModel(model, tasks);
    const shapes = args.flags.has('no-shapes') ? undefined : await inferShapes(model, { batchSize: Number(optionValue(args, 'batch-size') ?? 1) });
    const report = buildInspectReport(path, model, analysis, shapes);
    const json = `${JSON.stringify(report, null, 2)}\n`;
    const jsonOut = optionValue(args, 'json-out');
    if (jsonOut) writeTextFileAtomic(jsonOut, json);
    io.stdout(args.flags.has('json') ? json : `${formatInspectReport(report)}\n`);
    return 0;
  },
};
