/**
 * Seeded mutations of the fuzz fixtures: byte flips and truncations, protobuf-structure edits of
 * ONNX models (dropped, duplicated and retyped fields, wrong dims, hostile external data), data
 * files (truncated or lying .npz members, wrong dtypes, out-of-range labels and ids), task specs,
 * reports and command-line flags. Each case is a file set plus the argv that reads it.
 */
import { encodeNpy, encodeNpyHeader } from '../../src/data/npy.js';
import { writeZip } from '../../src/data/zip.js';
import { proto, type onnx } from '../../src/onnx/index.js';
import { Random } from '../../src/util/random.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLASSES, type FileSet, ROWS, TASK_SPEC, TOKENS, VOCAB, mlpData, tokenData } from './fixtures.js';
import type { HostTensor } from '../../src/data/host-tensor.js';

/** What one case writes and runs. Paths in argv are relative to the case folder ("@/" prefix). */
export interface FuzzCase {
  index: number;
  kind: string;
  description: string;
  files: FileSet;
  /** Extra things to create in the case folder besides files. */
  special: { fifo?: string[]; dirs?: string[]; symlinks?: [link: string, target: string][] };
  argv: string[];
}

const ODD_NUMBERS = ['-1', '0', '1', 'abc', '1e8', '1e300', 'NaN', '', '3.5', '-0.5', '2', '-3', '1e-9', 'Infinity', '0x10', ' 4'];
const ODD_DIMS = [-3, -1, 0, 1, 2, 7, 2 ** 31 + 1, 2 ** 40, Number.MAX_SAFE_INTEGER];

class Picker {
  readonly rng: Random;
  constructor(seed: number) {
    this.rng = new Random(seed);
  }
  int(n: number): number {
    return this.rng.int(n);
  }
  chance(p: number): boolean {
    return this.rng.uniform() < p;
  }
  one<T>(items: readonly T[]): T {
    return items[this.rng.int(items.length)]!;
  }
  /** A name that is long, binary, empty, a path or plausible. */
  name(): string {
    return this.one([
      '',
      'x',
      'A',
      'fc1.weight',
      '../../escape',
      'a/b',
      'n'.repeat(5000),
      'z'.repeat(200_000),
      String.fromCharCode(0, 7, 27, 0x9b, 0xfffd),
      '\u202eevil',
      'A_target',
      'emb.weight',
      'ids',
      ' ',
    ]);
  }
}

// ---- bytes ---------------------------------------------------------------------------------

function mutateBytes(p: Picker, bytes: Uint8Array): { bytes: Uint8Array; what: string } {
  const out = Buffer.from(bytes);
  switch (p.int(5)) {
    case 0: {
      const n = 1 + p.int(8);
      for (let i = 0; i < n; i++) out[p.int(out.length)] = p.int(256);
      return { bytes: out, what: `${n} byte flips` };
    }
    case 1: {
      const keep = p.int(out.length);
      return { bytes: out.subarray(0, keep), what: `truncated to ${keep} bytes` };
    }
    case 2: {
      const at = p.int(out.length);
      const junk = Buffer.alloc(1 + p.int(64));
      for (let i = 0; i < junk.length; i++) junk[i] = p.int(256);
      return { bytes: Buffer.concat([out.subarray(0, at), junk, out.subarray(at)]), what: `${junk.length} bytes inserted at ${at}` };
    }
    case 3: {
      const at = p.int(out.length);
      const n = 1 + p.int(32);
      return { bytes: Buffer.concat([out.subarray(0, at), out.subarray(at + n)]), what: `${n} bytes deleted at ${at}` };
    }
    default: {
      const at = p.int(Math.max(1, out.length - 8));
      out.fill(0xff, at, at + 1 + p.int(8));
      return { bytes: out, what: `0xff run at ${at}` };
    }
  }
}

// ---- ONNX structure ------------------------------------------------------------------------

type Graph = onnx.IGraphProto;

const STRUCTURE_EDITS: { name: string; apply: (p: Picker, m: onnx.IModelProto, g: Graph) => void }[] = [
  { name: 'drop node', apply: (p, _m, g) => g.node?.splice(p.int(g.node.length), 1) },
  {
    name: 'duplicate node',
    apply: (p, _m, g) => {
      const n = p.one(g.node ?? []);
      if (n) g.node!.push(proto.NodeProto.decode(proto.NodeProto.encode(n).finish()));
    },
  },
  { name: 'drop initializer', apply: (p, _m, g) => g.initializer?.splice(p.int(g.initializer.length), 1) },
  { name: 'drop graph input', apply: (p, _m, g) => g.input?.splice(p.int(g.input.length), 1) },
  { name: 'drop graph output', apply: (p, _m, g) => g.output?.splice(p.int(g.output.length), 1) },
  { name: 'empty graph', apply: (_p, _m, g) => (g.node = []) },
  { name: 'no outputs', apply: (_p, _m, g) => (g.output = []) },
  {
    name: 'initializer dims',
    apply: (p, _m, g) => {
      const t = p.one(g.initializer ?? []);
      if (!t) return;
      const dims = (t.dims ?? []).slice() as number[];
      const how = p.int(3);
      if (how === 0) dims.push(p.one(ODD_DIMS));
      else if (how === 1) dims.pop();
      else if (dims.length > 0) dims[p.int(dims.length)] = p.one(ODD_DIMS);
      t.dims = dims;
    },
  },
  { name: 'initializer data type', apply: (p, _m, g) => p.one(g.initializer ?? []) && (p.one(g.initializer!).dataType = p.int(32)) },
  {
    name: 'initializer raw data cut',
    apply: (p, _m, g) => {
      const t = p.one(g.initializer ?? []);
      if (t?.rawData) t.rawData = t.rawData.subarray(0, p.int(t.rawData.length));
    },
  },
  {
    name: 'initializer as typed float_data',
    apply: (p, _m, g) => {
      const t = p.one(g.initializer ?? []);
      if (!t) return;
      t.rawData = new Uint8Array(0);
      t.floatData = Array.from({ length: p.int(40) }, () => p.rng.uniform());
    },
  },
  {
    name: 'graph input dim',
    apply: (p, _m, g) => {
      const input = p.one(g.input ?? []);
      const dims = input?.type?.tensorType?.shape?.dim;
      if (dims && dims.length > 0) dims[p.int(dims.length)] = proto.TensorShapeProto.Dimension.create({ dimValue: p.one(ODD_DIMS) });
    },
  },
  {
    name: 'graph input rank',
    apply: (p, _m, g) => {
      const shape = p.one(g.input ?? [])?.type?.tensorType?.shape;
      if (shape) shape.dim = p.chance(0.5) ? [] : [...(shape.dim ?? []), proto.TensorShapeProto.Dimension.create({ dimValue: 2 })];
    },
  },
  {
    name: 'graph input type',
    apply: (p, _m, g) => {
      const t = p.one(g.input ?? [])?.type?.tensorType;
      if (t) t.elemType = p.one([0, 2, 5, 6, 7, 9, 10, 11, 16, 99]);
    },
  },
  {
    name: 'graph output type',
    apply: (p, _m, g) => {
      const t = p.one(g.output ?? [])?.type?.tensorType;
      if (t) t.elemType = p.one([0, 6, 7, 9, 11]);
    },
  },
  {
    name: 'rename node input',
    apply: (p, _m, g) => {
      const n = p.one(g.node ?? []);
      if (n?.input && n.input.length > 0) n.input[p.int(n.input.length)] = p.name();
    },
  },
  {
    name: 'rename node output',
    apply: (p, _m, g) => {
      const n = p.one(g.node ?? []);
      if (n?.output && n.output.length > 0) n.output[p.int(n.output.length)] = p.name();
    },
  },
  { name: 'rename node', apply: (p, _m, g) => p.one(g.node ?? []) && (p.one(g.node!).name = p.name()) },
  { name: 'rename initializer', apply: (p, _m, g) => p.one(g.initializer ?? []) && (p.one(g.initializer!).name = p.name()) },
  {
    name: 'op type',
    apply: (p, _m, g) => {
      const n = p.one(g.node ?? []);
      if (n) n.opType = p.one(['Gemm', 'Relu', 'MatMul', 'Conv', 'Gather', 'Reshape', 'NoSuchOp', '', 'Loop', 'Softmax', 'Dropout']);
    },
  },
  { name: 'node domain', apply: (p, _m, g) => p.one(g.node ?? []) && (p.one(g.node!).domain = p.one(['com.microsoft', 'x.y', 'ai.onnx.ml'])) },
  {
    name: 'attribute value',
    apply: (p, _m, g) => {
      const n = p.one(g.node ?? []);
      const a = p.one(n?.attribute ?? []);
      if (!a) {
        n?.attribute?.push(proto.AttributeProto.create({ name: p.one(['axis', 'transA', 'alpha', 'keepdims']), type: 2, i: p.one(ODD_DIMS) }));
        return;
      }
      if (a.type === 2) a.i = p.one(ODD_DIMS);
      else if (a.type === 7) a.ints = [p.one(ODD_DIMS), p.one(ODD_DIMS)];
      else if (a.type === 1) a.f = p.one([Number.NaN, -1, 1e30, 0]);
      else a.type = p.int(15);
    },
  },
  {
    name: 'opset version',
    apply: (p, m) => {
      const o = p.one(m.opsetImport ?? []);
      if (o) o.version = p.one([0, 1, 6, 7, 11, 12, 18, 30, 99]);
    },
  },
  { name: 'no opset', apply: (_p, m) => (m.opsetImport = []) },
  { name: 'ir version', apply: (p, m) => (m.irVersion = p.one([0, 1, 3, 99, -1])) },
  {
    name: 'external data entry',
    apply: (p, _m, g) => {
      const t = p.one(g.initializer ?? []);
      if (!t) return;
      t.dataLocation = 1;
      t.rawData = new Uint8Array(0);
      t.externalData = [
        proto.StringStringEntryProto.create({
          key: 'location',
          value: p.one(['mlp.onnx', 'missing.bin', '/etc/passwd', '../x', 'dir', 'pipe', 'link', 'd.npz', '']),
        }),
        proto.StringStringEntryProto.create({ key: 'offset', value: p.one(['0', '-8', 'NaN', '3.5', '100000000', '8']) }),
        ...(p.chance(0.6) ? [proto.StringStringEntryProto.create({ key: 'length', value: p.one(['-8', '4', '0', '1e3', '99999999999999999999', '16']) })] : []),
      ];
    },
  },
  {
    name: 'sparse initializer',
    apply: (p, _m, g) => {
      g.sparseInitializer = [proto.SparseTensorProto.create({ dims: [p.one(ODD_DIMS)] })];
    },
  },
  {
    name: 'value info',
    apply: (p, _m, g) => {
      g.valueInfo = [
        proto.ValueInfoProto.create({
          name: p.one(['fc1', 'A', p.name()]),
          type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: p.one(ODD_DIMS) }] } } },
        }),
      ];
    },
  },
];

function mutateStructure(p: Picker, bytes: Uint8Array): { bytes: Uint8Array; what: string } {
  const model = proto.ModelProto.decode(bytes);
  const graph = model.graph!;
  const edits: string[] = [];
  const count = 1 + p.int(3);
  for (let i = 0; i < count; i++) {
    const edit = p.one(STRUCTURE_EDITS);
    edit.apply(p, model, graph);
    edits.push(edit.name);
  }
  return { bytes: proto.ModelProto.encode(model).finish(), what: edits.join(', ') };
}

// ---- data ----------------------------------------------------------------------------------

function npzBytes(arrays: Record<string, HostTensor>, members?: { name: string; content: Uint8Array }[], compress = false): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'recon-fuzz-npz-'));
  try {
    const path = join(dir, 'x.npz');
    const entries = members ?? Object.entries(arrays).map(([k, v]) => ({ name: `${k}.npy`, content: encodeNpy(v) }));
    writeZip(
      path,
      entries.map((e) => ({ name: e.name, parts: [e.content] })),
      { compress },
    );
    return readFileSync(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function withArray(base: Record<string, HostTensor>, name: string, tensor: HostTensor | undefined): Record<string, HostTensor> {
  const out = { ...base };
  if (tensor) out[name] = tensor;
  else delete out[name];
  return out;
}

function dataMutation(p: Picker, tokens: boolean): { bytes: Uint8Array; what: string } {
  const base = tokens ? tokenData() : mlpData();
  const labelTask = p.one(['A_target', 'B_target'] as const);
  const int64 = (dims: number[], value: () => number): HostTensor => ({
    dtype: 'int64',
    dims,
    data: BigInt64Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => BigInt(value())),
  });
  switch (p.int(13)) {
    case 0: {
      const bad = p.one([-5, -2, -1, 4, 10, 2 ** 40, -(2 ** 50)]);
      const t = int64([ROWS], () => p.int(3));
      (t.data as BigInt64Array)[p.int(ROWS)] = BigInt(bad);
      return { bytes: npzBytes(withArray(base, labelTask, t)), what: `${labelTask} holds label ${bad}` };
    }
    case 1: {
      if (!tokens)
        return {
          bytes: npzBytes(
            withArray(
              base,
              'x',
              int64([ROWS, 6], () => 1),
            ),
          ),
          what: 'x as int64',
        };
      const bad = p.one([-1, VOCAB, 1000, 2 ** 40]);
      const t = int64([ROWS, TOKENS], () => p.int(VOCAB));
      (t.data as BigInt64Array)[p.int(ROWS * TOKENS)] = BigInt(bad);
      return { bytes: npzBytes(withArray(base, 'ids', t)), what: `token id ${bad}` };
    }
    case 2:
      return {
        bytes: npzBytes(withArray(base, labelTask, { dtype: 'float32', dims: [ROWS], data: Float32Array.from({ length: ROWS }, () => p.rng.uniform() * 3) })),
        what: 'float labels',
      };
    case 3:
      return { bytes: npzBytes(withArray(base, p.one(Object.keys(base)), undefined)), what: 'array missing' };
    case 4: {
      const name = p.one(Object.keys(base));
      const rows = p.one([0, 1, ROWS - 1, ROWS + 3]);
      const dims = [rows, ...base[name]!.dims.slice(1)];
      const n = dims.reduce((a, b) => a * b, 1);
      const t: HostTensor = base[name]!.dtype === 'float32' ? { dtype: 'float32', dims, data: new Float32Array(n) } : int64(dims, () => 0);
      return { bytes: npzBytes(withArray(base, name, t)), what: `${name} with ${rows} rows` };
    }
    case 5: {
      const name = p.one(Object.keys(base));
      const dims = p.one([[ROWS, 2], [ROWS, 6, 1], [ROWS * 6], [ROWS, 3, 3]]);
      return {
        bytes: npzBytes(withArray(base, name, { dtype: 'float32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) })),
        what: `${name} shape [${dims}]`,
      };
    }
    case 6: {
      const name = p.one(Object.keys(base));
      const dtype = p.one(['uint8', 'bool', 'int32', 'float64'] as const);
      const n = base[name]!.data.length;
      const data = { uint8: () => new Uint8Array(n), bool: () => new Uint8Array(n), int32: () => new Int32Array(n), float64: () => new Float64Array(n) }[
        dtype
      ]();
      return { bytes: npzBytes(withArray(base, name, { dtype, dims: base[name]!.dims.slice(), data } as HostTensor)), what: `${name} as ${dtype}` };
    }
    case 7: {
      // A member whose .npy header says one thing and whose bytes say another.
      const name = p.one(Object.keys(base));
      const header = encodeNpyHeader(p.one(['float32', 'int64'] as const), p.one([[ROWS], [ROWS, 6], [2 ** 20, 2 ** 20], [0]]));
      const body = new Uint8Array(p.one([0, 16, 4096, 1 << 20]));
      const members = Object.entries(base).map(([k, v]) => ({ name: `${k}.npy`, content: k === name ? Buffer.concat([header, body]) : encodeNpy(v) }));
      return { bytes: npzBytes(base, members, p.chance(0.5)), what: `${name} header/body mismatch` };
    }
    case 8: {
      const name = p.one(Object.keys(base));
      const text = p.one([
        "{'descr': '<f2', 'fortran_order': False, 'shape': (8,), }",
        "{'descr': '>f4', 'fortran_order': False, 'shape': (8,), }",
        "{'descr': '<f4', 'fortran_order': True, 'shape': (8,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-8,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': 'x', }",
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (8,), }",
        "{'descr': '<f4', 'shape': (8,), }",
        '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[',
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
      ]);
      const header = Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, text.length + 1, 0]), Buffer.from(`${text}\n`, 'latin1')]);
      const members = Object.entries(base).map(([k, v]) => ({
        name: `${k}.npy`,
        content: k === name ? Buffer.concat([header, new Uint8Array(32)]) : encodeNpy(v),
      }));
      return { bytes: npzBytes(base, members), what: `${name} header ${text.slice(0, 40)}` };
    }
    case 9: {
      const names = Object.keys(base);
      const members = [
        ...names.map((k) => ({ name: `${k}.npy`, content: encodeNpy(base[k]!) })),
        { name: `${p.one(names)}.npy`, content: encodeNpy(base[names[0]!]!) },
      ];
      return { bytes: npzBytes(base, members), what: 'duplicate member' };
    }
    case 10: {
      const members = Object.entries(base).map(([k, v]) => ({ name: `${k}.npy`, content: encodeNpy(v) }));
      // ZIP names hold at most 65535 bytes.
      members.push({ name: `${p.name().slice(0, 6000)}.npy`, content: encodeNpy(base[Object.keys(base)[0]!]!) });
      return { bytes: npzBytes(base, members), what: 'odd member name' };
    }
    case 11: {
      const bytes = Buffer.from(npzBytes(base, undefined, p.chance(0.5)));
      // Lie in a central-directory size field (found by signature).
      const records: number[] = [];
      for (let i = 0; i + 4 <= bytes.length; i++) if (bytes.readUInt32LE(i) === 0x02014b50) records.push(i);
      const at = p.one(records);
      const field = p.one([20, 24, 42]);
      bytes.writeUInt32LE(p.one([0, 1, 0x7fffffff, 0xfffffffe, 1 << 30]), at + field);
      return { bytes, what: `central directory field ${field} lies` };
    }
    default: {
      const m = mutateBytes(p, npzBytes(base, undefined, p.chance(0.5)));
      return { bytes: m.bytes, what: `npz ${m.what}` };
    }
  }
}

// ---- specs, reports, flags -----------------------------------------------------------------

function specMutation(p: Picker): { text: string; what: string } {
  const spec = structuredClone(TASK_SPEC) as { tasks: Record<string, unknown>[] };
  const t = p.one(spec.tasks);
  switch (p.int(10)) {
    case 0:
      return { text: JSON.stringify(spec).slice(0, p.int(60)), what: 'truncated JSON' };
    case 1:
      return {
        text: p.one(['', 'null', '[]', '{}', '{"tasks": {}}', '{"tasks": []}', '{"tasks": [1, 2]}', '\u0000\u0001', '{"tasks": [null]}']),
        what: 'not a spec',
      };
    case 2:
      t['name'] = p.one([p.name(), 5, null, true]);
      return { text: JSON.stringify(spec), what: 'odd task name' };
    case 3:
      t['output'] = p.one([p.name(), 'fc1', 7]);
      return { text: JSON.stringify(spec), what: 'odd output' };
    case 4:
      t['loss'] = p.one(['mse', 'l1', 'bce_with_logits', 'cosine', 'none', 'softmax', 3, 'smooth_l1']);
      return { text: JSON.stringify(spec), what: `loss ${String(t['loss'])}` };
    case 5:
      t['target'] = p.one([p.name(), 'x', 'ids', 5]);
      return { text: JSON.stringify(spec), what: 'odd target' };
    case 6:
      t['weight'] = p.one(['x', -1, 0, 1e308, null, Number.NaN]);
      return { text: JSON.stringify(spec), what: `weight ${String(t['weight'])}` };
    case 7:
      t['ignoreIndex'] = p.one([1.5, -5, 2, 1e300, 'a', 2 ** 60]);
      return { text: JSON.stringify(spec), what: `ignoreIndex ${String(t['ignoreIndex'])}` };
    case 8:
      spec.tasks = p.chance(0.5) ? [spec.tasks[0]!] : [spec.tasks[0]!, spec.tasks[0]!];
      return { text: JSON.stringify(spec), what: 'one or duplicate task' };
    default: {
      const m = mutateBytes(p, Buffer.from(JSON.stringify(spec)));
      return { text: Buffer.from(m.bytes).toString('latin1'), what: `spec ${m.what}` };
    }
  }
}

function reportMutation(p: Picker, bytes: Uint8Array): { bytes: Uint8Array; what: string } {
  if (p.chance(0.3)) return mutateBytes(p, bytes);
  const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  const keys = Object.keys(doc);
  const key = p.one(keys);
  const value = p.one([null, 0, 'x', [], {}, -1, [1, 2], { shard: { index: 0, count: 2 } }]);
  if (p.chance(0.5)) delete doc[key];
  else doc[key] = value;
  return { bytes: Buffer.from(JSON.stringify(doc)), what: `report ${key} → ${JSON.stringify(value)}` };
}

const FLAG_POOL: Record<string, string[]> = {
  inspect: ['--batch-size', '--outputs', '--task', '--json-out', '--no-shapes', '--json'],
  grads: ['--batch-size', '--bn', '--device', '--threads', '--opt-level', '--json', '--dump-grads', '--task', '--outputs'],
  scan: [
    '--epochs',
    '--steps',
    '--batch-size',
    '--seed',
    '--optimizer',
    '--lr',
    '--momentum',
    '--weight-decay',
    '--milestones',
    '--gamma',
    '--method',
    '--cagrad-alpha',
    '--S',
    '--checkpoint-every',
    '--shard',
    '--save-trained',
    '--record-steps',
    '--no-shuffle',
    '--bn',
    '--method-opt',
  ],
  rewrite: [
    '--layers',
    '--S',
    '--top-k',
    '--max-param-increase',
    '--max-flop-increase',
    '--tolerance',
    '--json',
    '--external-data-threshold',
    '--no-verify',
    '--force',
  ],
  report: ['--top', '--S', '--csv', '--html', '--format', '--model', '-o'],
  compare: ['--severe', '--basis', '--json'],
  verify: ['--tolerance', '--rows', '--outputs', '--data'],
};

function flagValue(p: Picker, flag: string): string[] {
  if (['--no-shapes', '--json', '--record-steps', '--no-shuffle', '--no-verify', '--force'].includes(flag) && !(flag === '--json' && p.chance(0.5)))
    return [flag];
  const values = [
    ...ODD_NUMBERS,
    'sgd',
    'adam',
    'none',
    'train',
    'eval',
    'cpu',
    'cuda:9',
    'fc1',
    'fc1,fc2',
    'A',
    '1/2',
    '3/2',
    '0/0',
    'abc,def',
    '@/spec.json',
    '@/mlp.onnx',
    '@/d.npz',
    '@/out/o.json',
    '@/out',
    '@/missing/x.json',
    '/proc/x',
    'pcgrad',
    'cagrad',
    'ew',
    'mgda',
    'alpha=-1',
  ];
  return [flag, p.one(values)];
}

// ---- cases ---------------------------------------------------------------------------------

const COMMANDS = {
  inspect: (m: string) => ['inspect', m, '--tasks', '@/spec.json'],
  grads: (m: string, d: string) => ['grads', m, '--tasks', '@/spec.json', '--data', d],
  scan: (m: string, d: string) => ['scan', m, '--tasks', '@/spec.json', '--data', d, '--steps', '1', '--batch-size', '4', '-o', '@/out/r.json'],
  rewrite: (m: string) => ['rewrite', m, '--tasks', '@/spec.json', '--layers', 'fc2', '-o', '@/out/m.onnx'],
} as const;

type ModelCommand = keyof typeof COMMANDS;

function modelCommand(p: Picker, model: string, data: string, needsData = false): string[] {
  const which = p.one((needsData ? ['grads', 'grads', 'scan'] : ['inspect', 'grads', 'grads', 'scan', 'rewrite']) as ModelCommand[]);
  return (COMMANDS[which] as (m: string, d: string) => string[])(model, data);
}

/** The case for (seed, index); the same pair always gives the same case. */
export function makeCase(seed: number, index: number, fixtures: FileSet): FuzzCase {
  const p = new Picker((seed * 1_000_003 + index) >>> 0);
  const files: FileSet = new Map(fixtures);
  const special: FuzzCase['special'] = {};
  const tokens = p.chance(0.4);
  const modelFile = tokens ? 'tok.onnx' : 'mlp.onnx';
  const dataFile = tokens ? 'tok.npz' : p.one(['d.npz', 'dz.npz', 'dpb']);
  const kinds = ['model-bytes', 'model-structure', 'model-structure', 'external', 'data', 'data', 'spec', 'flags', 'flags', 'report'] as const;
  const kind = p.one(kinds);
  let description = '';
  let argv: string[];
  switch (kind) {
    case 'model-bytes': {
      const m = mutateBytes(p, fixtures.get(modelFile)!);
      files.set(modelFile, m.bytes);
      description = `${modelFile}: ${m.what}`;
      argv = modelCommand(p, `@/${modelFile}`, `@/${dataFile}`);
      break;
    }
    case 'model-structure': {
      const m = mutateStructure(p, fixtures.get(modelFile)!);
      files.set(modelFile, m.bytes);
      description = `${modelFile}: ${m.what}`;
      special.dirs = ['dir'];
      argv = modelCommand(p, `@/${modelFile}`, `@/${dataFile}`);
      break;
    }
    case 'external': {
      const data = 'ext/mlp.onnx.data';
      const what = p.int(6);
      if (what === 0) files.set(data, fixtures.get(data)!.subarray(0, p.int(fixtures.get(data)!.length)));
      else if (what === 1) {
        files.delete(data);
        special.dirs = [data];
      } else if (what === 2) {
        files.delete(data);
        special.fifo = [data];
      } else if (what === 3) {
        files.delete(data);
        special.symlinks = [[data, p.one(['/etc/passwd', '../d.npz', '/dev/zero', 'nowhere'])]];
      } else {
        const m = mutateStructure(p, fixtures.get('ext/mlp.onnx')!);
        files.set('ext/mlp.onnx', m.bytes);
        special.fifo = ['ext/pipe'];
        special.dirs = ['ext/dir'];
        special.symlinks = [['ext/link', '/etc/passwd']];
      }
      description = `external data: ${['truncated', 'a directory', 'a named pipe', 'a symlink', 'structure', 'structure'][what]}`;
      argv = modelCommand(p, '@/ext/mlp.onnx', '@/d.npz');
      break;
    }
    case 'data': {
      const pick = p.int(10);
      if (pick === 0) {
        // A folder of random .pb files with binary names.
        for (const key of [...files.keys()]) if (key.startsWith('dpb/')) files.delete(key);
        for (let i = 0; i < 3; i++) {
          const junk = new Uint8Array(1 + p.int(100));
          for (let j = 0; j < junk.length; j++) junk[j] = p.int(256);
          files.set(`dpb/${p.one(['x', 'A_target', '\u0007\u001b[1m', 'é'])}${i}.pb`, junk);
        }
        description = 'folder of random .pb files';
        argv = modelCommand(p, '@/mlp.onnx', '@/dpb', true);
      } else if (pick === 1) {
        const target = p.one(['@/missing.npz', '@/spec.json', '@/mlp.onnx', '@/dpb/x.pb', '@/out', '@/pipe.npz']);
        special.fifo = ['pipe.npz'];
        description = `data path ${target}`;
        argv = modelCommand(p, `@/${modelFile}`, target, true);
      } else {
        const m = dataMutation(p, tokens);
        files.set(tokens ? 'tok.npz' : 'd.npz', m.bytes);
        description = `data: ${m.what}`;
        argv = modelCommand(p, `@/${modelFile}`, tokens ? '@/tok.npz' : '@/d.npz', true);
      }
      break;
    }
    case 'spec': {
      const m = specMutation(p);
      files.set('spec.json', Buffer.from(m.text, 'latin1'));
      description = `spec: ${m.what}`;
      argv = modelCommand(p, `@/${modelFile}`, `@/${dataFile}`);
      break;
    }
    case 'flags': {
      const command = p.one(Object.keys(FLAG_POOL));
      const base =
        command === 'report'
          ? ['report', '@/report.json']
          : command === 'compare'
            ? ['compare', '@/report.json', '@/report.json']
            : command === 'verify'
              ? ['verify', '@/mlp.onnx', '@/mlp.onnx']
              : (COMMANDS[command as ModelCommand] as (m: string, d: string) => string[])(`@/${modelFile}`, `@/${dataFile}`);
      const extra: string[] = [];
      const n = 1 + p.int(3);
      for (let i = 0; i < n; i++) extra.push(...flagValue(p, p.one(FLAG_POOL[command]!)));
      if (p.chance(0.1)) extra.push(p.one(['@/mlp.onnx', 'extra', '--no-such-flag', '-x']));
      argv = [...base, ...extra];
      description = `flags: ${extra.join(' ')}`;
      break;
    }
    default: {
      const m = reportMutation(p, fixtures.get('report.json')!);
      files.set('report.json', m.bytes);
      description = m.what;
      argv = p.one([
        ['report', '@/report.json'],
        ['compare', '@/report.json', '@/report.json'],
        ['merge', '@/report.json', '@/report.json', '-o', '@/out/m.json'],
        ['rewrite', '@/mlp.onnx', '--tasks', '@/spec.json', '--scores', '@/report.json', '--top-k', '1', '-o', '@/out/m.onnx'],
      ]);
    }
  }
  return { index, kind, description, files, special, argv };
}

export { CLASSES };
