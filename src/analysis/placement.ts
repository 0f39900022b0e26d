import kernelTable from './cuda-kernels.json' with { type: 'json' };
import type { Model } from '../onnx/model.js';
import { Graph } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';
import { tensorTypeOf } from '../onnx/value-info.js';
import { dtypeFromCode } from '../onnx/dtype.js';
import { int64ToNumber } from '../onnx/long.js';
import type { ShapeInfo } from './shapes.js';

/**
 * Which nodes of a graph onnxruntime's CUDA execution provider would leave to the CPU, forecast
 * without a GPU from the kernel table in cuda-kernels.json (extracted from onnxruntime's source by
 * scripts/extract-cuda-kernels.ts; its `provenance` names the commit). The rules are onnxruntime's
 * own, from that source:
 *
 * 1. Kernel lookup (KernelRegistry::VerifyKernelDef). A node matches a registered kernel when
 *    - op and domain are equal;
 *    - the node's schema since-version s (the newest ONNX schema version of the op ≤ the model's
 *      opset for the domain) equals the kernel's start version, or lies in its [start, end] when
 *      the kernel has an end version. A kernel registered open-ended at 13 does NOT serve an op
 *      whose schema changed at 14: that is onnxruntime's "opset gap", a real CPU fallback;
 *    - every input/output bound to a type constraint has an element type the kernel lists.
 * 2. CUDAExecutionProvider::GetCapability refuses some nodes it has kernels for: ArgMax/ArgMin with
 *    select_last_index = 1, Cast to string, ConvTranspose with asymmetric pads or auto_pad SAME_*,
 *    RNN/GRU/LSTM with attributes cuDNN lacks, NhwcConv whose W is not an initializer. Listed with
 *    them: BatchNormalization with training_mode=1 from opset 14, whose CUDA kernel is registered
 *    but throws when the session is created (seen on an H200 with onnxruntime 1.29).
 * 3. GetCpuPreferredNodes (onnxruntime/core/framework/fallback_cpu_capability.cc) then moves
 *    shape computations to the CPU: starting from the outputs a CUDA kernel itself produces in CPU
 *    memory (Shape, Size) and from nodes without a CUDA kernel, every consumer whose inputs are all
 *    CPU tensors, small initializers (≤ 100 elements) or graph inputs — and that the CUDA kernel
 *    would not have read from CPU memory anyway (Reshape's shape) — goes to the CPU, transitively.
 *    These are `expected`: onnxruntime does it on purpose, because a kernel launch and a copy cost
 *    more than a few int64 operations on the host.
 *
 * Classification of the nodes that do not run on CUDA:
 * - expected / cpu-preferred: rule 3;
 * - expected / no-kernel-cpu-inputs: no CUDA kernel, but every input is already a CPU tensor (an
 *   output of a CPU node, an initializer or a graph input): the node is part of a CPU shape
 *   computation and would have been CPU-preferred had it a kernel; no device copy is added;
 * - fallback / no-kernel or ep-refuses: everything else — a node that reads a GPU tensor and has no
 *   kernel, so onnxruntime copies its inputs to the host and its outputs back. These are defects;
 * - fallback / after-fallback: a node rule 3 moves to the CPU only because an input comes from such
 *   a defect (onnxruntime treats a kernel-less node's outputs as CPU tensors, so e.g. the Reshape and
 *   Pad of a MaxUnpool's float output follow it to the CPU); fixing the defect brings it back.
 *
 * What the forecast does not model: the graph is taken as built, before onnxruntime's own graph
 * optimisations. Constant folding (level basic) removes some expected CPU nodes (shape
 * computations on static shapes); fusions (levels extended/all) only create fused ops for nodes
 * already assigned to an EP that has the fused kernel, so they do not add fallbacks. Constant
 * nodes are not placed at all: onnxruntime turns them into initializers when it loads the model.
 * Subgraphs (If/Loop/Scan bodies) are not visited; gradient graphs have none. Types are checked per
 * type variable through the op's signatures as docs/OperatorKernels.md prints them, not per
 * registered combination (see provenance.notes). The table comes from the onnxruntime commit in its
 * provenance, which may differ from the onnxruntime-node version installed (see provenance.notes):
 * kernels added after that commit are reported missing, never the reverse.
 */

/** One node that does not run on the CUDA EP. */
export interface PlacementEntry {
  node: string;
  op: string;
  domain: string;
  /** The model's opset for the node's domain. */
  opset: number;
  /** The node's ONNX schema version (what onnxruntime matches kernels by). */
  sinceVersion: number;
  /** `Op(float32,int64)->float32` with the element types of inputs and outputs ('-' for an omitted input). */
  types: string;
  kind: 'expected' | 'fallback';
  rule: 'cpu-preferred' | 'no-kernel-cpu-inputs' | 'no-kernel' | 'ep-refuses' | 'after-fallback';
  reason: string;
}

export interface PlacementReport {
  /** Nodes placed (Constant nodes excluded: they become initializers). */
  nodes: number;
  cuda: number;
  cpu: number;
  constants: number;
  expected: PlacementEntry[];
  fallbacks: PlacementEntry[];
}

// --- the kernel table ------------------------------------------------------------------------

interface TableRange {
  op: string;
  domain: string;
  since: number;
  until: number | null;
  constraints: Record<string, string[]> | null;
  cpuInputs: number[];
  cpuOutputs: number[];
}

interface TableParam {
  io: 'in' | 'out';
  name: string;
  type: string;
}

export interface CudaKernelTable {
  provenance: { repo: string; tag: string | null; commit: string; version: string; extractedAt: string; notes: string[]; [key: string]: unknown };
  kernels: { op: string; domain: string; since: number; until: number | null; types: string[] | null }[];
  ranges: TableRange[];
  signatures: Record<string, TableParam[][]>;
  schemaVersions: Record<string, number[]>;
}

/** The kernel table (imported as JSON, so tsc copies it into dist/ and the package ships it). */
export function cudaKernelTable(): CudaKernelTable {
  return kernelTable as unknown as CudaKernelTable;
}

// --- the forecast ----------------------------------------------------------------------------

const normDomain = (d: string): string => (d === 'ai.onnx' ? '' : d);

/** Types onnxruntime never moves to the CPU by the CPU-preferred rule (fallback_cpu_capability.cc). */
const NEVER_CPU_PREFERRED = new Set(['float16', 'bfloat16', 'float8e4m3fn', 'float8e4m3fnuz', 'float8e5m2', 'float8e5m2fnuz', 'float4e2m1']);

/** Same threshold as onnxruntime's kSmallInitializerThreshold. */
const SMALL_INITIALIZER = 100;

interface Lookup {
  sinceVersion: number;
  range?: TableRange;
  refusal?: string;
  missing?: string;
}

/** The ranges registered for an op, as `[1, 12]`, `13`, `14+`. */
function describeRanges(ranges: readonly TableRange[]): string {
  if (ranges.length === 0) return 'none';
  return ranges.map((r) => (r.until === null ? `${r.since}+` : r.until === r.since ? `${r.since}` : `[${r.since}, ${r.until}]`)).join(', ');
}

/** The newest schema version ≤ opset, from onnx's changelog (default domain only; others: the opset itself). */
function schemaSince(t: CudaKernelTable, domain: string, op: string, opset: number): number | undefined {
  if (domain !== '') return opset;
  const versions = t.schemaVersions[op];
  if (!versions) return undefined;
  let since: number | undefined;
  for (const v of versions) if (v <= opset) since = v;
  return since;
}

/** Whether a kernel range serves a node of this schema version (KernelRegistry's VerifyVersion). */
const versionMatches = (r: TableRange, since: number): boolean => r.since === since || (r.until !== null && r.since <= since && since <= r.until);

/**
 * Checks the node's element types against a range's constraints through one of the op's
 * signatures. Returns undefined when they fit, else what does not.
 */
function typeMismatch(t: CudaKernelTable, r: TableRange, node: Node, dtypeOf: (v: string) => string | undefined): string | undefined {
  if (!r.constraints) return undefined;
  const alternatives = t.signatures[`${r.domain}|${r.op}`];
  if (!alternatives || alternatives.length === 0) return undefined;
  const problems: string[] = [];
  for (const params of alternatives) {
    const problem = bindAlternative(params, r.constraints, node, dtypeOf);
    if (problem === undefined) return undefined;
    problems.push(problem);
  }
  // Name a type the kernel lacks rather than a signature that does not fit the node's arity.
  return problems.find((p) => p.includes('registered')) ?? problems[0];
}

function bindAlternative(
  params: readonly TableParam[],
  constraints: Record<string, string[]>,
  node: Node,
  dtypeOf: (v: string) => string | undefined,
): string | undefined {
  const bound = new Map<string, string>();
  for (const io of ['in', 'out'] as const) {
    const formal = params.filter((p) => p.io === io);
    const actual = io === 'in' ? node.inputs : node.outputs;
    for (let i = 0; i < actual.length; i++) {
      const value = actual[i]!;
      if (value === '') continue;
      // The last formal parameter of a direction is the variadic one (Concat, Sum, Split).
      const p = formal[Math.min(i, formal.length - 1)];
      if (!p) return `${io === 'in' ? 'input' : 'output'} ${i} has no parameter in this signature`;
      // A fixed type (int64, float32): the schema's business, not the kernel's.
      if (!/^[A-Z]\w*$/.test(p.type)) continue;
      const dtype = dtypeOf(value);
      if (dtype === undefined) continue;
      const allowed = constraints[p.type];
      if (!allowed) return `type variable ${p.type} is not constrained in this range`;
      const previous = bound.get(p.type);
      // One type variable binds one type: a signature that binds two is another schema version's.
      if (previous !== undefined && previous !== dtype) return `${p.type} bound to both ${previous} and ${dtype}`;
      bound.set(p.type, dtype);
      if (!allowed.includes(dtype)) return `${p.name}: ${p.type}=${dtype}, registered ${p.type} ∈ {${allowed.join(', ')}}`;
    }
  }
  return undefined;
}

/** CUDAExecutionProvider::GetCapability's refusals of nodes it has a kernel for. */
function refusal(node: Node, sinceVersion: number, isInitializer: (v: string) => boolean): string | undefined {
  const a = node.attrs;
  switch (node.opType) {
    case 'ArgMax':
    case 'ArgMin':
      if (sinceVersion >= 12 && a.int('select_last_index', 0) !== 0) return 'select_last_index=1: cuDNN only picks the first index';
      return undefined;
    case 'Cast':
      return a.int('to', 0) === 8 ? 'Cast to string' : undefined;
    case 'ConvTranspose': {
      const pads = a.ints('pads');
      if (pads?.some((p, i) => i < pads.length / 2 && p !== pads[i + pads.length / 2])) return 'asymmetric pads (cuDNN pads symmetrically)';
      const autoPad = a.string('auto_pad');
      if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return `auto_pad=${autoPad} may need asymmetric pads`;
      return undefined;
    }
    case 'RNN':
    case 'GRU':
    case 'LSTM': {
      for (const attr of ['activation_alpha', 'activation_beta', 'clip']) if (a.has(attr)) return `attribute ${attr} (cuDNN has no such option)`;
      const supported: Record<string, string[]> = {
        RNN: ['tanh', 'tanh'],
        GRU: ['sigmoid', 'tanh', 'sigmoid', 'tanh'],
        LSTM: ['sigmoid', 'tanh', 'tanh', 'sigmoid', 'tanh', 'tanh'],
      };
      const acts = a.get('activations')?.strings?.map((s) => new TextDecoder().decode(s).toLowerCase());
      if (acts?.some((act, i) => supported[node.opType]![i] !== act)) return `activations ${acts.join(',')} (cuDNN: ${supported[node.opType]!.join(',')})`;
      if (node.opType === 'LSTM' && a.int('input_forget', 0) !== 0) return 'input_forget=1';
      if (node.opType === 'LSTM' && (node.inputs[7] ?? '') !== '') return 'peepholes';
      if (node.opType === 'GRU' && a.has('linear_before_reset') && a.int('linear_before_reset', 0) !== 1)
        return 'linear_before_reset=0 (cuDNN implements 1 only)';
      return undefined;
    }
    case 'NhwcConv':
      return isInitializer(node.inputs[1] ?? '') ? undefined : 'W is not an initializer';
    case 'BatchNormalization':
      // Not a GetCapability refusal: the kernel's constructor throws, so the session fails to build.
      return sinceVersion >= 14 && a.int('training_mode', 0) === 1
        ? 'training_mode=1 from opset 14: the CUDA kernel throws at session creation (cuda/nn/batch_norm.h)'
        : undefined;
    default:
      return undefined;
  }
}

function lookup(t: CudaKernelTable, model: Model, node: Node, dtypeOf: (v: string) => string | undefined, isInitializer: (v: string) => boolean): Lookup {
  const domain = normDomain(node.domain);
  const opset = model.opset(domain);
  const since = schemaSince(t, domain, node.opType, opset);
  if (since === undefined) return { sinceVersion: opset, missing: `no ONNX schema for ${node.opType} at opset ${opset}` };
  const registered = t.ranges.filter((r) => r.domain === domain && r.op === node.opType);
  if (registered.length === 0) return { sinceVersion: since, missing: `no CUDA kernel for ${node.opType} at any opset` };
  const inVersion = registered.filter((r) => versionMatches(r, since));
  if (inVersion.length === 0) {
    return {
      sinceVersion: since,
      missing: `no CUDA kernel for ${node.opType} schema version ${since} (opset ${opset}); registered: ${describeRanges(registered)}`,
    };
  }
  let mismatch: string | undefined;
  for (const r of inVersion) {
    const m = typeMismatch(t, r, node, dtypeOf);
    if (m === undefined) {
      const refused = refusal(node, since, isInitializer);
      return refused ? { sinceVersion: since, range: r, refusal: `the CUDA EP refuses ${node.opType}: ${refused}` } : { sinceVersion: since, range: r };
    }
    mismatch ??= m;
  }
  return { sinceVersion: since, missing: `no CUDA kernel for these types at ${node.opType}-${since}: ${mismatch}` };
}

/** Element types of every value the model declares or the shape probe saw. */
function elementTypes(model: Model, shapes: ShapeInfo | undefined): Map<string, string> {
  const g = model.graph;
  const types = new Map<string, string>();
  for (const vi of [...g.inputs, ...g.outputs, ...g.valueInfo]) {
    const dtype = tensorTypeOf(vi)?.dtype;
    if (vi.name && dtype) types.set(vi.name, dtype);
  }
  for (const [name, t] of g.initializers) types.set(name, t.dtype);
  for (const n of g.nodes) {
    if (n.opType !== 'Constant' || normDomain(n.domain) !== '') continue;
    const code = n.attrs.get('value')?.t?.dataType;
    const dtype = code
      ? dtypeFromCode(code)
      : n.attrs.has('value_float') || n.attrs.has('value_floats')
        ? 'float32'
        : n.attrs.has('value_int') || n.attrs.has('value_ints')
          ? 'int64'
          : undefined;
    if (dtype && n.outputs[0]) types.set(n.outputs[0], dtype);
  }
  if (shapes) for (const [name, v] of shapes.values) types.set(name, v.dtype);
  return types;
}

/** Element counts of the values onnxruntime holds as initializers (initializers and Constant outputs). */
function initializerSizes(model: Model, shapes: ShapeInfo | undefined): Map<string, number> {
  const g = model.graph;
  const sizes = new Map<string, number>();
  for (const [name, t] of g.initializers) sizes.set(name, t.numel);
  for (const n of g.nodes) {
    if (n.opType !== 'Constant' || normDomain(n.domain) !== '' || !n.outputs[0]) continue;
    const known = shapes?.values.get(n.outputs[0])?.dims;
    const a = n.attrs;
    const dims = known ?? (a.get('value')?.t?.dims ?? []).map((d) => int64ToNumber(d));
    const numel = a.has('value_floats')
      ? (a.floats('value_floats')?.length ?? 0)
      : a.has('value_ints')
        ? (a.ints('value_ints')?.length ?? 0)
        : dims.reduce((x, y) => x * y, 1);
    sizes.set(n.outputs[0], numel);
  }
  return sizes;
}

const isConstantNode = (n: Node): boolean => n.opType === 'Constant' && normDomain(n.domain) === '';

/**
 * Every node of the model that would not run on the CUDA EP, with why (see the rules above).
 * `shapes` (from inferShapes on this model) supplies element types the graph does not declare;
 * without it only declared types are checked.
 */
export function forecastCudaPlacement(model: Model, shapes?: ShapeInfo): PlacementEntry[] {
  const r = cudaPlacementReport(model, shapes);
  return [...r.expected, ...r.fallbacks];
}

/** The forecast with counts: nodes per execution provider, expected CPU nodes and fallbacks. */
export function cudaPlacementReport(model: Model, shapes?: ShapeInfo): PlacementReport {
  const t = cudaKernelTable();
  const g = model.graph;
  // A private topological order (the caller's node order is left alone).
  const nodes = new Graph({ nodes: g.nodes.slice(), inputs: g.inputs, initializers: g.initializers }).toposort().nodes;
  const types = elementTypes(model, shapes);
  const dtypeOf = (v: string): string | undefined => types.get(v);
  const sizes = initializerSizes(model, shapes);
  const feeds = new Set(g.feedInputs.map((i) => i.name ?? ''));
  const isInitializer = (v: string): boolean => sizes.has(v);

  const consumers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    for (const v of new Set(n.inputs)) if (v) (consumers.get(v) ?? consumers.set(v, []).get(v)!).push(i);
  });

  // Rules 1 and 2: the nodes the CUDA EP takes tentatively.
  const lookups = nodes.map((n) => (isConstantNode(n) ? undefined : lookup(t, model, n, dtypeOf, isInitializer)));
  const tentative = (i: number): boolean => {
    const l = lookups[i];
    return l !== undefined && l.range !== undefined && l.refusal === undefined;
  };

  // Rule 3, as GetCpuPreferredNodes: consumers of CPU outputs, visited in topological order
  // (every push is a consumer, later in the order than the node that pushes it, so one forward
  // sweep over a flag array visits them exactly as onnxruntime's priority queue does).
  const cpuValues = new Set<string>();
  const queued = new Array<boolean>(nodes.length).fill(false);
  const queueConsumers = (v: string): void => {
    for (const c of consumers.get(v) ?? []) queued[c] = true;
  };
  nodes.forEach((n, i) => {
    const range = lookups[i]?.range;
    if (!tentative(i) || !range) return;
    for (const o of range.cpuOutputs) {
      const v = n.outputs[o];
      if (!v) continue;
      cpuValues.add(v);
      queueConsumers(v);
    }
  });
  const cpuPreferred = new Set<number>();
  for (let i = 0; i < nodes.length; i++) {
    if (!queued[i] || lookups[i] === undefined) continue;
    const n = nodes[i]!;
    if (!tentative(i)) {
      // No CUDA kernel: onnxruntime assumes the CPU, so its outputs are CPU tensors.
      for (const o of n.outputs) {
        if (!o) continue;
        cpuValues.add(o);
        queueConsumers(o);
      }
      continue;
    }
    const range = lookups[i]!.range!;
    let placeOnCpu = true;
    for (let k = 0; k < n.inputs.length; k++) {
      const v = n.inputs[k]!;
      const dtype = dtypeOf(v);
      if (dtype !== undefined && NEVER_CPU_PREFERRED.has(dtype)) {
        placeOnCpu = false;
        break;
      }
      if ((sizes.get(v) ?? Infinity) <= SMALL_INITIALIZER || feeds.has(v)) continue;
      // An omitted optional input ('') is no CPU tensor either, as in onnxruntime.
      if (!cpuValues.has(v) || range.cpuInputs.includes(k)) {
        placeOnCpu = false;
        break;
      }
    }
    if (placeOnCpu) {
      cpuPreferred.add(i);
      for (const o of n.outputs) {
        if (!o) continue;
        cpuValues.add(o);
        queueConsumers(o);
      }
    }
  }

  // Classification, in topological order so a kernel-less node knows where its inputs live.
  const onCpu = new Set<string>();
  const fromFallback = new Set<string>();
  const report: PlacementReport = { nodes: 0, cuda: 0, cpu: 0, constants: 0, expected: [], fallbacks: [] };
  nodes.forEach((n, i) => {
    const l = lookups[i];
    if (!l) {
      report.constants++;
      return;
    }
    report.nodes++;
    if (tentative(i) && !cpuPreferred.has(i)) {
      report.cuda++;
      return;
    }
    report.cpu++;
    for (const o of n.outputs) if (o) onCpu.add(o);
    const domain = normDomain(n.domain);
    const entry = (kind: PlacementEntry['kind'], rule: PlacementEntry['rule'], reason: string): PlacementEntry => ({
      node: n.label,
      op: n.opType,
      domain,
      opset: model.opset(domain),
      sinceVersion: l.sinceVersion,
      types: `${n.opType}(${n.inputs.map((v) => (v ? (dtypeOf(v) ?? '?') : '-')).join(',')})->${n.outputs.map((v) => (v ? (dtypeOf(v) ?? '?') : '-')).join(',')}`,
      kind,
      rule,
      reason,
    });
    // A CPU input that comes from an unexpected fallback (directly or through nodes that followed
    // it to the CPU) makes this node a consequence of that fallback, not a shape computation.
    const tainted = n.inputs.find((v) => fromFallback.has(v));
    const fallback = (rule: PlacementEntry['rule'], reason: string): void => {
      report.fallbacks.push(entry('fallback', rule, reason));
      for (const o of n.outputs) if (o) fromFallback.add(o);
    };
    if (cpuPreferred.has(i)) {
      if (tainted !== undefined)
        fallback(
          'after-fallback',
          `CPU-preferred only because "${tainted}" comes from an unexpected fallback above; it returns to CUDA once that one has a kernel`,
        );
      else
        report.expected.push(
          entry(
            'expected',
            'cpu-preferred',
            'CPU-preferred (onnxruntime GetCpuPreferredNodes): every input is a CPU tensor, a small initializer or a graph input',
          ),
        );
      return;
    }
    const why = l.refusal ?? l.missing ?? 'no CUDA kernel';
    const rule = l.refusal ? 'ep-refuses' : 'no-kernel';
    const deviceInput = n.inputs.find((v) => v !== '' && !onCpu.has(v) && !sizes.has(v) && !feeds.has(v));
    if (deviceInput !== undefined) fallback(rule, `${why}; reads GPU tensor "${deviceInput}", so onnxruntime copies it to the host`);
    else if (tainted !== undefined) fallback(rule, `${why}; reads "${tainted}" from an unexpected fallback above (on the GPU once that one is fixed)`);
    else
      report.expected.push(
        entry('expected', 'no-kernel-cpu-inputs', `${why}; harmless: every input is already on the CPU, as in a CPU-preferred shape computation`),
      );
  });
  return report;
}

/** The report as text: counts per EP, then each expected CPU node and each fallback. */
export function formatPlacementReport(r: PlacementReport): string {
  const constants = r.constants > 0 ? `; ${r.constants} Constant nodes become initializers` : '';
  const lines = [
    `${r.nodes} nodes: CUDAExecutionProvider ${r.cuda}, CPUExecutionProvider ${r.cpu} (${r.expected.length} expected, ${r.fallbacks.length} unexpected fallback${r.fallbacks.length === 1 ? '' : 's'})${constants}`,
  ];
  const row = (e: PlacementEntry): string => `  ${e.node}  ${e.types}  opset ${e.opset} (${e.op}-${e.sinceVersion})  ${e.reason}`;
  if (r.expected.length > 0) {
    lines.push('expected on CPU:');
    lines.push(...r.expected.map(row));
  }
  if (r.fallbacks.length > 0) {
    lines.push('unexpected fallbacks to CPU:');
    lines.push(...r.fallbacks.map(row));
  }
  return lines.join('\n');
}
