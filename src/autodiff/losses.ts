import type { GraphBuilder } from '../onnx/builder.js';

import { ReconError } from '../util/errors.js';
import type { LossKind, TaskSpec } from '../analysis/task-spec.js';

/**
 * Appends one task's loss (PyTorch semantics, mean reduction) to the graph, built from ops that
 * have gradient rules, so the backward of the loss comes from the same rules as the model's.
 * Returns the scalar loss value, already multiplied by the task weight.
 */
export function appendLoss(
  b: GraphBuilder,
  task: TaskSpec,
  prediction: string,
  target: string,
  shapes: { prediction: number[]; target: number[] },
  opset: number,
): string {
  const scope = `loss/${task.name}`;
  const op1 = (type: string, inputs: string[], attrs: Parameters<GraphBuilder['op1']>[2] = {}): string =>
    b.op1(type, inputs, attrs, { name: `${scope}/${type}` });
  const c = (v: number): string => b.scalar(`${scope}/const`, v);
  const axes = (values: number[]): string => b.int64s(`${scope}/axes`, values);
  const reduceSumAll = (x: string): string => op1('ReduceSum', [x], { keepdims: 0 });
  const meanAll = (x: string): string => op1('ReduceMean', [x], { keepdims: 0 });
  const unsqueeze = (x: string, a: number[]): string => (opset >= 13 ? op1('Unsqueeze', [x, axes(a)]) : op1('Unsqueeze', [x], { axes: a }));
  const checkSameShape = (): void => {
    if (shapes.prediction.join(',') !== shapes.target.join(',')) {
      throw new ReconError(
        `task "${task.name}": target "${task.target}" has shape [${shapes.target.join(',')}], output "${task.output}" has [${shapes.prediction.join(',')}]; ${task.loss} needs equal shapes`,
      );
    }
  };
  let loss: string;
  switch (task.loss as LossKind) {
    case 'cross_entropy': {
      const p = shapes.prediction;
      const expected = [p[0], ...p.slice(2)];
      if (p.length < 2 || shapes.target.join(',') !== expected.join(',')) {
        throw new ReconError(
          `task "${task.name}": cross_entropy target "${task.target}" must have shape [${expected.join(',')}] (class indices), got [${shapes.target.join(',')}]`,
        );
      }
      const logProbs = op1('LogSoftmax', [prediction], { axis: 1 });
      const ignore = b.scalar(`${scope}/ignore`, task.ignoreIndex, 'int64');
      const valid = op1('Not', [op1('Equal', [target, ignore])]);
      const safeTarget = op1('Where', [valid, target, b.scalar(`${scope}/zero`, 0, 'int64')]);
      const picked = op1('GatherElements', [logProbs, unsqueeze(safeTarget, [1])], { axis: 1 });
      const mask = unsqueeze(op1('Cast', [valid], { to: 1 }), [1]);
      // Mean over the non-ignored targets, like torch's cross_entropy (NaN when all are ignored).
      loss = op1('Div', [op1('Neg', [reduceSumAll(op1('Mul', [picked, mask]))]), reduceSumAll(mask)]);
      break;
    }
    case 'bce_with_logits': {
      checkSameShape();
      // max(x,0) − x·y + log(1 + exp(−|x|)), the overflow-free form torch uses.
      const x = prediction;
      const softplus = op1('Softplus', [op1('Neg', [op1('Abs', [x])])]);
      loss = meanAll(op1('Add', [op1('Sub', [op1('Relu', [x]), op1('Mul', [x, target])]), softplus]));
      break;
    }
    case 'mse': {
      checkSameShape();
      const d = op1('Sub', [prediction, target]);
      loss = meanAll(op1('Mul', [d, d]));
      break;
    }
    case 'l1': {
      checkSameShape();
      loss = meanAll(op1('Abs', [op1('Sub', [prediction, target])]));
      break;
    }
    case 'smooth_l1': {
      checkSameShape();
      // beta = 1: 0.5·d² where |d| < 1, |d| − 0.5 elsewhere.
      const d = op1('Abs', [op1('Sub', [prediction, target])]);
      const quadratic = op1('Mul', [op1('Mul', [d, d]), c(0.5)]);
      const linear = op1('Sub', [d, c(0.5)]);
      loss = meanAll(op1('Where', [op1('Less', [d, c(1)]), quadratic, linear]));
      break;
    }
    case 'cosine': {
      checkSameShape();
      // 1 − cos along the channel axis; norms clamped at 1e-8 as torch's cosine_similarity does.
      const sumAxis1 = (x: string): string =>
        opset >= 13 ? op1('ReduceSum', [x, axes([1])], { keepdims: 0 }) : op1('ReduceSum', [x], { axes: [1], keepdims: 0 });
      const norm = (x: string): string => op1('Clip', [op1('Sqrt', [sumAxis1(op1('Mul', [x, x]))]), c(1e-8)]);
      const cos = op1('Div', [sumAxis1(op1('Mul', [prediction, target])), op1('Mul', [norm(prediction), norm(target)])]);
      loss = meanAll(op1('Sub', [c(1), cos]));
      break;
    }
    case 'none': {
      if (shapes.prediction.length > 0 && shapes.prediction.reduce((a, v) => a * v, 1) !== 1) {
        throw new ReconError(`task "${task.name}": loss "none" needs a scalar output, "${task.output}" has shape [${shapes.prediction.join(',')}]`);
      }
      loss = shapes.prediction.length > 0 ? op1('Reshape', [prediction, b.int64s(`${scope}/shape`, [])]) : prediction;
      break;
    }
  }
  return task.weight === 1 ? loss : op1('Mul', [loss, c(task.weight)]);
}
