import { printable, ReconError } from '../util/errors.js';
import type { Model } from '../onnx/model.js';
import { tensorTypeOf } from '../onnx/value-info.js';
import { targetDType, type TaskSpec } from './task-spec.js';
import { getArray, takeRows, toModelDtype, describeMismatch, type Dataset } from '../data/dataset.js';
import { isHostDtype, type HostTensor } from '../data/host-tensor.js';

/** An integer input used as row indices of an embedding table (a Gather on an initializer). */
export interface IndexRange {
  /** Rows of the table: valid indices are 0 … rows−1. */
  rows: number;
  /** The Gather node and its table, for messages. */
  node: string;
  table: string;
}

/** Class labels of a cross_entropy target. */
export interface LabelRange {
  task: string;
  /** Number of classes (axis 1 of the task's output) when the model fixes it. */
  classes: number | undefined;
  ignoreIndex: number;
}

/** What a model needs from a dataset: its feed inputs and each task's target. */
export interface FeedPlan {
  inputs: { name: string; dtype: HostTensor['dtype']; dims: (number | null)[]; indexRange?: IndexRange }[];
  targets: { name: string; dtype: HostTensor['dtype']; labels?: LabelRange }[];
}

export function planFeeds(model: Model, tasks: readonly TaskSpec[]): FeedPlan {
  const inputs = model.graph.feedInputs.map((vi) => {
    const type = tensorTypeOf(vi);
    const name = vi.name ?? '';
    if (!type?.dtype || !isHostDtype(type.dtype))
      throw new ReconError(`model input "${name}" has an element type recon cannot feed (${type?.dtype ?? 'unknown'})`);
    const indexRange = type.dtype === 'int64' || type.dtype === 'int32' ? embeddingRange(model, name) : undefined;
    return { name, dtype: type.dtype, dims: (type.dims ?? []).map((d) => (typeof d === 'number' ? d : null)), ...(indexRange ? { indexRange } : {}) };
  });
  const targets = tasks.flatMap((t) => {
    const dtype = targetDType(t.loss);
    if (!dtype) return [];
    if (t.loss !== 'cross_entropy') return [{ name: t.target, dtype }];
    return [{ name: t.target, dtype, labels: { task: t.name, classes: classCount(model, t.output), ignoreIndex: t.ignoreIndex } }];
  });
  return { inputs, targets };
}

/**
 * The smallest table among Gather nodes that index an initializer's axis 0 directly with this
 * input (token ids into an embedding); onnxruntime would wrap negative ids and fail on large
 * ones without saying which array holds them.
 */
function embeddingRange(model: Model, input: string): IndexRange | undefined {
  let best: IndexRange | undefined;
  for (const node of model.graph.nodes) {
    if (node.opType !== 'Gather' || (node.domain !== '' && node.domain !== 'ai.onnx') || node.inputs[1] !== input) continue;
    const table = model.graph.initializers.get(node.inputs[0] ?? '');
    if (!table || table.dims.length === 0 || node.attrs.int('axis', 0) !== 0) continue;
    const rows = table.dims[0]!;
    if (!best || rows < best.rows) best = { rows, node: node.label, table: table.name };
  }
  return best;
}

/** Axis 1 of a graph output when the model fixes it (cross_entropy's class axis). */
function classCount(model: Model, output: string): number | undefined {
  const info = model.graph.outputs.find((o) => o.name === output);
  const dims = info ? tensorTypeOf(info)?.dims : undefined;
  const classes = dims?.[1];
  return typeof classes === 'number' && classes > 0 ? classes : undefined;
}

/** Checks up front that the dataset has every array the model and losses need, with fitting shapes. */
export function checkDataset(dataset: Dataset, plan: FeedPlan): void {
  for (const input of plan.inputs) {
    const array = getArray(dataset, input.name);
    const problem = describeMismatch(input.name, array, { dims: [null, ...input.dims.slice(1)] });
    if (problem) throw new ReconError(`${dataset.source}: ${problem} (model input "${printable(input.name)}")`);
    if (input.indexRange) checkIndices(dataset, input.name, array, input.indexRange);
  }
  for (const target of plan.targets) {
    const array = getArray(dataset, target.name);
    if (target.labels) checkLabels(dataset, target.name, array, target.labels);
  }
}

/** Integer values of an array, or undefined for a float array (refused later by the dtype check). */
function integerValues(array: HostTensor): ArrayLike<number | bigint> | undefined {
  return array.dtype === 'float32' || array.dtype === 'float64' ? undefined : array.data;
}

function rowOf(array: HostTensor, flatIndex: number): number {
  const perRow = array.dims.slice(1).reduce((a, b) => a * b, 1);
  return perRow > 0 ? Math.floor(flatIndex / perRow) : 0;
}

/** Every token id must be a row of the embedding table: 0 ≤ id < rows. */
function checkIndices(dataset: Dataset, name: string, array: HostTensor, range: IndexRange): void {
  const values = integerValues(array);
  if (!values) return;
  const rows = BigInt(range.rows);
  for (let i = 0; i < values.length; i++) {
    const v = BigInt(values[i]!);
    if (v < 0n || v >= rows) {
      throw new ReconError(
        `${dataset.source}: array "${printable(name)}" row ${rowOf(array, i)} holds index ${v}, outside [0, ${range.rows}) of the ${range.rows}-row table "${printable(range.table)}" (Gather "${printable(range.node)}")`,
      );
    }
  }
}

/**
 * Class labels must be 0 ≤ label < classes or the ignore index. A negative label is not a class:
 * onnxruntime would read −5 as the fifth class from the end without a word.
 */
function checkLabels(dataset: Dataset, name: string, array: HostTensor, labels: LabelRange): void {
  const where = `${dataset.source}: array "${printable(name)}" (targets of task "${printable(labels.task)}", cross_entropy)`;
  if (array.dtype === 'float32' || array.dtype === 'float64') {
    throw new ReconError(`${where} holds ${array.dtype} values; class labels must be integers (int64, int32 or uint8)`);
  }
  const ignore = BigInt(labels.ignoreIndex);
  const classes = labels.classes !== undefined ? BigInt(labels.classes) : undefined;
  const values = array.data as ArrayLike<number | bigint>;
  for (let i = 0; i < values.length; i++) {
    const v = BigInt(values[i]!);
    if (v === ignore) continue;
    if (v < 0n || (classes !== undefined && v >= classes)) {
      const range = classes !== undefined ? `[0, ${classes})` : 'the non-negative class indices';
      throw new ReconError(`${where}: label ${v} at row ${rowOf(array, i)} is outside ${range} and not the ignore index ${labels.ignoreIndex}`);
    }
  }
}

/** Rows of the dataset as session feeds, converted to the dtypes the model and losses expect. */
export function feedsFor(dataset: Dataset, plan: FeedPlan, rows: ArrayLike<number>): Record<string, HostTensor> {
  const names = [...plan.inputs, ...plan.targets];
  const picked = takeRows({ ...dataset, arrays: new Map(names.map((n) => [n.name, getArray(dataset, n.name)])) }, rows);
  const feeds: Record<string, HostTensor> = {};
  for (const n of names) feeds[n.name] = toModelDtype(picked[n.name]!, n.dtype, n.name);
  return feeds;
}
