import { ReconError } from '../util/errors.js';
import type { Model } from '../onnx/model.js';
import { tensorTypeOf } from '../onnx/value-info.js';
import { targetDType, type TaskSpec } from './task-spec.js';
import { getArray, takeRows, toModelDtype, describeMismatch, type Dataset } from '../data/dataset.js';
import { isHostDtype, type HostTensor } from '../data/host-tensor.js';

/** What a model needs from a dataset: its feed inputs and each task's target. */
export interface FeedPlan {
  inputs: { name: string; dtype: HostTensor['dtype']; dims: (number | null)[] }[];
  targets: { name: string; dtype: HostTensor['dtype'] }[];
}

export function planFeeds(model: Model, tasks: readonly TaskSpec[]): FeedPlan {
  const inputs = model.graph.feedInputs.map((vi) => {
    const type = tensorTypeOf(vi);
    const name = vi.name ?? '';
    if (!type?.dtype || !isHostDtype(type.dtype))
      throw new ReconError(`model input "${name}" has an element type recon cannot feed (${type?.dtype ?? 'unknown'})`);
    return { name, dtype: type.dtype, dims: (type.dims ?? []).map((d) => (typeof d === 'number' ? d : null)) };
  });
  const targets = tasks.flatMap((t) => {
    const dtype = targetDType(t.loss);
    return dtype ? [{ name: t.target, dtype }] : [];
  });
  return { inputs, targets };
}

/** Checks up front that the dataset has every array the model and losses need, with fitting shapes. */
export function checkDataset(dataset: Dataset, plan: FeedPlan): void {
  for (const input of plan.inputs) {
    const array = getArray(dataset, input.name);
    const problem = describeMismatch(input.name, array, { dims: [null, ...input.dims.slice(1)] });
    if (problem) throw new ReconError(`${dataset.source}: ${problem} (model input "${input.name}")`);
  }
  for (const target of plan.targets) getArray(dataset, target.name);
}

/** Rows of the dataset as session feeds, converted to the dtypes the model and losses expect. */
export function feedsFor(dataset: Dataset, plan: FeedPlan, rows: ArrayLike<number>): Record<string, HostTensor> {
  const names = [...plan.inputs, ...plan.targets];
  const picked = takeRows({ ...dataset, arrays: new Map(names.map((n) => [n.name, getArray(dataset, n.name)])) }, rows);
  const feeds: Record<string, HostTensor> = {};
  for (const n of names) feeds[n.name] = toModelDtype(picked[n.name]!, n.dtype, n.name);
  return feeds;
}
