/**
 * The im2col lowerings of convolutions, chosen for onnxruntime's CPU provider: the forward Conv
 * (`lowerConvolution`, `convForwardIm2col`), its input gradient and its weight gradient as a
 * Gather of taps plus one GEMM per block of positions, in a [C, positions, N] layout (batch
 * innermost, so batch and positions form one GEMM dimension). Contractions are split into blocks
 * where that skips multiply-adds with padding (`tapBlocks`), chosen by a cost model fitted to
 * onnxruntime's CPU kernels (`planBlocks`, bench/conv-micro.ts); what is derived from forward
 * values is shared between the tasks' backward passes (`sharedValue`).
 */
import type { Node } from '../../onnx/node.js';
import type { Emitter } from '../emitter.js';
import { numel, padZeros, range, repeated } from '../rules/emit-util.js';
import { sharedValue } from '../rules/shared-values.js';
import { convNodeGeometry, type ConvGeometry } from '../rules/conv-geometry.js';
import type { ConvBorderSplit } from '../lowering.js';

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
 * (`split` 'never' and 'always', from the graph's lowering, force one for tests and benchmarks).
 */
function planBlocks(
  split: ConvBorderSplit,
  kind: BlockKind,
  geo: ConvGeometry,
  xShape: readonly number[],
  yShape: readonly number[],
  constantWeight = true,
): TapBlock[] {
  const inSpatial = xShape.slice(2);
  const outSpatial = yShape.slice(2);
  const k = inSpatial.length;
  if (split !== 'auto')
    return tapBlocks(
      kind,
      geo,
      inSpatial,
      outSpatial,
      Array.from({ length: k }, () => split === 'always'),
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
export function im2colBlockCount(
  split: ConvBorderSplit,
  kind: BlockKind,
  geo: ConvGeometry,
  xShape: readonly number[],
  yShape: readonly number[],
  constantWeight = true,
): number {
  return planBlocks(split, kind, geo, xShape, yShape, constantWeight).length;
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
  for (const block of planBlocks(e.lowering.conv.split, 'forward', geo, xShape, yShape, isConstant(e, w))) {
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
export function convInputGradIm2col(e: Emitter, dY: string, w: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
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
  for (const block of planBlocks(e.lowering.conv.split, 'input', geo, xShape, yShape, isConstant(e, w))) {
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
 * B.3 as im2col + GEMM: dW[m, c, t] = Σ_{n, o} dY[n, m, o]·X[n, c, o·s + t·d − pb]. Per block of
 * taps (`tapBlocks`: all taps at once, or border classes on small maps), one Gather of X in the
 * [C, S, N] layout builds the columns [C, taps, positions, N], so the contraction over batch ×
 * output positions is one GEMM with dY as [M, positions·N] (grouped convs: one batched MatMul over
 * the groups). The columns depend on X only, so every task's backward shares them.
 */
export function convWeightGradIm2col(e: Emitter, x: string, dY: string, geo: ConvGeometry, xShape: readonly number[], yShape: readonly number[]): string {
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
  const blocks = planBlocks(e.lowering.conv.split, 'weight', geo, xShape, yShape);
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
