import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, saveModel } from '../../src/onnx/index.js';
import { referenceModel } from '../../models/reference-models.js';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-doctor-graph-'));
const mlp = join(dir, 'mlp.onnx');
const cnn = join(dir, 'cnn.onnx');
const celu = join(dir, 'celu.onnx');

/** x → fc (Gemm) → Celu → two heads: Celu has a gradient rule but no CUDA kernel at all. */
function saveCeluModel(path: string): void {
  const b = new GraphBuilder();
  const x = b.input('input', 'float32', ['N', 4]);
  const weight = (name: string, rows: number, cols: number): string =>
    b.initializer(
      name,
      'float32',
      [rows, cols],
      Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i + rows)),
    );
  const bias = (name: string, n: number): string => b.initializer(name, 'float32', [n], new Float32Array(n));
  const h = b.op1('Gemm', [x, weight('fc.weight', 8, 4), bias('fc.bias', 8)], { transB: 1 }, { name: '/fc/Gemm' });
  const a = b.op1('Celu', [h], {}, { name: '/act/Celu' });
  b.output(b.op1('Gemm', [a, weight('head1.weight', 3, 8), bias('head1.bias', 3)], { transB: 1 }, { name: '/head1/Gemm', outputs: ['T1'] }), 'float32', [
    'N',
    3,
  ]);
  b.output(b.op1('Gemm', [a, weight('head2.weight', 2, 8), bias('head2.bias', 2)], { transB: 1 }, { name: '/head2/Gemm', outputs: ['T2'] }), 'float32', [
    'N',
    2,
  ]);
  saveModel(b.model(17), path);
}

beforeAll(() => {
  saveModel(referenceModel('mlp').build({ opset: 17 }), mlp);
  saveModel(referenceModel('cnn').build({ opset: 17 }), cnn);
  saveCeluModel(celu);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('recon doctor --graph', () => {
  it('a gradient graph the CUDA provider runs entirely: counts per provider, exit 0', async () => {
    const r = await cli('doctor', '--graph', mlp, '--tasks', 'models/mlp.tasks.json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/gradient graph of .*mlp\.onnx \(tasks T1, T2; --bn train; batch 2\)/);
    expect(r.stdout).toMatch(
      /CUDA placement forecast from the kernel table of onnxruntime [\d.]+ @ [0-9a-f]{12} \(src\/analysis\/cuda-kernels\.json; onnxruntime-node here: [\d.]+\)/,
    );
    expect(r.stdout).toMatch(/^\d+ nodes: CUDAExecutionProvider \d+, CPUExecutionProvider 0 \(0 expected, 0 unexpected fallbacks\)/m);
    // A training scan feeds the parameters too: a larger graph, still all on CUDA.
    const training = await cli('doctor', '--graph', mlp, '--tasks', 'models/mlp.tasks.json', '--training');
    expect(training.code).toBe(0);
    expect(training.stdout).toMatch(/^training gradient graph of /);
    const nodes = (out: string): number => Number(/^(\d+) nodes:/m.exec(out)![1]);
    expect(nodes(training.stdout)).toBeGreaterThan(nodes(r.stdout));
  });

  it("train-mode BN: onnxruntime's CPU-preferred shape computations are listed as expected, exit 0", async () => {
    const r = await cli('doctor', '--graph', cnn, '--tasks', 'models/cnn.tasks.json', '--bn', 'train');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^expected on CPU:$/m);
    expect(r.stdout).toMatch(/ReduceProd\(int64\)->int64 {2}opset 17 \(ReduceProd-13\) {2}no CUDA kernel for these types/);
    expect(r.stdout).not.toMatch(/unexpected fallbacks to CPU:/);
    const evalMode = await cli('doctor', '--graph', cnn, '--task', 'T1', '--task', 'T2', '--bn', 'eval');
    expect(evalMode.code).toBe(0);
    expect(evalMode.stdout).toMatch(/CPUExecutionProvider 0 /);
  });

  it('an op without a CUDA kernel on a GPU tensor: listed with op, opset and types, exit 1', async () => {
    const r = await cli('doctor', '--graph', celu, '--outputs', 'T1,T2');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/1 unexpected fallback\)/);
    expect(r.stdout).toMatch(
      /^unexpected fallbacks to CPU:\n {2}\/act\/Celu {2}Celu\(float32\)->float32 {2}opset 17 \(Celu-12\) {2}no CUDA kernel for Celu at any opset; reads GPU tensor/m,
    );
  });

  it('usage errors are one line', async () => {
    const both = await cli('doctor', '--graph', mlp, '--require', 'cuda');
    expect(both.code).toBe(1);
    expect(both.stderr).toBe('recon doctor: --graph and --require are separate checks: run them one at a time\n');
    const bn = await cli('doctor', '--graph', mlp, '--bn', 'sometimes');
    expect(bn.stderr).toMatch(/^recon doctor: --bn must be train or eval, got "sometimes"\n$/);
    const missing = await cli('doctor', '--graph', join(dir, 'nope.onnx'));
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  });
});
