import { readFileSync } from 'node:fs';
import { checkNameLength, printable, ReconError } from '../util/errors.js';
import type { Model } from '../onnx/model.js';
import { tensorTypeOf } from '../onnx/value-info.js';
import { isFloatDType } from '../onnx/dtype.js';

export const LOSS_KINDS = ['cross_entropy', 'bce_with_logits', 'mse', 'l1', 'smooth_l1', 'cosine', 'none'] as const;
export type LossKind = (typeof LOSS_KINDS)[number];

/** One task: a graph output, how its loss is computed, and which data array is its target. */
export interface TaskSpec {
  name: string;
  output: string;
  loss: LossKind;
  target: string;
  weight: number;
  ignoreIndex: number;
}

export interface TaskSelection {
  /** `--outputs a,b`: these graph outputs as tasks. */
  outputs?: readonly string[];
  /** `--tasks spec.json`. */
  specFile?: string;
  /** `--task NAME[:LOSS]` shorthands. */
  shorthands?: readonly string[];
  /** Loss for tasks picked by output name (default cross_entropy). */
  defaultLoss?: LossKind;
}

/** Parses a task spec document (`{"tasks":[...]}`), naming the file and field on any problem. */
export function parseTaskSpec(json: unknown, source: string): TaskSpec[] {
  const doc = json as { tasks?: unknown };
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.tasks) || doc.tasks.length === 0) {
    throw new ReconError(`${source}: expected {"tasks":[{"name":..., "output":...}, ...]} with at least one task`);
  }
  const tasks = doc.tasks.map((raw: unknown, i: number): TaskSpec => {
    const t = raw as Record<string, unknown>;
    const where = `${source}: tasks[${i}]`;
    if (!t || typeof t !== 'object') throw new ReconError(`${where}: not an object`);
    const name = t['name'] ?? t['output'];
    if (typeof name !== 'string' || name === '') throw new ReconError(`${where}: "name" must be a non-empty string`);
    const output = t['output'] ?? name;
    if (typeof output !== 'string') throw new ReconError(`${where}: "output" must be a string`);
    const loss = t['loss'] ?? 'cross_entropy';
    if (typeof loss !== 'string' || !(LOSS_KINDS as readonly string[]).includes(loss)) {
      throw new ReconError(`${where}: unknown loss "${printable(String(loss), 60)}" (one of ${LOSS_KINDS.join(', ')})`);
    }
    const target = t['target'] ?? `${name}_target`;
    if (typeof target !== 'string') throw new ReconError(`${where}: "target" must be a string`);
    for (const [field, value] of [
      ['name', name],
      ['output', output],
      ['target', target],
    ] as const)
      checkNameLength(value, `${where}: "${field}"`);
    const weight = t['weight'] ?? 1;
    if (typeof weight !== 'number' || !Number.isFinite(weight)) throw new ReconError(`${where}: "weight" must be a finite number`);
    const ignoreIndex = t['ignoreIndex'] ?? -1;
    if (typeof ignoreIndex !== 'number' || !Number.isSafeInteger(ignoreIndex)) throw new ReconError(`${where}: "ignoreIndex" must be an integer`);
    return { name, output, loss: loss as LossKind, target, weight, ignoreIndex };
  });
  const names = new Set<string>();
  for (const t of tasks) {
    if (names.has(t.name)) throw new ReconError(`${source}: task "${printable(t.name)}" appears twice`);
    names.add(t.name);
  }
  return tasks;
}

export function readTaskSpecFile(path: string): TaskSpec[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ReconError(`${path}: cannot read task spec (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ReconError(`${path}: not valid JSON (${printable((e as Error).message, 200)})`);
  }
  return parseTaskSpec(json, path);
}

/** `NAME[:LOSS]` → task with output NAME and target NAME_target. */
export function parseTaskShorthand(text: string): TaskSpec {
  const [name, loss] = text.split(':');
  return parseTaskSpec({ tasks: [{ name, output: name, loss: loss ?? 'cross_entropy' }] }, `--task ${text}`)[0]!;
}

/** Resolves the tasks for a model and checks each names a float graph output. */
export function resolveTasks(model: Model, selection: TaskSelection = {}): TaskSpec[] {
  const outputs = model.graph.outputs;
  let tasks: TaskSpec[];
  const ways = [selection.specFile !== undefined, (selection.shorthands?.length ?? 0) > 0, (selection.outputs?.length ?? 0) > 0].filter(Boolean).length;
  if (ways > 1) throw new ReconError('give the tasks one way: --tasks spec.json, --task NAME (repeatable) or --outputs a,b');
  if (selection.specFile) tasks = readTaskSpecFile(selection.specFile);
  else if (selection.shorthands && selection.shorthands.length > 0) tasks = selection.shorthands.map(parseTaskShorthand);
  else if (selection.outputs && selection.outputs.length > 0) {
    tasks = selection.outputs.map((o) => parseTaskShorthand(`${o}:${selection.defaultLoss ?? 'cross_entropy'}`));
  } else {
    const floats = outputs.filter((o) => isFloatDType(tensorTypeOf(o)?.dtype));
    if (floats.length === 0) throw new ReconError('the model has no float outputs to treat as tasks');
    tasks = floats.map((o) => parseTaskShorthand(`${o.name ?? ''}:${selection.defaultLoss ?? 'cross_entropy'}`));
  }
  const byName = new Map(outputs.map((o) => [o.name ?? '', o]));
  const available = [...byName.keys()].join(', ');
  for (const t of tasks) {
    const o = byName.get(t.output);
    if (!o) throw new ReconError(`task "${printable(t.name)}": the model has no output "${printable(t.output)}" (outputs: ${printable(available, 400)})`);
    const dtype = tensorTypeOf(o)?.dtype;
    if (dtype !== undefined && !isFloatDType(dtype)) {
      throw new ReconError(`task "${printable(t.name)}": output "${printable(t.output)}" is ${dtype}, not a float tensor`);
    }
  }
  return tasks;
}

/** The element type a task's target array must have. */
export function targetDType(loss: LossKind): 'int64' | 'float32' | undefined {
  if (loss === 'cross_entropy') return 'int64';
  if (loss === 'none') return undefined;
  return 'float32';
}
