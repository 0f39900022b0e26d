import { ReconError } from '../../util/errors.js';
import type { Emitter } from '../emitter.js';
import type { GradientContext, GradientRule, InputGradients } from '../types.js';
import { gradDType, maskGrad, normalizeAxis, numel, padZeros, reshapeTo, sliceStatic, splitStatic, zerosOf } from './emit-util.js';

/**
 * Movement and shape ops. Every shape, axis, index range and split size is folded from the static
 * shapes into constants; the integer inputs that describe them are stop-gradient edges.
 */

/** A build-time integer input, or a clear error when it is computed at run time. */
function constantInput(ctx: GradientContext, index: number, what: string): number[] {
  const name = ctx.node.inputs[index]!;
  const v = ctx.constant(name);
  if (!v) throw new ReconError(`${ctx.node.label}: ${what} ("${name}") is not a build-time constant`);
  return v;
}

/** Ops whose gradient is the output gradient viewed in the input's shape. */
export const reshapeRule: GradientRule = {
  opTypes: ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze'],
  differentiableInputs: () => [0],
  backward(ctx) {
    return { 0: reshapeTo(ctx.emit, ctx.outputGrad(0)!, ctx.shape(ctx.node.inputs[0]!), gradDType(ctx)) };
  },
};

export const identityRule: GradientRule = {
  opTypes: ['Identity'],
  differentiableInputs: () => [0],
  backward: (ctx) => ({ 0: ctx.outputGrad(0)! }),
};

/**
 * Dropout differentiates as the identity (inference graphs, or ratio 0): ratio and training_mode
 * are stop-gradient inputs and the mask output carries no gradient.
 */
export const dropoutRule: GradientRule = {
  opTypes: ['Dropout'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const dY = ctx.outputGrad(0);
    return dY ? { 0: dY } : {};
  },
};

export const transposeRule: GradientRule = {
  opTypes: ['Transpose'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const rank = ctx.shape(ctx.node.inputs[0]!).length;
    const perm = ctx.node.attrs.ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    const inverse = new Array<number>(rank);
    perm.forEach((p, i) => (inverse[normalizeAxis(p, rank)] = i));
    return { 0: ctx.emit.transpose(ctx.outputGrad(0)!, inverse) };
  },
};

export const expandRule: GradientRule = {
  opTypes: ['Expand'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const x = ctx.node.inputs[0]!;
    return { 0: ctx.emit.reduceToShape(ctx.outputGrad(0)!, ctx.shape(ctx.node.outputs[0]!), ctx.shape(x)) };
  },
};

/** Tile: view dY as [r0, d0, r1, d1, …] and sum over the repeat axes. */
export const tileRule: GradientRule = {
  opTypes: ['Tile'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const shape = ctx.shape(ctx.node.inputs[0]!);
    const repeats = constantInput(ctx, 1, 'repeats');
    const dY = ctx.outputGrad(0)!;
    // An empty input or output (a zero repeat) has an all-zero gradient.
    if (numel(shape) === 0 || repeats.some((r) => r === 0)) return { 0: zerosOf(e, shape, gradDType(ctx)) };
    if (repeats.every((r) => r === 1)) return { 0: dY };
    const split = shape.flatMap((d, i) => [repeats[i]!, d]);
    const axes = shape.map((_, i) => 2 * i).filter((a) => split[a] !== 1);
    return { 0: e.reshape(e.reduceSum(e.reshape(dY, split), axes, false), shape) };
  },
};

/** Concat: split dY back into the inputs' static sizes along the axis. */
export const concatRule: GradientRule = {
  opTypes: ['Concat'],
  differentiableInputs: (node) => node.inputs.map((_, i) => i),
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const dY = ctx.outputGrad(0)!;
    const dtype = gradDType(ctx);
    const rank = ctx.shape(node.outputs[0]!).length;
    const axis = normalizeAxis(node.attrs.int('axis', 0), rank);
    const shapes = node.inputs.map((x) => ctx.shape(x));
    // Empty inputs are left out of the Split (zero-size split entries are poorly supported).
    const present = node.inputs.map((_, i) => i).filter((i) => shapes[i]![axis]! > 0);
    const parts = splitStatic(
      e,
      dY,
      axis,
      present.map((i) => shapes[i]![axis]!),
    );
    const grads: InputGradients = {};
    node.inputs.forEach((_, i) => {
      if (!ctx.needsGrad(i)) return;
      const k = present.indexOf(i);
      grads[i] = k < 0 ? zerosOf(e, shapes[i]!, dtype) : parts[k]!;
    });
    return grads;
  },
};

/** Split: concatenate the outputs' gradients, with zeros for outputs no gradient reaches. */
export const splitRule: GradientRule = {
  opTypes: ['Split'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const dtype = gradDType(ctx);
    const rank = ctx.shape(node.inputs[0]!).length;
    const axis = normalizeAxis(node.attrs.int('axis', 0), rank);
    const parts: string[] = [];
    node.outputs.forEach((o, i) => {
      const shape = ctx.shape(o);
      if (shape[axis] === 0) return;
      parts.push(ctx.outputGrad(i) ?? zerosOf(e, shape, dtype));
    });
    if (parts.length === 0) return { 0: zerosOf(e, ctx.shape(node.inputs[0]!), dtype) };
    return { 0: parts.length === 1 ? parts[0]! : e.op1('Concat', parts, { axis }) };
  },
};

/** One sliced axis in normalised form: the selected indices are lo, lo+stride, …, (count of them). */
interface SlicedAxis {
  axis: number;
  dim: number;
  lo: number;
  stride: number;
  count: number;
  reversed: boolean;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

/** ONNX Slice semantics (negative indices, clamping, negative steps) per axis. */
function slicedAxes(ctx: GradientContext): SlicedAxis[] {
  const node = ctx.node;
  const inShape = ctx.shape(node.inputs[0]!);
  const outShape = ctx.shape(node.outputs[0]!);
  const rank = inShape.length;
  let starts: number[];
  let ends: number[];
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (ctx.opset >= 10) {
    starts = constantInput(ctx, 1, 'starts');
    ends = constantInput(ctx, 2, 'ends');
    axes = node.inputs[3] ? constantInput(ctx, 3, 'axes') : undefined;
    steps = node.inputs[4] ? constantInput(ctx, 4, 'steps') : undefined;
  } else {
    starts = node.attrs.ints('starts', []);
    ends = node.attrs.ints('ends', []);
    axes = node.attrs.ints('axes');
  }
  return starts.map((s0, i) => {
    const axis = normalizeAxis(axes ? axes[i]! : i, rank);
    const dim = inShape[axis]!;
    const step = steps ? steps[i]! : 1;
    if (step === 0) throw new ReconError(`${node.label}: Slice step 0`);
    let start = s0 < 0 ? s0 + dim : s0;
    let end = ends[i]! < 0 ? ends[i]! + dim : ends[i]!;
    let count: number;
    if (step > 0) {
      start = clamp(start, 0, dim);
      end = clamp(end, 0, dim);
      count = Math.max(0, Math.ceil((end - start) / step));
    } else {
      start = clamp(start, 0, dim - 1);
      end = clamp(end, -1, dim - 1);
      count = Math.max(0, Math.ceil((start - end) / -step));
    }
    if (count !== outShape[axis]) {
      throw new ReconError(`${node.label}: Slice along axis ${axis} selects ${count} elements, runtime says ${outShape[axis]}`);
    }
    const stride = Math.abs(step);
    const lo = step > 0 ? start : start + (count - 1) * step;
    return { axis, dim, lo, stride, count, reversed: step < 0 && count > 1 };
  });
}

/**
 * Slice: scatter dY back to the selected positions. Reversed axes are flipped back with a Slice of
 * step −1; strided axes are interleaved with zeros (Reshape [n,1] → Pad to [n,stride] → Reshape
 * [n·stride]); the result is cropped to fit and zero-padded into place. Only Slice/Pad/Reshape,
 * no Scatter, so every opset and execution provider runs it.
 */
export const sliceRule: GradientRule = {
  opTypes: ['Slice'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const dtype = gradDType(ctx);
    const inShape = ctx.shape(ctx.node.inputs[0]!);
    const outShape = ctx.shape(ctx.node.outputs[0]!);
    const axes = slicedAxes(ctx);
    if (numel(outShape) === 0 || numel(inShape) === 0) return { 0: zerosOf(e, inShape, dtype) };
    let g = ctx.outputGrad(0)!;
    const reversed = axes.filter((a) => a.reversed);
    if (reversed.length > 0) {
      g = sliceStatic(
        e,
        g,
        reversed.map(() => -1),
        reversed.map((a) => -(a.count + 1)),
        reversed.map((a) => a.axis),
        reversed.map(() => -1),
      );
    }
    const shape = outShape.slice();
    const strided = axes.filter((a) => a.stride > 1 && a.count > 1).sort((p, q) => p.axis - q.axis);
    if (strided.length > 0) {
      const expanded: number[] = [];
      const padEnd: number[] = [];
      shape.forEach((d, i) => {
        expanded.push(d);
        padEnd.push(0);
        const s = strided.find((a) => a.axis === i);
        if (s) {
          expanded.push(1);
          padEnd.push(s.stride - 1);
        }
      });
      g = padZeros(
        e,
        e.reshape(g, expanded),
        expanded.map(() => 0),
        padEnd,
      );
      for (const s of strided) shape[s.axis] = s.count * s.stride;
      g = e.reshape(g, shape);
    }
    // The interleaving may overrun the input's end by up to stride − 1 trailing zeros: crop them.
    const crop = axes.filter((a) => shape[a.axis]! > a.dim - a.lo);
    g = sliceStatic(
      e,
      g,
      crop.map(() => 0),
      crop.map((a) => a.dim - a.lo),
      crop.map((a) => a.axis),
    );
    for (const a of crop) shape[a.axis] = a.dim - a.lo;
    const begins = inShape.map(() => 0);
    const ends = inShape.map(() => 0);
    for (const a of axes) {
      begins[a.axis] = a.lo;
      ends[a.axis] = a.dim - a.lo - shape[a.axis]!;
    }
    return { 0: padZeros(e, g, begins, ends) };
  },
};

/** Per-axis begin/end pads of a Pad node (attribute before opset 11, inputs from 11, axes from 18). */
function padAmounts(ctx: GradientContext): { begin: number[]; end: number[] } {
  const node = ctx.node;
  const rank = ctx.shape(node.inputs[0]!).length;
  let pads: number[];
  let axes = Array.from({ length: rank }, (_, i) => i);
  if (ctx.opset >= 11) {
    pads = constantInput(ctx, 1, 'pads');
    if (node.inputs[3]) axes = constantInput(ctx, 3, 'axes').map((a) => normalizeAxis(a, rank));
  } else {
    pads = node.attrs.ints('pads') ?? node.attrs.ints('paddings', []);
  }
  const begin = Array.from({ length: rank }, () => 0);
  const end = Array.from({ length: rank }, () => 0);
  axes.forEach((a, i) => {
    begin[a] = pads[i]!;
    end[a] = pads[axes.length + i]!;
  });
  return { begin, end };
}

type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

function padMode(ctx: GradientContext): PadMode {
  const mode = ctx.node.attrs.string('mode', 'constant');
  if (mode === 'constant' || mode === 'reflect' || mode === 'edge' || mode === 'wrap') return mode;
  throw new ReconError(`${ctx.node.label}: Pad mode "${mode}" has no gradient rule`);
}

/**
 * Source index along one axis of every output position of a reflect/edge/wrap Pad, as
 * onnxruntime computes it: negative pads crop first, then the cropped run of `len` elements is
 * padded by reading from itself. onnxruntime refuses reflect pads of `len` or more; it fills wrap
 * begin pads longer than `len` with zeros where numpy would wrap again, so those are refused here
 * rather than differentiated against either reading.
 */
function padSourceMap(ctx: GradientContext, mode: Exclude<PadMode, 'constant'>, axis: number, n: number, begin: number, end: number): number[] {
  const lo = Math.max(-begin, 0);
  const len = n - lo - Math.max(-end, 0);
  const before = Math.max(begin, 0);
  const after = Math.max(end, 0);
  const where = `${ctx.node.label}: Pad mode "${mode}" on axis ${axis} (length ${n}, pads ${begin}, ${end})`;
  if (len <= 0) throw new ReconError(`${where} crops the axis away, leaving nothing to ${mode === 'edge' ? 'repeat' : mode}`);
  if (mode === 'reflect' && (len < 2 || before > len - 1 || after > len - 1)) {
    throw new ReconError(`${where}: reflect pads must be shorter than the cropped axis (${len})`);
  }
  if (mode === 'wrap' && before > len) {
    throw new ReconError(`${where}: a wrap begin pad longer than the cropped axis (${len}) has no gradient rule (onnxruntime zero-fills it)`);
  }
  const map: number[] = [];
  for (let i = 0; i < len + before + after; i++) {
    const k = i - before;
    let v: number;
    if (mode === 'edge') v = clamp(k, 0, len - 1);
    else if (mode === 'wrap') v = ((k % len) + len) % len;
    else v = k < 0 ? -k : k >= len ? 2 * (len - 1) - k : k;
    map.push(lo + v);
  }
  return map;
}

/**
 * dY along one axis folded back onto the source positions of `map`: the output is cut into runs
 * whose sources step by +1 (copied), −1 (reflected) or 0 (an edge repeated), each run is sliced
 * (reversed, or summed to one row) and zero-padded into place, and the runs are summed. Slices
 * and pads only, no Scatter, so every opset and execution provider runs it.
 */
function foldAxis(e: Emitter, g: string, shape: readonly number[], axis: number, map: readonly number[], n: number): string {
  const out = map.length;
  const pieces: string[] = [];
  for (let i0 = 0; i0 < out; ) {
    const step = i0 + 1 < out && Math.abs(map[i0 + 1]! - map[i0]!) <= 1 ? map[i0 + 1]! - map[i0]! : 0;
    let i1 = i0 + 1;
    while (i1 < out && map[i1]! - map[i1 - 1]! === step) i1++;
    let piece: string;
    let lo: number;
    let count: number;
    if (step === 1 || i1 - i0 === 1) {
      piece = i0 === 0 && i1 === out ? g : sliceStatic(e, g, [i0], [i1], [axis]);
      lo = map[i0]!;
      count = i1 - i0;
    } else if (step === -1) {
      piece = reverseRange(e, g, axis, i0, i1, out);
      lo = map[i1 - 1]!;
      count = i1 - i0;
    } else {
      piece = e.reduceSum(sliceStatic(e, g, [i0], [i1], [axis]), [axis], true);
      lo = map[i0]!;
      count = 1;
    }
    const begins = shape.map((_, a) => (a === axis ? lo : 0));
    const ends = shape.map((_, a) => (a === axis ? n - lo - count : 0));
    pieces.push(padZeros(e, piece, begins, ends));
    i0 = i1;
  }
  return e.sum(pieces);
}

/** Positions [i0, i1) of `axis` in reverse order (a step −1 Slice, or a Gather before opset 10). */
function reverseRange(e: Emitter, g: string, axis: number, i0: number, i1: number, size: number): string {
  if (e.opset < 10) {
    const idx = Array.from({ length: i1 - i0 }, (_, k) => i1 - 1 - k);
    return e.op1('Gather', [g, e.int64s(idx)], { axis });
  }
  // An end of −(size+1) clamps to "through index 0".
  return sliceStatic(e, g, [i1 - 1], [i0 > 0 ? i0 - 1 : -(size + 1)], [axis], [-1]);
}

/**
 * Pad (pads as attribute before opset 11, input from 11, optional axes from 18; negative pads
 * crop).
 * - constant: dX is the un-padded window of dY, zero-padded where the forward cropped; the
 *   constant value (an input from opset 11) gets the sum of dY over the padding.
 * - reflect / edge / wrap (wrap from opset 19): every output reads one input position, separably
 *   per axis, so dX accumulates dY over each axis' build-time source map (`foldAxis`).
 */
export const padRule: GradientRule = {
  opTypes: ['Pad'],
  differentiableInputs: (node, opset) => (opset >= 11 && node.inputs[2] && node.attrs.string('mode', 'constant') === 'constant' ? [0, 2] : [0]),
  backward(ctx) {
    const mode = padMode(ctx);
    const { begin, end } = padAmounts(ctx);
    if (mode === 'constant') return constantPadGrad(ctx, begin, end);
    const e = ctx.emit;
    const inShape = ctx.shape(ctx.node.inputs[0]!);
    const outShape = ctx.shape(ctx.node.outputs[0]!);
    const maps = inShape.map((n, a) => (begin[a] === 0 && end[a] === 0 ? undefined : padSourceMap(ctx, mode, a, n, begin[a]!, end[a]!)));
    maps.forEach((m, a) => {
      if (m && m.length !== outShape[a])
        throw new ReconError(`${ctx.node.label}: Pad output axis ${a} has ${m.length} elements by the pads, ${outShape[a]} by the runtime`);
    });
    if (numel(outShape) === 0 || numel(inShape) === 0) return { 0: zerosOf(e, inShape, gradDType(ctx)) };
    let g = ctx.outputGrad(0)!;
    const shape = outShape.slice();
    maps.forEach((m, a) => {
      if (!m) return;
      g = foldAxis(e, g, shape, a, m, inShape[a]!);
      shape[a] = inShape[a]!;
    });
    return { 0: g };
  },
};

function constantPadGrad(ctx: GradientContext, begin: readonly number[], end: readonly number[]): InputGradients {
  const e = ctx.emit;
  const node = ctx.node;
  const dtype = gradDType(ctx);
  const inShape = ctx.shape(node.inputs[0]!);
  const outShape = ctx.shape(node.outputs[0]!);
  const dY = ctx.outputGrad(0)!;
  const sliceAxes = inShape.map((_, i) => i).filter((i) => begin[i]! > 0 || end[i]! > 0);
  const window =
    numel(outShape) === 0
      ? dY
      : sliceStatic(
          e,
          dY,
          sliceAxes.map((i) => Math.max(begin[i]!, 0)),
          sliceAxes.map((i) => outShape[i]! - Math.max(end[i]!, 0)),
          sliceAxes,
        );
  const grads: InputGradients = {};
  if (ctx.needsGrad(0)) {
    grads[0] =
      numel(inShape) === 0 || numel(outShape) === 0
        ? zerosOf(e, inShape, dtype)
        : padZeros(
            e,
            window,
            begin.map((b) => Math.max(-b, 0)),
            end.map((p) => Math.max(-p, 0)),
          );
  }
  if (ctx.needsGrad(2)) {
    const all = outShape.map((_, i) => i);
    const total = e.reduceSum(dY, all, false);
    const inner = numel(outShape) === 0 ? total : e.reduceSum(window, all, false);
    const dValue = e.sub(total, inner);
    const vShape = ctx.shape(node.inputs[2]!);
    grads[2] = vShape.length === 0 ? dValue : e.reshape(dValue, vShape);
  }
  return grads;
}

/**
 * DepthToSpace / SpaceToDepth on [N, C, H, W] are permutations of the elements, so each gradient
 * is the inverse permutation of dY: DepthToSpace DCR and SpaceToDepth undo each other exactly
 * (one op, every opset), and DepthToSpace CRD is undone by the transposed Reshape/Transpose chain
 * (there is no CRD SpaceToDepth).
 */
export const depthToSpaceRule: GradientRule = {
  opTypes: ['DepthToSpace', 'SpaceToDepth'],
  differentiableInputs: () => [0],
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const inShape = ctx.shape(node.inputs[0]!);
    const dY = ctx.outputGrad(0)!;
    const blocksize = node.attrs.int('blocksize', 0);
    if (inShape.length !== 4 || blocksize < 1) throw new ReconError(`${node.label}: ${node.opType} expects a rank-4 input and a blocksize >= 1`);
    if (numel(inShape) === 0) return { 0: zerosOf(e, inShape, gradDType(ctx)) };
    if (blocksize === 1) return { 0: dY };
    if (node.opType === 'SpaceToDepth') return { 0: e.op1('DepthToSpace', [dY], { blocksize, ...(ctx.opset >= 11 ? { mode: 'DCR' } : {}) }) };
    const mode = node.attrs.string('mode', 'DCR');
    if (mode === 'DCR') return { 0: e.op1('SpaceToDepth', [dY], { blocksize }) };
    if (mode !== 'CRD') throw new ReconError(`${node.label}: DepthToSpace mode "${mode}" has no gradient rule`);
    // CRD forward: [N, C', b, b, H, W] → Transpose [0, 1, 4, 2, 5, 3] → [N, C', H·b, W·b].
    const [n, c, h, w] = inShape as [number, number, number, number];
    const b = blocksize;
    const split = e.reshape(dY, [n, c / (b * b), h, b, w, b]);
    return { 0: e.reshape(e.transpose(split, [0, 1, 3, 5, 2, 4]), inShape) };
  },
};

/** Where: the condition is stop-gradient; each branch gets dY where it was chosen, reduced to its shape. */
export const whereRule: GradientRule = {
  opTypes: ['Where'],
  minOpset: 9,
  differentiableInputs: () => [1, 2],
  backward(ctx) {
    const e = ctx.emit;
    const [cond, a, b] = ctx.node.inputs as [string, string, string];
    const dY = ctx.outputGrad(0)!;
    const dtype = gradDType(ctx);
    const out = ctx.shape(ctx.node.outputs[0]!);
    const grads: InputGradients = {};
    if (ctx.needsGrad(1)) grads[1] = e.reduceToShape(maskGrad(e, cond, dY, dtype), out, ctx.shape(a));
    if (ctx.needsGrad(2)) grads[2] = e.reduceToShape(maskGrad(e, cond, dY, dtype, false), out, ctx.shape(b));
    return grads;
  },
};

/**
 * Ops with no float gradient: comparisons, logic, shape queries, index producers, constants and
 * random generators. Registered with no differentiable inputs so shape subgraphs that read a
 * parameter (Shape(x), Equal(x, 0)) pass through without a coverage error.
 */
export const noGradientRule: GradientRule = {
  opTypes: [
    'Equal',
    'Less',
    'LessOrEqual',
    'Greater',
    'GreaterOrEqual',
    'Not',
    'And',
    'Or',
    'Xor',
    'IsNaN',
    'IsInf',
    'Shape',
    'Size',
    'ConstantOfShape',
    'Range',
    'NonZero',
    'ArgMax',
    'ArgMin',
    'Constant',
    'EyeLike',
    'RandomNormal',
    'RandomUniform',
    'RandomNormalLike',
    'RandomUniformLike',
  ],
  differentiableInputs: () => [],
  backward: () => ({}),
};

export const shapeRules: readonly GradientRule[] = [
  reshapeRule,
  identityRule,
  dropoutRule,
  transposeRule,
  expandRule,
  tileRule,
  concatRule,
  splitRule,
  sliceRule,
  padRule,
  depthToSpaceRule,
  whereRule,
  noGradientRule,
];
