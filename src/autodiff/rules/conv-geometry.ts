/**
 * The static geometry of convolution-like ops, shared by the Conv/ConvTranspose gradient rules,
 * their im2col lowerings and the pooling rules: explicit pads (auto_pad resolved as onnxruntime
 * does), strides, dilations and kernel spans.
 */
import type { Node } from '../../onnx/node.js';
import type { GradientContext } from '../types.js';
import { repeated } from './emit-util.js';
import { ReconError } from '../../util/errors.js';

/** Static geometry of a convolution-like op over `k` spatial axes, pads made explicit. */
export interface ConvGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
  group: number;
}

/**
 * Explicit (begin, end) pads of a Conv/pooling node, resolving auto_pad from static sizes the way
 * onnxruntime does: SAME_* aims at ceil(in / stride) outputs and puts the odd pad at the end
 * (SAME_UPPER) or the beginning (SAME_LOWER); VALID pads nothing.
 */
export function explicitPads(
  node: Node,
  inSpatial: readonly number[],
  kernel: readonly number[],
  strides: readonly number[],
  dilations: readonly number[],
): { begin: number[]; end: number[] } {
  const k = inSpatial.length;
  const autoPad = node.attrs.string('auto_pad', 'NOTSET');
  if (autoPad === 'NOTSET' || autoPad === '') {
    const pads = node.attrs.ints('pads') ?? repeated(2 * k, 0);
    if (pads.length !== 2 * k) throw new ReconError(`${node.label}: pads has ${pads.length} entries, expected ${2 * k}`);
    return { begin: pads.slice(0, k), end: pads.slice(k) };
  }
  if (autoPad === 'VALID') return { begin: repeated(k, 0), end: repeated(k, 0) };
  if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') throw new ReconError(`${node.label}: unknown auto_pad ${autoPad}`);
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < k; i++) {
    const out = Math.ceil(inSpatial[i]! / strides[i]!);
    const span = (kernel[i]! - 1) * dilations[i]! + 1;
    const total = Math.max(0, (out - 1) * strides[i]! + span - inSpatial[i]!);
    const head = autoPad === 'SAME_LOWER' ? Math.ceil(total / 2) : Math.floor(total / 2);
    begin.push(head);
    end.push(total - head);
  }
  return { begin, end };
}

/** Geometry of a forward Conv, checked against the output shape onnxruntime produced. */
export function convGeometry(ctx: GradientContext): ConvGeometry {
  const node = ctx.node;
  return convNodeGeometry(node, ctx.shape(node.inputs[0]!), ctx.shape(node.inputs[1]!), ctx.shape(node.outputs[0]!));
}

/** `convGeometry` from a Conv node and the static shapes of X, W and Y. */
export function convNodeGeometry(node: Node, xShape: readonly number[], wShape: readonly number[], yShape: readonly number[]): ConvGeometry {
  const k = xShape.length - 2;
  const kernel = node.attrs.ints('kernel_shape') ?? wShape.slice(2);
  const strides = node.attrs.ints('strides') ?? repeated(k, 1);
  const dilations = node.attrs.ints('dilations') ?? repeated(k, 1);
  const group = node.attrs.int('group', 1);
  const inSpatial = xShape.slice(2);
  const { begin, end } = explicitPads(node, inSpatial, kernel, strides, dilations);
  const geo: ConvGeometry = { kernel, strides, dilations, padsBegin: begin, padsEnd: end, group };
  for (let i = 0; i < k; i++) {
    const expected = Math.floor((inSpatial[i]! + begin[i]! + end[i]! - span(geo, i)) / strides[i]!) + 1;
    if (expected !== yShape[2 + i]) {
      throw new ReconError(
        `${node.label}: derived pads [${begin}] / [${end}] give output size ${expected} on spatial axis ${i}, onnxruntime gave ${yShape[2 + i]}`,
      );
    }
  }
  return geo;
}

/** Extent of the dilated kernel along spatial axis i. */
export function span(geo: ConvGeometry, i: number): number {
  return (geo.kernel[i]! - 1) * geo.dilations[i]! + 1;
}

/**
 * Rows at the end of each padded spatial axis that no window of the forward conv reaches
 * (`r` of B.2/B.3): ConvTranspose gets them back as output_padding, the dW conv crops them.
 */
export function remainders(geo: ConvGeometry, inSpatial: readonly number[], outSpatial: readonly number[]): number[] {
  return inSpatial.map((h, i) => h + geo.padsBegin[i]! + geo.padsEnd[i]! - span(geo, i) - geo.strides[i]! * (outSpatial[i]! - 1));
}
