import { describe, expect, it } from 'vitest';
import { GraphBuilder, loadModel, type Model } from '../../src/onnx/index.js';
import { makeValueInfo } from '../../src/onnx/value-info.js';
import { readTaskSpecFile } from '../../src/analysis/task-spec.js';
import { inferShapes } from '../../src/analysis/shapes.js';
import { analyzeModel } from '../../src/analysis/analyze.js';
import { REFERENCE_MODELS, REFERENCE_OPSETS } from '../../models/reference-models.js';
import { cudaKernelTable, cudaPlacementReport, forecastCudaPlacement, formatPlacementReport } from '../../src/analysis/placement.js';
import { forecastGradientGraph, syntheticBatch } from '../../src/autodiff/gradient-placement.js';

/**
 * The CUDA kernel-coverage audit: the gradient graph of every reference model and of the committed
 * PyTorch exports, built as `--device cuda` builds it, must have no node that onnxruntime's CUDA
 * provider would leave to the CPU except the ones onnxruntime leaves there on purpose (shape
 * computations). A failure prints the forecast: each node, its types, opset and why.
 */
interface Case {
  label: string;
  model: () => Model;
  tasks: string;
}

const cases: Case[] = [
  ...REFERENCE_MODELS.flatMap((m) =>
    REFERENCE_OPSETS.map((opset): Case => ({ label: `${m.name} opset ${opset}`, model: () => m.build({ opset }), tasks: `models/${m.name}.tasks.json` })),
  ),
  ...['multitask_eval_op13', 'multitask_train_op13', 'multitask_train_op15'].map(
    (f): Case => ({ label: `torch ${f}`, model: () => loadModel(`test/fixtures/torch/${f}.onnx`), tasks: 'test/fixtures/torch/multitask.tasks.json' }),
  ),
];

describe('CUDA placement of every gradient graph (kernel table from onnxruntime source)', () => {
  it('the kernel table names its source', () => {
    const p = cudaKernelTable().provenance;
    expect(p.repo).toMatch(/github\.com\/microsoft\/onnxruntime/);
    expect(p.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(cudaKernelTable().kernels.length).toBeGreaterThan(1000);
  });

  // grads and static scans feed only the batch; training scans also feed every parameter a loss
  // reaches (as runScan does), which changes what is a graph input and so what may go to the CPU.
  const modes = [
    { name: 'grads', training: false },
    { name: 'training scan', training: true },
  ];
  for (const c of cases) {
    for (const bn of ['train', 'eval'] as const) {
      for (const mode of modes) {
        // Training graphs only at the newest opset of each model: enough to see the parameter feeds.
        if (mode.training && / opset 13$/.test(c.label)) continue;
        it(`${c.label}, --bn ${bn}, ${mode.name}: no unexpected CPU fallback`, async () => {
          const model = c.model();
          const tasks = readTaskSpecFile(c.tasks);
          const trainableParams = mode.training ? [...analyzeModel(model, tasks).paramTasks].filter(([, t]) => t.length > 0).map(([p]) => p) : undefined;
          const report = await forecastGradientGraph(model, tasks, { batchNorm: bn, feeds: await syntheticBatch(model, tasks), trainableParams });
          expect(report.fallbacks, `${c.label} --bn ${bn} ${mode.name}\n${formatPlacementReport(report)}`).toEqual([]);
          expect(report.cuda).toBeGreaterThan(report.cpu);
        });
      }
    }
  }
});

describe('the forecast reports what the table lacks', () => {
  /** x (float) → Relu → op → y: the op reads a GPU tensor, so a missing kernel is a real fallback. */
  function afterRelu(opset: number, dtype: 'float32' | 'float64', op: string, extra: (b: GraphBuilder) => string[] = () => []): Model {
    const b = new GraphBuilder();
    const x = b.input('x', dtype, [2, 3]);
    const r = b.op1('Relu', [x], {}, { outputs: ['r'] });
    b.graph.valueInfo.push(makeValueInfo(r, dtype, [2, 3]));
    b.output(b.op1(op, [r, ...extra(b)], {}, { outputs: ['y'] }), dtype, [2, 3]);
    return b.model(opset);
  }

  it('a double-typed node of an op registered for float only (Clip-11)', () => {
    const entries = forecastCudaPlacement(afterRelu(11, 'float64', 'Clip'));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      node: 'Clip',
      op: 'Clip',
      opset: 11,
      sinceVersion: 11,
      kind: 'fallback',
      rule: 'no-kernel',
      types: 'Clip(float64)->float64',
    });
    expect(entries[0]!.reason).toMatch(/T=float64, registered T ∈ \{float32\}; reads GPU tensor "r"/);
  });

  it('an op at an opset below every registration (Add-6; CUDA registers Add from 7)', () => {
    const entries = forecastCudaPlacement(afterRelu(6, 'float32', 'Add', () => ['r']));
    expect(entries.map((e) => [e.op, e.kind, e.sinceVersion])).toEqual([['Add', 'fallback', 6]]);
    expect(entries[0]!.reason).toMatch(/no CUDA kernel for Add schema version 6 \(opset 6\); registered: \[7, 12\], 13, 14\+/);
  });

  it("onnxruntime's opset gap: an open-ended kernel does not serve a newer schema version", () => {
    // Found in the table rather than named, so a regenerated table keeps the test meaningful.
    const t = cudaKernelTable();
    const gap = t.ranges.find((r) => {
      const versions = t.schemaVersions[r.op];
      const sig = t.signatures[`|${r.op}`]?.[0];
      const unary = sig && sig.length === 2 && sig[0]!.io === 'in' && sig[1]!.io === 'out' && sig[0]!.type === 'T' && sig[1]!.type === 'T';
      const newer = versions?.find((v) => v > r.since);
      return (
        r.domain === '' &&
        r.until === null &&
        unary &&
        r.constraints?.['T']?.includes('float32') &&
        newer !== undefined &&
        !t.ranges.some((o) => o.op === r.op && o.domain === '' && (o.since === newer || (o.until !== null && o.since <= newer && newer <= o.until)))
      );
    });
    expect(gap, 'the table has no opset gap on a unary float op').toBeDefined();
    const newer = t.schemaVersions[gap!.op]!.find((v) => v > gap!.since)!;
    const entries = forecastCudaPlacement(afterRelu(newer, 'float32', gap!.op));
    expect(entries.map((e) => [e.op, e.sinceVersion, e.kind])).toEqual([[gap!.op, newer, 'fallback']]);
    expect(entries[0]!.reason).toContain(`registered: `);
    // One opset lower the same op has its kernel.
    expect(forecastCudaPlacement(afterRelu(newer - 1, 'float32', gap!.op))).toEqual([]);
  });

  it('shape computations: CPU-preferred nodes and a kernel-less node on CPU tensors are expected, the same op on a GPU tensor is not', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 4, 6]);
    const shape = b.op1('Shape', [x], {}, { name: 'shape' });
    const dims = b.op1('Gather', [shape, b.int64s('idx', [0, 2])], {}, { name: 'gather' });
    const n = b.op1('ReduceProd', [dims], { keepdims: 1 }, { name: 'prod_of_shape' });
    const flat = b.op1('Reshape', [x, b.op1('Concat', [n, b.int64s('minus1', [-1])], { axis: 0 }, { name: 'concat' })], {}, { name: 'reshape' });
    b.output(b.op1('Relu', [flat], {}, { name: 'relu', outputs: ['y'] }), 'float32', undefined);
    const counts = b.input('counts', 'int64', ['N', 3]);
    const gpuCounts = b.op1('Add', [counts, counts], {}, { name: 'add' });
    b.output(b.op1('ReduceProd', [gpuCounts], { axes: [1], keepdims: 0 }, { name: 'prod_on_gpu', outputs: ['z'] }), 'int64', undefined);
    const model = b.model(17);
    const shapes = await inferShapes(model, { inputDims: { x: [2, 4, 6], counts: [2, 3] } });
    const r = cudaPlacementReport(model, shapes);
    const where = (name: string): string => [...r.expected, ...r.fallbacks].find((e) => e.node === name)?.rule ?? 'cuda';
    expect(where('shape')).toBe('cuda'); // its output lives in CPU memory: the seed of the rule
    expect(where('gather')).toBe('cpu-preferred');
    expect(where('prod_of_shape')).toBe('no-kernel-cpu-inputs');
    expect(where('concat')).toBe('cpu-preferred');
    expect(where('reshape')).toBe('cuda'); // it reads the shape from CPU memory by design
    expect(where('add')).toBe('cuda');
    expect(where('prod_on_gpu')).toBe('no-kernel');
    expect(r.fallbacks.map((e) => e.types)).toEqual(['ReduceProd(int64)->int64']);
    expect(formatPlacementReport(r)).toMatch(/unexpected fallbacks to CPU:\n {2}prod_on_gpu {2}ReduceProd\(int64\)->int64 {2}opset 17 \(ReduceProd-13\)/);
  });

  it('nodes that follow a fallback to the CPU are reported with it, not as shape computations', async () => {
    // A kernel-less node that also reads a CPU value (here ReduceProd-18's axes) is one onnxruntime
    // reaches from the CPU side: it marks the node's outputs as CPU tensors, so their consumers
    // follow it to the CPU although they read nothing but that output.
    const b = new GraphBuilder();
    const counts = b.input('counts', 'int64', ['N', 3]);
    const gpuCounts = b.op1('Add', [counts, counts], {}, { name: 'add' });
    const rank = b.op1('Shape', [b.op1('Shape', [counts], {}, { name: 'shape' })], {}, { name: 'rank' });
    const lastAxis = b.op1('Sub', [rank, b.int64s('one', [1])], {}, { name: 'last_axis' });
    const prod = b.op1('ReduceProd', [gpuCounts, lastAxis], { keepdims: 0 }, { name: 'prod' });
    b.output(b.op1('Mul', [prod, prod], {}, { name: 'square', outputs: ['z'] }), 'int64', undefined);
    const model = b.model(18);
    const r = cudaPlacementReport(model, await inferShapes(model, { inputDims: { counts: [2, 3] } }));
    const rules = Object.fromEntries([...r.expected, ...r.fallbacks].map((e) => [e.node, `${e.kind}/${e.rule}`]));
    expect(rules).toEqual({
      rank: 'expected/cpu-preferred',
      last_axis: 'expected/cpu-preferred',
      prod: 'fallback/no-kernel',
      square: 'fallback/after-fallback',
    });
  });
});
