import type { Node } from '../../onnx/node.js';
import type { Emitter } from '../emitter.js';
import type { GradientContext, GradientRule, InputGradients } from '../types.js';
import { numel, padZeros, range, repeated } from './emit-util.js';
import { sharedValue } from './shared-values.js';

/**
 * Conv and ConvTranspose backward rules from standard ops only (no ConvGrad):
 * - Conv dX is a ConvTranspose with explicit pads and output_padding (B.2), or the same transposed
 *   convolution as Gather (im2col of dY) + one GEMM per block of input positions,
 * - Conv dW is a Conv with batch and channels swapped and stride and dilation swapped (B.3), one
 *   MatMul per kernel tap, or an im2col of X (Gather) contracted with dY in one GEMM per block,
 * - ConvTranspose is the adjoint of a Conv, so its dX is that Conv and its dW is the same
 *   weight gradient with the roles of input and output gradient exchanged.
 * The im2col forms work in a [C, positions, N] layout (batch innermost), so that batch and
 * positions form one GEMM dimension; they split a contraction into blocks where that skips
 * multiply-adds with padding (`tapBlocks`, chosen by a cost model in `planBlocks`), and share
 * what they derive from forward values between the tasks' backward passes (`sharedValue`). The
 * forward Conv itself can be written the same way (`lowerConvolution`).
 * Every pad is computed from the static shapes: emitted nodes never carry auto_pad or output_shape,
 * which onnxruntime has mishandled on ConvTranspose.
 */

/** The dW formulations of B.3, kept side by side so they can be benchmarked per device. */
export type ConvWeightGradient = 'swapped-conv' | 'per-tap-matmul' | 'im2col-gemm';

/** The dX formulations: onnxruntime's ConvTranspose, or Gather + GEMM per block of positions. */
export type ConvInputGradient = 'conv-transpose' | 'im2col-gemm';

/**
 * Which formulations the Conv/ConvTranspose rules emit. A process-wide switch rather than a rule
 * option because the registry is built once with fixed rules; benchmarks and tests flip it (and a
 * GPU execution provider may want the others). The defaults are the fastest on onnxruntime's CPU
 * EP (bench/RESULTS.md): its Conv and ConvTranspose kernels run one small GEMM per image, which
 * starves the GEMM when the spatial extent is small, while the im2col forms contract batch and
 * positions in one large GEMM.
 */
export const convGradientSettings: { weightGradient: ConvWeightGradient; inputGradient: ConvInputGradient; split: 'auto' | 'never' | 'always' } = {
  weightGradient: 'im2col-gemm',
  inputGradient: 'im2col-gemm',
  /**
   * im2col forms: whether spatial axes are split into exact border classes so that no GEMM
   * multiplies padding (`tapBlocks`): by an estimate of the cost of each plan (`planBlocks`),
   * or never / always (tests, benchmarks).
   */
  split: 'auto',
};

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
    if (pads.length !== 2 * k) throw new Error(`${node.label}: pads has ${pads.length} entries, expected ${2 * k}`);
    return { begin: pads.slice(0, k), end: pads.slice(k) };
  }
  if (autoPad === 'VALID') return { begin: repeated(k, 0), end: repeated(k, 0) };
  if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') throw new Error(`${node.label}: unknown auto_pad ${autoPad}`);
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
      throw new Error(`${node.label}: derived pads [${begin}] / [${end}] give output size ${expected} on spatial axis ${i}, onnxruntime gave ${yShape[2 + i]}`);
    }
  }
  return geo;
}

/** Extent of the dilated kernel along spatial axis i. */
function span(geo: ConvGeometry, i: number): number {
  return (geo.kernel[i]! - 1) * geo.dilations[i]! + 1;
}

/**
 * Rows at the end of each padded spatial axis that no window of the forward conv reaches
 * (`r` of B.2/B.3): ConvTranspose gets them back as output_padding, the dW conv crops them.
 */
function remainders(geo: ConvGeometry, inSpatial: readonly number[], outSpatial: readonly number[]): number[] {
  return inSpatial.map((h, i) => h + geo.padsBegin[i]! + geo.padsEnd[i]! - span(geo, i) - geo.strides[i]! * (outSpatial[i]! - 1));
}

/**
 * Gradient of `Y = Conv(X, W)` with respect to X, shape [N, C, in...], for dY [N, M, out...], in
 * the formulation `convGradientSettings.inputGradient` selects.
 */
export function convInputGrad(e: Emitter, dY: string, w: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
  return convGradientSettings.inputGradient === 'im2col-gemm'
    ? convInputGradIm2col(e, dY, w, geo, xShape, yShape)
    : convInputGradTransposed(e, dY, w, geo, xShape.slice(2), yShape.slice(2));
}

/**
 * B.2: dX is a ConvTranspose of dY with the same weights, strides, dilations, group and pads,
 * whose output_padding restores the trailing rows.
 */
function convInputGradTransposed(e: Emitter, dY: string, w: string, geo: ConvGeometry, inSpatial: readonly number[], outSpatial: readonly number[]): string {
  const r = remainders(geo, inSpatial, outSpatial);
  const attrs: Record<string, number | number[]> = {
    kernel_shape: geo.kernel,
    strides: geo.strides,
    dilations: geo.dilations,
    pads: [...geo.padsBegin, ...geo.padsEnd],
    group: geo.group,
  };
  if (r.some((v) => v !== 0)) attrs['output_padding'] = r;
  return e.op1('ConvTranspose', [dY, w], attrs);
}

/**
 * [N, C, spatial...] → [C, S, N] (S = flat spatial): the layout of the GEMM formulations. With the
 * batch innermost, one gathered row (a channel at one position) holds the whole batch, so every
 * (position, batch) pair forms one contiguous GEMM dimension and no per-image loop is needed.
 */
function channelsSpatialBatch(e: Emitter, v: string, shape: readonly number[]): string {
  return sharedValue(e, `csn:${v}`, () => {
    const [n, c] = shape as [number, number];
    const s = numel(shape.slice(2));
    const flat = e.reshape(v, [n, c, s]);
    return n === 1 ? e.reshape(flat, [c, s, 1]) : e.transpose(flat, [1, 2, 0]);
  });
}

/**
 * Gather along `axis` of `v` (rank `rank`, `size` entries on that axis) by a static table shaped
 * `dims`. Entries equal to `size` read zeros, from one zero slice appended on that axis. An
 * identity table returns `v` itself.
 */
function gatherAlong(e: Emitter, v: string, rank: number, axis: number, size: number, table: readonly number[], dims: readonly number[]): string {
  if (table.length === size && table.every((h, i) => h === i)) return v;
  let source = v;
  if (table.includes(size)) {
    const end = repeated(rank, 0);
    end[axis] = 1;
    source = sharedValue(e, `zero-pad:${v}:${axis}`, () => padZeros(e, v, repeated(rank, 0), end));
  }
  const indices = e.builder.constant(
    `${e.prefix}/const`,
    'int64',
    dims,
    BigInt64Array.from(table, (h) => BigInt(h)),
  );
  return e.op1('Gather', [source, indices], { axis });
}

function flatten(index: readonly number[], extents: readonly number[]): number {
  return index.reduce((acc, v, i) => acc * extents[i]! + v, 0);
}

/** Every row-major combination of per-axis lists (a cartesian product). */
function combinations<T>(perAxis: readonly (readonly T[])[]): T[][] {
  let combos: T[][] = [[]];
  for (const values of perAxis) combos = combos.flatMap((prefix) => values.map((v) => [...prefix, v]));
  return combos;
}

/**
 * One GEMM's share of an im2col formulation: `taps` × `positions` (flat indices, row-major), and
 * the flat source position each pair reads (`sourceSize` where it reads padding).
 * - weight gradient: positions are output positions, the source is X (position o·s + t·d − pb);
 *   blocks partition the taps (the GEMM's output rows),
 * - forward: the same pairs, blocks partition the output positions,
 * - input gradient: positions are input positions, the source is dY (the output o with
 *   o·s + t·d − pb = h); blocks partition the positions.
 */
interface TapBlock {
  taps: number[];
  positions: number[];
  table: number[];
}

type BlockKind = 'weight' | 'forward' | 'input';

/**
 * Splits an im2col contraction into blocks. Per spatial axis the pairs (tap, position) fall into
 * groups: for the input gradient, one per stride phase ((h + pb) mod s), whose positions all see
 * the same taps; otherwise a single group. Near the borders some pairs of a group still read
 * padding, which costs multiply-adds with zeros: on small feature maps (a 3×3 kernel over 2×2
 * positions reads padding in 5 of 9 taps) that is most of the GEMM. An axis in `splitAxes` is
 * instead grouped exactly: taps (weight) or positions (forward, input) with the same live
 * partners form one group, so no pair reads padding. Blocks are the products of the per-axis
 * groups.
 */
function tapBlocks(kind: BlockKind, geo: ConvGeometry, inSpatial: readonly number[], outSpatial: readonly number[], splitAxes: readonly boolean[]): TapBlock[] {
  const k = inSpatial.length;
  const readsX = kind !== 'input';
  const positionExtents = readsX ? outSpatial : inSpatial;
  const sourceExtents = readsX ? inSpatial : outSpatial;
  const source = (i: number, t: number, pos: number): number => {
    const s = geo.strides[i]!;
    const offset = t * geo.dilations[i]! - geo.padsBegin[i]!;
    if (readsX) {
      const h = pos * s + offset;
      return h >= 0 && h < inSpatial[i]! ? h : -1;
    }
    const q = pos - offset;
    return q >= 0 && q % s === 0 && q / s < outSpatial[i]! ? q / s : -1;
  };
  const axisGroups: { taps: number[]; positions: number[] }[][] = [];
  for (let i = 0; i < k; i++) {
    const taps = range(0, geo.kernel[i]!);
    const positions = range(0, positionExtents[i]!);
    let groups: { taps: number[]; positions: number[] }[];
    if (splitAxes[i]) {
      // Exact grouping of the partitioned side by its live partners.
      const byPartners = new Map<string, { taps: number[]; positions: number[] }>();
      const byTaps = kind === 'weight';
      for (const a of byTaps ? taps : positions) {
        const partners = (byTaps ? positions : taps).filter((b) => (byTaps ? source(i, a, b) : source(i, b, a)) >= 0);
        if (partners.length === 0) continue;
        const key = partners.join(',');
        const group = byPartners.get(key) ?? (byTaps ? { taps: [], positions: partners } : { taps: partners, positions: [] });
        (byTaps ? group.taps : group.positions).push(a);
        byPartners.set(key, group);
      }
      groups = [...byPartners.values()];
    } else if (readsX) {
      groups = [{ taps, positions }];
    } else {
      const s = geo.strides[i]!;
      groups = range(0, s).map((r) => ({
        taps: taps.filter((t) => (t * geo.dilations[i]!) % s === r),
        positions: positions.filter((h) => (h + geo.padsBegin[i]!) % s === r),
      }));
    }
    axisGroups.push(groups.filter((g) => g.taps.length > 0 && g.positions.length > 0));
  }
  const sourceSize = numel(sourceExtents);
  return combinations(axisGroups).map((parts) => {
    const tapTuples = combinations(parts.map((p) => p.taps));
    const positionTuples = combinations(parts.map((p) => p.positions));
    const table: number[] = [];
    for (const t of tapTuples) {
      for (const pos of positionTuples) {
        const src = t.map((ti, i) => source(i, ti, pos[i]!));
        table.push(src.every((v) => v >= 0) ? flatten(src, sourceExtents) : sourceSize);
      }
    }
    return { taps: tapTuples.map((t) => flatten(t, geo.kernel)), positions: positionTuples.map((p) => flatten(p, positionExtents)), table };
  });
}

/**
 * A rough cost model of onnxruntime's CPU kernels on 2 threads, fitted to bench/conv-micro.ts on
 * the reference machine: GEMMs near peak, copies (Concat, Transpose, Gather) at memory speed, plus
 * a fixed cost per contiguous run a Gather copies (innermost-axis gathers copy single floats and
 * are dominated by it) and per GEMM block (its extra nodes). Only ratios matter: the model picks
 * between im2col plans, never affects results.
 */
const CPU_COST = { flopsPerNs: 180, bytesPerNs: 25, nsPerGatherRun: 20, nsPerBlock: 30_000 };

/** Estimated ns of an [m, k]·[k, n] GEMM: compute- or memory-bound, whichever is slower. */
function gemmCost(m: number, n: number, k: number): number {
  return Math.max((2 * m * n * k) / CPU_COST.flopsPerNs, (4 * (m * k + k * n + m * n)) / CPU_COST.bytesPerNs);
}

/** Estimated ns of copying `elements` floats (read and write) in contiguous runs of `run`. */
function copyCost(elements: number, run = elements): number {
  return (8 * elements) / CPU_COST.bytesPerNs + (elements / Math.max(run, 1)) * CPU_COST.nsPerGatherRun;
}

interface PlanDims {
  n: number;
  c: number;
  m: number;
  g: number;
  taps: number;
  positions: number;
  /** W is an initializer: onnxruntime folds its re-layouts at load, else they run every step. */
  constantWeight: boolean;
}

/** Estimated ns of one task's share of an im2col plan. */
function planCost(kind: BlockKind, blocks: readonly TapBlock[], dims: PlanDims): number {
  const { n, c, m, g, taps, positions } = dims;
  const cg = c / g;
  const mg = m / g;
  let cost = blocks.length * CPU_COST.nsPerBlock;
  let joined = 0;
  // W's re-layouts when fed per step: [M, C, T] → [M, T, C] for the input gradient (then a tap
  // subset is runs of C floats), tap subsets gathered one float at a time otherwise.
  if (kind === 'input' && !dims.constantWeight) cost += copyCost(m * cg * taps);
  for (const b of blocks) {
    const tp = b.taps.length;
    const pp = b.positions.length;
    const identity = b.table.length === positions && b.table.every((v, i) => v === i);
    if (kind !== 'weight' && !dims.constantWeight && tp < taps) cost += copyCost(m * cg * tp, kind === 'input' && g === 1 ? c : 1);
    if (kind === 'input') {
      if (!identity) cost += copyCost(m * tp * pp * n, n);
      cost += g * gemmCost(cg, pp * n, mg * tp);
    } else {
      if (!identity) cost += copyCost(c * tp * pp * n, n);
      if (kind === 'weight' && pp < positions) cost += copyCost(m * pp * n, n);
      cost += kind === 'weight' ? g * gemmCost(cg * tp, mg, pp * n) : g * gemmCost(mg, pp * n, cg * tp);
    }
    joined += kind === 'weight' ? tp : pp;
  }
  if (blocks.length > 1) {
    // Concat and placement Gather; for the weight gradient also the transpose into W's layout.
    if (kind === 'weight') cost += 2 * copyCost(cg * taps * m, mg) + copyCost(cg * taps * m);
    else cost += copyCost((kind === 'input' ? c : m) * joined * n) + copyCost((kind === 'input' ? c : m) * positions * n, n);
  }
  return cost;
}

/**
 * The blocks of the cheapest plan by `planCost` over every choice of axes to split exactly
 * (`convGradientSettings.split`: 'never' and 'always' force one for tests and benchmarks).
 */
function planBlocks(kind: BlockKind, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[], constantWeight = true): TapBlock[] {
  const inSpatial = xShape.slice(2);
  const outSpatial = yShape.slice(2);
  const k = inSpatial.length;
  const mode = convGradientSettings.split;
  if (mode !== 'auto')
    return tapBlocks(
      kind,
      geo,
      inSpatial,
      outSpatial,
      Array.from({ length: k }, () => mode === 'always'),
    );
  const dims: PlanDims = {
    n: xShape[0]!,
    c: xShape[1]!,
    m: yShape[1]!,
    g: geo.group,
    taps: numel(geo.kernel),
    positions: numel(kind === 'input' ? inSpatial : outSpatial),
    constantWeight,
  };
  let best: { blocks: TapBlock[]; cost: number } | undefined;
  for (let mask = 0; mask < 1 << k; mask++) {
    const blocks = tapBlocks(
      kind,
      geo,
      inSpatial,
      outSpatial,
      range(0, k).map((i) => (mask & (1 << i)) !== 0),
    );
    const cost = planCost(kind, blocks, dims);
    if (!best || cost < best.cost) best = { blocks, cost };
  }
  return best!.blocks;
}

/** How many GEMM blocks the im2col form of a conv's forward / weight / input gradient uses (diagnostics). */
export function im2colBlockCount(kind: BlockKind, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[], constantWeight = true): number {
  return planBlocks(kind, geo, xShape, yShape, constantWeight).length;
}

/** Whether `w` is an initializer of the graph being built (not fed per step, as in training). */
function isConstant(e: Emitter, w: string): boolean {
  return e.builder.graph.initializers.has(w);
}

/** Where each of `count` entries sits in the concatenation `placed`, or `placed.length` (zero). */
function placement(placed: readonly number[], count: number): number[] {
  const at = new Map(placed.map((v, i) => [v, i]));
  return range(0, count).map((v) => at.get(v) ?? placed.length);
}

/**
 * The forward convolution Y = Conv(X, W) + B as im2col + GEMM, in the layout and blocks of the
 * backward forms: per block of output positions one GEMM of W's taps with the gathered columns of
 * X (which the weight gradient shares where the blocks agree). On onnxruntime's CPU EP its Conv
 * runs one small GEMM per image, which starves on small maps, and it cannot pre-pack weights
 * that are fed per step (training), so this form can replace it (`lowerConvolution`).
 * Writes the result to `output` (a name) when given.
 */
export function convForwardIm2col(
  e: Emitter,
  x: string,
  w: string,
  bias: string | undefined,
  geo: ConvGeometry,
  xShape: readonly number[],
  yShape: readonly number[],
  output?: string,
): string {
  const [n, c] = xShape as [number, number];
  const m = yShape[1]!;
  const g = geo.group;
  const cg = c / g;
  const mg = m / g;
  const inSpatial = xShape.slice(2);
  const s = numel(inSpatial);
  const p = numel(yShape.slice(2));
  const tapCount = numel(geo.kernel);
  const xt = channelsSpatialBatch(e, x, xShape); // [C, S, N]
  const blocks: string[] = [];
  const placed: number[] = [];
  for (const block of planBlocks('forward', geo, xShape, yShape, isConstant(e, w))) {
    const tp = block.taps.length;
    const pp = block.positions.length;
    const cols = sharedValue(e, `im2col:${x}:${tp}x${pp}:${block.table.join(',')}`, () => gatherAlong(e, xt, 3, 1, s, block.table, [tp, pp])); // [C, taps, positions, N]
    const wb = sharedValue(e, `w-fwd:${w}:${g}:${block.taps.join(',')}`, () =>
      e.reshape(gatherAlong(e, e.reshape(w, [g, mg, cg, tapCount]), 4, 3, tapCount, block.taps, [tp]), g === 1 ? [m, cg * tp] : [g, mg, cg * tp]),
    );
    const prod = e.op1('MatMul', [wb, e.reshape(cols, g === 1 ? [c * tp, pp * n] : [g, cg * tp, pp * n])]); // [g, M/g, positions·N]
    blocks.push(e.reshape(prod, [m, pp, n]));
    placed.push(...block.positions);
  }
  let yt: string;
  if (blocks.length === 0) {
    yt = e.zeros([m, p, n]);
  } else {
    const joined = blocks.length === 1 ? blocks[0]! : e.op1('Concat', blocks, { axis: 1 });
    yt = gatherAlong(e, joined, 3, 1, placed.length, placement(placed, p), [p]);
  }
  const nmp = n === 1 ? e.reshape(yt, [1, m, p]) : e.transpose(yt, [2, 0, 1]);
  if (!bias) return e.op1('Reshape', [nmp, e.int64s(yShape)], {}, output ? { outputs: [output] } : {});
  const y = e.reshape(nmp, yShape);
  const b = e.reshape(bias, [1, m, ...yShape.slice(2).map(() => 1)]);
  return e.op1('Add', [y, b], {}, output ? { outputs: [output] } : {});
}

/**
 * dX of B.2 as im2col + GEMM: dX[n, c, h] = Σ_{m, t} W[m, c, t]·dY[n, m, o] over the taps t and
 * outputs o with o·s + t·d − pb = h. Per block of input positions (stride phases, and border
 * classes on small maps: `tapBlocks`), one Gather of dY builds the columns [M, taps, positions, N]
 * and one GEMM with the matching taps of W gives those positions of dX: no multiply by the zeros a
 * strided transposed convolution inserts. The blocks are put back in place with one Gather.
 */
function convInputGradIm2col(e: Emitter, dY: string, w: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
  const [n, c] = xShape as [number, number];
  const m = yShape[1]!;
  const g = geo.group;
  const cg = c / g;
  const mg = m / g;
  const inSpatial = xShape.slice(2);
  const s = numel(inSpatial);
  const p = numel(yShape.slice(2));
  const tapCount = numel(geo.kernel);
  const dYt = channelsSpatialBatch(e, dY, yShape);
  const blocks: string[] = [];
  const placed: number[] = [];
  for (const block of planBlocks('input', geo, xShape, yShape, isConstant(e, w))) {
    const tp = block.taps.length;
    const hp = block.positions.length;
    const cols = gatherAlong(e, dYt, 3, 1, p, block.table, [tp, hp]); // [M, taps, positions, N]
    let prod: string;
    if (g === 1 && e.opset >= 11) {
      // W [M, C, T] → [M, T, C] once: a block's taps are then whole rows (a Gather of C-float
      // blocks), and Gemm's transA reads [M·taps, C] as the [C, M·taps] operand in place. Where
      // W is an initializer onnxruntime folds all of this at load; fed as an input (training),
      // it is one transpose of W per step.
      const wmt = sharedValue(e, `w-mtc:${w}`, () => e.transpose(e.reshape(w, [m, c, tapCount]), [0, 2, 1]));
      const wb = sharedValue(e, `w-mtc:${w}:${block.taps.join(',')}`, () => e.reshape(gatherAlong(e, wmt, 3, 1, tapCount, block.taps, [tp]), [m * tp, c]));
      prod = e.op1('Gemm', [wb, e.reshape(cols, [m * tp, hp * n])], { transA: 1 });
    } else {
      // W [M, C/g, T] → [g, C/g, M/g·taps], its columns in the order of the gathered rows.
      const wt = sharedValue(e, `wt:${w}:${g}:${block.taps.join(',')}`, () => {
        const wg = gatherAlong(e, e.reshape(w, [g, mg, cg, tapCount]), 4, 3, tapCount, block.taps, [tp]);
        return e.reshape(e.transpose(wg, [0, 2, 1, 3]), g === 1 ? [cg, mg * tp] : [g, cg, mg * tp]);
      });
      prod = e.op1('MatMul', [wt, e.reshape(cols, g === 1 ? [m * tp, hp * n] : [g, mg * tp, hp * n])]);
    }
    blocks.push(e.reshape(prod, [c, hp, n]));
    placed.push(...block.positions);
  }
  let dXt: string;
  if (blocks.length === 0) {
    dXt = e.zeros([c, s, n]);
  } else {
    const joined = blocks.length === 1 ? blocks[0]! : e.op1('Concat', blocks, { axis: 1 });
    dXt = gatherAlong(e, joined, 3, 1, placed.length, placement(placed, s), [s]);
  }
  const out = n === 1 ? dXt : e.transpose(dXt, [2, 0, 1]);
  return e.reshape(out, [n, c, ...inSpatial]);
}

/**
 * Gradient of `Y = Conv(X, W)` with respect to W, shape [M, C/g, k...], for X [N, C, in...] and
 * dY [N, M, out...], in the formulation `convGradientSettings.weightGradient` selects.
 */
export function convWeightGrad(e: Emitter, x: string, dY: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
  switch (convGradientSettings.weightGradient) {
    case 'per-tap-matmul':
      return convWeightGradPerTap(e, x, dY, geo, xShape, yShape);
    case 'swapped-conv':
      return convWeightGradSwapped(e, x, dY, geo, xShape, yShape);
    default:
      return convWeightGradIm2col(e, x, dY, geo, xShape, yShape);
  }
}

/**
 * B.3 as im2col + GEMM: dW[m, c, t] = Σ_{n, o} dY[n, m, o]·X[n, c, o·s + t·d − pb]. Per block of
 * taps (`tapBlocks`: all taps at once, or border classes on small maps), one Gather of X in the
 * [C, S, N] layout builds the columns [C, taps, positions, N], so the contraction over batch ×
 * output positions is one GEMM with dY as [M, positions·N] (grouped convs: one batched MatMul over
 * the groups). The columns depend on X only, so every task's backward shares them.
 */
function convWeightGradIm2col(e: Emitter, x: string, dY: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
  const [n, c] = xShape as [number, number];
  const m = yShape[1]!;
  const g = geo.group;
  const cg = c / g;
  const mg = m / g;
  const inSpatial = xShape.slice(2);
  const outSpatial = yShape.slice(2);
  const s = numel(inSpatial);
  const p = numel(outSpatial);
  const tapCount = numel(geo.kernel);
  const dYt = channelsSpatialBatch(e, dY, yShape); // [M, P, N]
  const xt = channelsSpatialBatch(e, x, xShape); // [C, S, N]
  const blocks = planBlocks('weight', geo, xShape, yShape);
  const colsOf = (block: TapBlock): string =>
    sharedValue(e, `im2col:${x}:${block.taps.length}x${block.positions.length}:${block.table.join(',')}`, () =>
      gatherAlong(e, xt, 3, 1, s, block.table, [block.taps.length, block.positions.length]),
    ); // [C, taps, positions, N]
  if (blocks.length === 0) return e.zeros([m, cg, ...geo.kernel]);
  if (g === 1 && blocks.length === 1 && blocks[0]!.taps.every((t, i) => t === i) && blocks[0]!.taps.length === tapCount) {
    // One block over every tap: dY·colsᵀ is dW in its own layout [M, C·T].
    const block = blocks[0]!;
    const op = block.positions.length;
    const a = e.reshape(gatherAlong(e, dYt, 3, 1, p, block.positions, [op]), [m, op * n]);
    const b = e.reshape(colsOf(block), [c * tapCount, op * n]);
    // Gemm's transB reads the columns in place; before opset 11 Gemm needs C, so MatMul there.
    const prod = e.opset >= 11 ? e.op1('Gemm', [a, b], { transB: 1 }) : e.op1('MatMul', [a, e.transpose(b, [1, 0])]);
    return e.reshape(prod, [m, cg, ...geo.kernel]);
  }
  // Several blocks: each gives its taps as [g, C/g, taps, M/g] (the product taken as cols·dYᵀ),
  // so joining them on the tap axis copies contiguous runs (taps·M/g floats), where W's own layout
  // [M, C/g, T] would interleave single floats; one transpose puts the result into W's layout.
  const parts: string[] = [];
  const placed: number[] = [];
  for (const block of blocks) {
    const tp = block.taps.length;
    const op = block.positions.length;
    const dYb = gatherAlong(e, dYt, 3, 1, p, block.positions, [op]); // [M, positions, N]
    let prod: string;
    if (g === 1 && e.opset >= 11) {
      prod = e.op1('Gemm', [e.reshape(colsOf(block), [c * tp, op * n]), e.reshape(dYb, [m, op * n])], { transB: 1 }); // [C·taps, M]
    } else {
      const dYg = e.transpose(e.reshape(dYb, [g, mg, op * n]), [0, 2, 1]); // [g, positions·N, M/g]
      prod = e.op1('MatMul', [e.reshape(colsOf(block), [g, cg * tp, op * n]), dYg]); // [g, C/g·taps, M/g]
    }
    parts.push(e.reshape(prod, [g, cg, tp, mg]));
    placed.push(...block.taps);
  }
  const joined = parts.length === 1 ? parts[0]! : e.op1('Concat', parts, { axis: 2 });
  const dWt = gatherAlong(e, joined, 4, 2, placed.length, placement(placed, tapCount), [tapCount]); // [g, C/g, T, M/g]
  return e.reshape(e.transpose(dWt, [0, 3, 1, 2]), [m, cg, ...geo.kernel]);
}

/**
 * B.3: dW[m, c, t] = Σ_{n,o} dY[n, m, o] · X[n, c, o·s + t·d − pb] is itself a convolution of X
 * (channels as batch, batch as channels) with dY as the kernel, stride d and dilation s. The end
 * pad shrinks by the unused remainder; where it would go negative, X is cropped instead.
 */
function convWeightGradSwapped(e: Emitter, x: string, dY: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
  const k = xShape.length - 2;
  const [n, c] = xShape as [number, number];
  const inSpatial = xShape.slice(2);
  const outSpatial = yShape.slice(2);
  const g = geo.group;
  const cg = c / g;
  const r = remainders(geo, inSpatial, outSpatial);
  const padsEnd: number[] = [];
  const cropped = inSpatial.slice();
  for (let i = 0; i < k; i++) {
    const pe = geo.padsEnd[i]! - r[i]!;
    if (pe < 0) cropped[i] = inSpatial[i]! + pe;
    padsEnd.push(Math.max(0, pe));
  }
  let input = x;
  if (cropped.some((h, i) => h !== inSpatial[i])) {
    input = e.op1('Slice', [input, e.int64s(repeated(k, 0)), e.int64s(cropped), e.int64s(range(2, 2 + k))]);
  }
  const spatialAxes = range(2, 2 + k);
  let lhs: string;
  if (g === 1) {
    lhs = e.transpose(input, [1, 0, ...spatialAxes]);
  } else {
    // Channels of group j and batch n become input channel j·N + n of a grouped conv.
    const split = e.reshape(input, [n, g, cg, ...cropped]);
    lhs = e.reshape(e.transpose(split, [2, 1, 0, ...range(3, 3 + k)]), [cg, g * n, ...cropped]);
  }
  const rhs = e.transpose(dY, [1, 0, ...spatialAxes]);
  const conv = e.op1('Conv', [lhs, rhs], {
    kernel_shape: outSpatial,
    strides: geo.dilations,
    dilations: geo.strides,
    pads: [...geo.padsBegin, ...padsEnd],
    group: g,
  });
  return e.transpose(conv, [1, 0, ...spatialAxes]);
}

/**
 * B.3's alternative: one strided Slice of the padded X per kernel tap and one batched MatMul per
 * tap over (batch × output positions), grouped as [g, C/g, ·] × [g, ·, M/g]. More nodes, but every
 * product is a plain GEMM.
 */
function convWeightGradPerTap(e: Emitter, x: string, dY: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
  const k = xShape.length - 2;
  const [n, c] = xShape as [number, number];
  const m = yShape[1]!;
  const g = geo.group;
  const cg = c / g;
  const mg = m / g;
  const outSpatial = yShape.slice(2);
  const p = numel(outSpatial);
  let padded = x;
  if ([...geo.padsBegin, ...geo.padsEnd].some((v) => v !== 0)) {
    padded = e.op1('Pad', [x, e.int64s([0, 0, ...geo.padsBegin, 0, 0, ...geo.padsEnd])]);
  }
  const paddedSpatial = xShape.slice(2).map((h, i) => h + geo.padsBegin[i]! + geo.padsEnd[i]!);
  // [N, C, ...] → [g, C/g, N, ...]: a tap's slice then flattens to [g, C/g, N·P] without copying.
  const xt = e.transpose(e.reshape(padded, [n, g, cg, ...paddedSpatial]), [1, 2, 0, ...range(3, 3 + k)]);
  const dyt = e.reshape(e.transpose(e.reshape(dY, [n, g, mg, p]), [1, 0, 3, 2]), [g, n * p, mg]);
  const taps: string[] = [];
  const tapCount = numel(geo.kernel);
  for (let t = 0; t < tapCount; t++) {
    // Row-major tap index → per-axis kernel offsets, so taps stack in W's own layout.
    const offset: number[] = [];
    let rest = t;
    for (let i = k - 1; i >= 0; i--) {
      offset[i] = rest % geo.kernel[i]!;
      rest = Math.floor(rest / geo.kernel[i]!);
    }
    const starts = offset.map((o, i) => o * geo.dilations[i]!);
    const ends = starts.map((s, i) => s + geo.strides[i]! * (outSpatial[i]! - 1) + 1);
    const slice = e.op1('Slice', [xt, e.int64s(starts), e.int64s(ends), e.int64s(range(3, 3 + k)), e.int64s(geo.strides)]);
    const prod = e.op1('MatMul', [e.reshape(slice, [g, cg, n * p]), dyt]);
    taps.push(e.reshape(prod, [1, g, cg, mg]));
  }
  const stacked = taps.length === 1 ? taps[0]! : e.op1('Concat', taps, { axis: 0 });
  return e.reshape(e.transpose(stacked, [1, 3, 2, 0]), [m, cg, ...geo.kernel]);
}

/** dB of a conv-like op: dY summed over batch and spatial axes. */
function biasGrad(e: Emitter, dY: string, rank: number): string {
  return e.reduceSum(dY, [0, ...range(2, rank)], false);
}

export const convRule: GradientRule = {
  opTypes: ['Conv'],
  differentiableInputs: () => [0, 1, 2],
  backward(ctx) {
    const node = ctx.node;
    const e = ctx.emit;
    const [x, w] = node.inputs as [string, string];
    const dY = ctx.outputGrad(0)!;
    const xShape = ctx.shape(x);
    const yShape = ctx.shape(node.outputs[0]!);
    const geo = convGeometry(ctx);
    const grads: InputGradients = {};
    if (ctx.needsGrad(0)) grads[0] = convInputGrad(e, dY, w, geo, xShape, yShape);
    if (ctx.needsGrad(1)) grads[1] = convWeightGrad(e, x, dY, geo, xShape, yShape);
    if (ctx.needsGrad(2)) grads[2] = biasGrad(e, dY, yShape.length);
    return grads;
  },
};

/**
 * Geometry of a forward ConvTranspose with explicit pads, resolving output_shape and auto_pad from
 * the static sizes, then checked against the output shape onnxruntime produced.
 */
export function convTransposeGeometry(ctx: GradientContext): ConvGeometry & { outputPadding: number[] } {
  const node = ctx.node;
  const xShape = ctx.shape(node.inputs[0]!);
  const wShape = ctx.shape(node.inputs[1]!);
  const yShape = ctx.shape(node.outputs[0]!);
  const k = xShape.length - 2;
  const kernel = node.attrs.ints('kernel_shape') ?? wShape.slice(2);
  const strides = node.attrs.ints('strides') ?? repeated(k, 1);
  const dilations = node.attrs.ints('dilations') ?? repeated(k, 1);
  const outputPadding = node.attrs.ints('output_padding') ?? repeated(k, 0);
  const group = node.attrs.int('group', 1);
  const autoPad = node.attrs.string('auto_pad', 'NOTSET');
  const outputShape = node.attrs.ints('output_shape');
  const inSpatial = xShape.slice(2);
  const full = inSpatial.map((h, i) => strides[i]! * (h - 1) + outputPadding[i]! + (kernel[i]! - 1) * dilations[i]! + 1);
  let begin: number[];
  let end: number[];
  const hasOutputShape = !!outputShape && outputShape.length > 0;
  if (hasOutputShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    // The output size is output_shape, or in·stride for SAME_*; the total pad is the excess of the
    // full transposed output over it, odd pad at the end for SAME_UPPER and at the start otherwise
    // (onnxruntime's and the spec's convention, checked in the tests).
    const target = hasOutputShape ? (outputShape!.length === k ? outputShape! : outputShape!.slice(2)) : inSpatial.map((h, i) => h * strides[i]!);
    begin = [];
    end = [];
    for (let i = 0; i < k; i++) {
      const total = Math.max(0, full[i]! - target[i]!);
      const head = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2);
      begin.push(head);
      end.push(total - head);
    }
  } else if (autoPad === 'VALID') {
    begin = repeated(k, 0);
    end = repeated(k, 0);
  } else {
    const pads = node.attrs.ints('pads') ?? repeated(2 * k, 0);
    begin = pads.slice(0, k);
    end = pads.slice(k);
  }
  for (let i = 0; i < k; i++) {
    const expected = full[i]! - begin[i]! - end[i]!;
    if (expected !== yShape[2 + i]) {
      throw new Error(`${node.label}: derived pads [${begin}] / [${end}] give output size ${expected} on spatial axis ${i}, onnxruntime gave ${yShape[2 + i]}`);
    }
  }
  return { kernel, strides, dilations, padsBegin: begin, padsEnd: end, group, outputPadding };
}

/**
 * ConvTranspose(X, W) is the adjoint of the Conv that maps its output space back to X:
 * Conv(Y', W) with the same strides, dilations, group and begin pads, and end pads reduced by
 * output_padding (those trailing output rows receive nothing from X). A negative end pad means
 * trailing rows of Y' that the Conv never reads, so they are cropped.
 */
function adjointConv(
  e: Emitter,
  dY: string,
  geo: ConvGeometry & { outputPadding: number[] },
  yShape: readonly number[],
): { input: string; inputShape: number[]; geo: ConvGeometry } {
  const k = yShape.length - 2;
  const padsEnd: number[] = [];
  const cropped = yShape.slice(2);
  for (let i = 0; i < k; i++) {
    const pe = geo.padsEnd[i]! - geo.outputPadding[i]!;
    if (pe < 0) cropped[i] = cropped[i]! + pe;
    padsEnd.push(Math.max(0, pe));
  }
  let input = dY;
  if (cropped.some((h, i) => h !== yShape[2 + i])) {
    input = e.op1('Slice', [dY, e.int64s(repeated(k, 0)), e.int64s(cropped), e.int64s(range(2, 2 + k))]);
  }
  return {
    input,
    inputShape: [yShape[0]!, yShape[1]!, ...cropped],
    geo: { kernel: geo.kernel, strides: geo.strides, dilations: geo.dilations, padsBegin: geo.padsBegin, padsEnd, group: geo.group },
  };
}

export const convTransposeRule: GradientRule = {
  opTypes: ['ConvTranspose'],
  differentiableInputs: () => [0, 1, 2],
  backward(ctx) {
    const node = ctx.node;
    const e = ctx.emit;
    const [x, w] = node.inputs as [string, string];
    const dY = ctx.outputGrad(0)!;
    const xShape = ctx.shape(x);
    const yShape = ctx.shape(node.outputs[0]!);
    const geo = convTransposeGeometry(ctx);
    const adj = adjointConv(e, dY, geo, yShape);
    const grads: InputGradients = {};
    if (ctx.needsGrad(0)) {
      grads[0] =
        convGradientSettings.inputGradient === 'im2col-gemm'
          ? convForwardIm2col(e, adj.input, w, undefined, adj.geo, adj.inputShape, xShape)
          : e.op1('Conv', [adj.input, w], {
              kernel_shape: adj.geo.kernel,
              strides: adj.geo.strides,
              dilations: adj.geo.dilations,
              pads: [...adj.geo.padsBegin, ...adj.geo.padsEnd],
              group: adj.geo.group,
            });
    }
    // W [C, M/g, k...] is the weight of the adjoint conv (input dY, output X), so its gradient is
    // that conv's weight gradient with X in the role of the output gradient.
    if (ctx.needsGrad(1)) grads[1] = convWeightGrad(e, adj.input, x, adj.geo, adj.inputShape, xShape);
    if (ctx.needsGrad(2)) grads[2] = biasGrad(e, dY, yShape.length);
    return grads;
  },
};

/**
 * Replaces a forward Conv node of `e`'s graph (in place, at its position) by `convForwardIm2col`,
 * which produces the same output name. Meant to run after the backward is built, with the same
 * Emitter, so that the forward shares the backward's im2col of X.
 *
 * With `when: 'profitable'` (default) only where that is faster on onnxruntime's CPU EP
 * (bench/conv-micro.ts): always when W is fed per step (training: onnxruntime's Conv cannot
 * pre-pack it and falls back to one small GEMM per image), and for a constant W only where most
 * of the kernel reads padding (small maps, e.g. ResNet's last two stages), which the im2col form
 * skips and onnxruntime's NCHWc kernels compute. Returns whether the node was replaced; nodes
 * without static shapes or of another op are left alone.
 */
export function lowerConvolution(
  e: Emitter,
  node: Node,
  shape: (value: string) => number[] | undefined,
  options: { when?: 'always' | 'profitable' } = {},
): boolean {
  if (node.opType !== 'Conv' || (node.domain !== '' && node.domain !== 'ai.onnx')) return false;
  const [x, w, bias] = node.inputs as [string, string, string | undefined];
  const xShape = shape(x);
  const wShape = shape(w);
  const yShape = shape(node.outputs[0]!);
  if (!xShape || !wShape || !yShape || xShape.length < 3 || [...xShape, ...wShape, ...yShape].some((d) => !(d > 0))) return false;
  const graph = e.builder.graph;
  if (!graph.nodes.includes(node)) return false;
  const geo = convNodeGeometry(node, xShape, wShape, yShape);
  if ((options.when ?? 'profitable') === 'profitable' && isConstant(e, w)) {
    const pairs = tapBlocks(
      'forward',
      geo,
      xShape.slice(2),
      yShape.slice(2),
      geo.kernel.map(() => false),
    );
    const live = pairs.reduce((acc, b) => acc + b.table.filter((v) => v !== numel(xShape.slice(2))).length, 0);
    const covered = pairs.reduce((acc, b) => acc + b.table.length, 0);
    if (live > LOWER_BELOW_LIVE_FRACTION * covered) return false;
  }
  const before = graph.nodes.length;
  const prefix = e.prefix;
  e.prefix = `${node.name || 'Conv'}/im2col`;
  try {
    convForwardIm2col(e, x, w, bias || undefined, geo, xShape, yShape, node.outputs[0]!);
  } finally {
    e.prefix = prefix;
  }
  const added = graph.nodes.splice(before);
  graph.nodes.splice(graph.nodes.indexOf(node), 1, ...added);
  return true;
}

/**
 * A constant-weight Conv is lowered when at most this fraction of its (tap, output) pairs read
 * X rather than padding: ResNet's 3×3 convs on 3×3 and 2×2 maps (0.60, 0.44) gain, on 5×5 maps
 * (0.75) onnxruntime's own kernel is as fast (bench/conv-micro.ts).
 */
const LOWER_BELOW_LIVE_FRACTION = 0.7;

export const convRules: readonly GradientRule[] = [convRule, convTransposeRule];
