import { ReconError } from '../../util/errors.js';
import { loadModel } from '../../onnx/load.js';
import type { Model } from '../../onnx/model.js';
import { resolveTasks, type TaskSpec } from '../../analysis/task-spec.js';
import type { DeviceSpec } from '../../runtime/session.js';
import { listOption, optionValue, type OptionSpec, type ParsedArgs } from '../args.js';
import type { CommandIO } from '../command.js';
import { checkNoAliasing, checkOutputFile } from '../validate.js';

export const TASK_OPTIONS: OptionSpec[] = [
  {
    name: 'tasks',
    check: { kind: 'input' },
    value: 'spec.json',
    description: 'task spec file ({"tasks":[{"name","output","loss","target","weight","ignoreIndex"}]})',
  },
  { name: 'task', value: 'NAME[:LOSS]', description: 'a task by output name; target NAME_target (repeatable)', repeatable: true },
  { name: 'outputs', value: 'a,b', description: 'graph outputs as tasks with cross_entropy loss' },
];

export const RUNTIME_OPTIONS: OptionSpec[] = [
  { name: 'device', value: 'cpu|cuda[:id]|auto', description: 'execution provider (default cpu)' },
  {
    name: 'threads',
    check: { kind: 'number', integer: true, min: 1, max: 1024 },
    value: 'N',
    description: 'onnxruntime intra-op threads (default: onnxruntime decides)',
  },
  { name: 'opt-level', value: 'disabled|basic|extended|all', description: 'onnxruntime graph optimisation level (default all)' },
  { name: 'bn', value: 'train|eval', description: 'BatchNormalization statistics: batch (train) or running (eval)' },
];

export function loadModelArg(args: ParsedArgs, io: CommandIO, usage: string): { path: string; model: Model } {
  const path = args.positionals[0];
  if (!path) throw new ReconError(`missing model file (usage: ${usage})`);
  const model = loadModel(path, { onWarning: (m) => io.stderr(`warning: ${m}\n`) });
  refuseExternalDataOutputs(args, path, model);
  return { path, model };
}

/** The files a model's external tensors are read from. */
export function externalDataFiles(model: Model): string[] {
  const files = new Set<string>();
  for (const t of model.graph.initializers.values()) if (t.externalSource) files.add(t.externalSource.path);
  return [...files];
}

/** No declared output may replace one of the loaded model's external-data files. */
export function refuseExternalDataOutputs(args: ParsedArgs, modelPath: string, model: Model): void {
  if (!args.paths) return;
  const data = externalDataFiles(model).map((path) => ({ shown: `the external data of ${modelPath}:`, path }));
  checkNoAliasing(data, args.paths.outputs, args.paths.allow, args.paths.hint);
  args.paths.inputs.push(...data);
}

/**
 * An output the command derives itself (a default name, a sidecar): writable, and neither an
 * input (model, external data, data, spec) nor another output.
 */
export function checkDerivedOutput(args: ParsedArgs, shown: string, path: string): void {
  checkOutputFile(path, shown);
  if (!args.paths) return;
  const role = { shown, path };
  checkNoAliasing(args.paths.inputs, [...args.paths.outputs.filter((o) => o.path !== path), role], args.paths.allow, args.paths.hint);
}

/** The model (first positional argument), its tasks and the required `--data` file. */
export function modelTasksAndData(args: ParsedArgs, io: CommandIO, usage: string): { path: string; model: Model; tasks: TaskSpec[]; dataPath: string } {
  const { path, model } = loadModelArg(args, io, usage);
  const tasks = tasksArg(model, args);
  const dataPath = optionValue(args, 'data');
  if (!dataPath) throw new ReconError('--data is required (model inputs and task targets, batch on axis 0)');
  return { path, model, tasks, dataPath };
}

export function tasksArg(model: Model, args: ParsedArgs): TaskSpec[] {
  return resolveTasks(model, { specFile: optionValue(args, 'tasks'), shorthands: args.options.get('task') ?? [], outputs: listOption(args, 'outputs') });
}

export function deviceArg(args: ParsedArgs): DeviceSpec {
  const d = optionValue(args, 'device') ?? 'cpu';
  if (d === 'cpu' || d === 'cuda' || d === 'auto' || /^cuda:\d+$/.test(d)) return d as DeviceSpec;
  throw new ReconError(`--device must be cpu, cuda, cuda:N or auto, got "${d}"`);
}

export function bnArg(args: ParsedArgs, fallback: 'train' | 'eval'): 'train' | 'eval' {
  const v = optionValue(args, 'bn') ?? fallback;
  if (v !== 'train' && v !== 'eval') throw new ReconError(`--bn must be train or eval, got "${v}"`);
  return v;
}

export function runtimeArgs(
  args: ParsedArgs,
  io: CommandIO,
): { device: DeviceSpec; intraOpThreads?: number; graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all'; onWarning: (m: string) => void } {
  const threads = optionValue(args, 'threads');
  const level = optionValue(args, 'opt-level');
  if (level && !['disabled', 'basic', 'extended', 'all'].includes(level))
    throw new ReconError(`--opt-level must be disabled, basic, extended or all, got "${level}"`);
  if (threads !== undefined && !(Number.isInteger(Number(threads)) && Number(threads) > 0))
    throw new ReconError(`--threads must be a positive integer, got "${threads}"`);
  return {
    device: deviceArg(args),
    ...(threads ? { intraOpThreads: Number(threads) } : {}),
    ...(level ? { graphOptimizationLevel: level as 'disabled' | 'basic' | 'extended' | 'all' } : {}),
    onWarning: (m) => io.stderr(`warning: ${m}\n`),
  };
}
