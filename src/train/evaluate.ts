import type { Model } from '../onnx/model.js';
import { serializeModel } from '../onnx/save.js';
import type { TaskSpec } from '../analysis/task-spec.js';
import type { Dataset } from '../data/dataset.js';
import { batchIndices } from '../data/dataset.js';
import { checkDataset, feedsFor, planFeeds } from '../analysis/model-feeds.js';
import { RuntimeSession, type SessionOptions } from '../runtime/session.js';
import { inferenceForm } from './model-forms.js';

/** Per-task test metrics; which ones depend on the task's loss and output shape. */
export interface TaskMetrics {
  task: string;
  /** Classification ([N,C] logits): top-1 accuracy in %. */
  accuracy?: number;
  /** Dense classification ([N,C,H,W]): mean IoU over classes present, and pixel accuracy, in %. */
  mIoU?: number;
  pixelAccuracy?: number;
  /** Regression: mean absolute error and mean relative error |y−t|/|t| (over t ≠ 0). */
  absError?: number;
  relError?: number;
  /** Mean loss-free count of evaluated targets (ignored ones excluded). */
  count: number;
}

/**
 * Runs the model in inference form (BatchNormalization with running statistics, no Dropout) over a dataset
 * and computes each task's metrics.
 */
export async function evaluateModel(
  model: Model,
  tasks: readonly TaskSpec[],
  dataset: Dataset,
  options: SessionOptions & { batchSize?: number } = {},
): Promise<TaskMetrics[]> {
  const inference = inferenceForm(model).model;
  const plan = planFeeds(model, tasks);
  checkDataset(dataset, plan);
  const session = await RuntimeSession.create(serializeModel(inference), options);
  const acc = tasks.map(() => new MetricAccumulator());
  try {
    for (const rows of batchIndices(dataset.length, options.batchSize ?? 256, { shuffle: false, dropLast: false })) {
      const feeds = feedsFor(dataset, plan, rows);
      const inputs = Object.fromEntries(plan.inputs.map((i) => [i.name, feeds[i.name]!]));
      const out = await session.run(
        inputs,
        tasks.map((t) => t.output),
      );
      tasks.forEach((t, k) => acc[k]!.add(t, out[t.output]!.dims, out[t.output]!.data as Float32Array, feeds[t.target]));
    }
  } finally {
    await session.release();
  }
  return tasks.map((t, k) => acc[k]!.result(t));
}

class MetricAccumulator {
  private correct = 0;
  private count = 0;
  private absSum = 0;
  private relSum = 0;
  private relCount = 0;
  private intersection: number[] = [];
  private union: number[] = [];

  add(task: TaskSpec, dims: number[], pred: Float32Array, target: { data: ArrayLike<number | bigint> } | undefined): void {
    if (!target) return;
    if (task.loss === 'cross_entropy') {
      const [n, c] = [dims[0]!, dims[1]!];
      const spatial = dims.slice(2).reduce((a, b) => a * b, 1);
      const dense = dims.length > 2;
      if (dense) {
        while (this.intersection.length < c) {
          this.intersection.push(0);
          this.union.push(0);
        }
      }
      for (let i = 0; i < n; i++) {
        for (let s = 0; s < spatial; s++) {
          const t = Number(target.data[i * spatial + s]);
          if (t === task.ignoreIndex) continue;
          let best = 0;
          for (let k = 1; k < c; k++) if (pred[(i * c + k) * spatial + s]! > pred[(i * c + best) * spatial + s]!) best = k;
          this.count++;
          if (best === t) this.correct++;
          if (dense) {
            if (best === t) this.intersection[t]!++;
            this.union[t]!++;
            if (best !== t) this.union[best]!++;
          }
        }
      }
      return;
    }
    for (let i = 0; i < pred.length; i++) {
      const t = Number(target.data[i]);
      const d = Math.abs(pred[i]! - t);
      this.absSum += d;
      this.count++;
      if (t !== 0) {
        this.relSum += d / Math.abs(t);
        this.relCount++;
      }
    }
  }

  result(task: TaskSpec): TaskMetrics {
    if (task.loss === 'cross_entropy') {
      const m: TaskMetrics = { task: task.name, count: this.count, accuracy: (100 * this.correct) / Math.max(this.count, 1) };
      if (this.union.length > 0) {
        const ious = this.union.map((u, k) => (u > 0 ? this.intersection[k]! / u : NaN)).filter((v) => !Number.isNaN(v));
        m.mIoU = (100 * ious.reduce((a, b) => a + b, 0)) / Math.max(ious.length, 1);
        m.pixelAccuracy = m.accuracy!;
        delete m.accuracy;
      }
      return m;
    }
    return { task: task.name, count: this.count, absError: this.absSum / Math.max(this.count, 1), relError: this.relSum / Math.max(this.relCount, 1) };
  }
}

export function formatMetrics(metrics: readonly TaskMetrics[]): string {
  return metrics
    .map((m) => {
      const parts: string[] = [];
      if (m.accuracy !== undefined) parts.push(`accuracy ${m.accuracy.toFixed(2)}%`);
      if (m.mIoU !== undefined) parts.push(`mIoU ${m.mIoU.toFixed(2)}%`, `pixel acc ${m.pixelAccuracy!.toFixed(2)}%`);
      if (m.absError !== undefined) parts.push(`abs err ${m.absError.toFixed(4)}`, `rel err ${m.relError!.toFixed(4)}`);
      return `${m.task}: ${parts.join(', ')}`;
    })
    .join('; ');
}
