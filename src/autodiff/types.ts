import type { DType } from '../onnx/dtype.js';
import type { Node } from '../onnx/node.js';
import type { Emitter } from './emitter.js';
import type { Lowering } from './lowering.js';

/**
 * What a gradient rule sees of one forward node. Rules emit backward nodes through `emit` and
 * return the names of the gradients of the inputs they were asked for.
 */
export interface GradientContext {
  readonly node: Node;
  /** The default-domain opset the backward graph is written at. */
  readonly opset: number;
  readonly emit: Emitter;
  /** Static shape of a forward value (inputs, outputs, or anything else in the forward graph). */
  shape(value: string): number[];
  dtype(value: string): DType;
  /** Build-time value of an integer input (initializer, Constant, or folded shape computation). */
  constant(value: string): number[] | undefined;
  /** Gradient arriving at forward output `index`, or undefined when none flows there. */
  outputGrad(index: number): string | undefined;
  /** Whether input `index` needs a gradient. Rules must only build what is needed. */
  needsGrad(index: number): boolean;
  /** Batch-norm mode for rules whose backward depends on it. */
  readonly batchNorm: 'train' | 'eval';
  /** Formulations chosen for the device the graph runs on (same object as `emit.lowering`). */
  readonly lowering: Lowering;
}

/** Gradients of inputs by position; missing positions get none. */
export type InputGradients = Partial<Record<number, string>>;

/**
 * One op family's backward rule, in the spirit of tfjs-core's gradient configs: which inputs
 * can carry a gradient, and how to emit each input's gradient from the output gradients.
 */
export interface GradientRule {
  readonly opTypes: readonly string[];
  /** Input positions that can carry gradients; the others are stop-gradient edges (shapes, indices). */
  differentiableInputs(node: Node, opset: number): readonly number[];
  backward(ctx: GradientContext): InputGradients;
  /** The lowest default-domain opset the emitted backward needs (e.g. 16 for ScatterElements add). */
  readonly minOpset?: number;
}
