/**
 * `recon rewrite --json` maps every branched layer to its PyTorch module, and every task to the
 * initializers of its copy. Expectations come from outside the rewrite: the corpus reference
 * (written by PyTorch-side code, `scripts/corpus/onnx_map.py`) says which module owns which
 * initializers of an export and which tasks it reaches; which task a copy serves is read off the
 * rewritten graph by following the copy to the graph outputs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/load.js';
import type { Model } from '../../src/onnx/model.js';
import { cli } from '../cli/helpers.js';

const CORPUS = 'test/fixtures/corpus/resnet_basic';

interface RefModule {
  name: string;
  status: string;
  initializers: string[];
  params: string[];
  tasks: string[];
  shared: boolean;
}

interface Mapped {
  name: string;
  module: string | null;
  moduleSource: string | null;
  nodes: string[];
  tasks: string[];
  params: { original: string; kind: string; stateDictKey: string | null; copies: Record<string, string> }[];
  copies: { task: string; output: string; initializers: Record<string, string> }[];
}

const reference = JSON.parse(readFileSync(`${CORPUS}/reference.json`, 'utf8')) as { exports: { file: string; modules: RefModule[] }[] };

/** Graph outputs a value flows into, found by walking the graph forward. */
function outputsReached(model: Model, value: string): Set<string> {
  const readers = new Map<string, string[][]>();
  for (const n of model.graph.nodes) for (const i of n.inputs) if (i) readers.set(i, [...(readers.get(i) ?? []), n.outputs]);
  const outputs = new Set(model.graph.outputNames);
  const seen = new Set<string>();
  const found = new Set<string>();
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    if (outputs.has(v)) found.add(v);
    for (const outs of readers.get(v) ?? []) for (const o of outs) if (o) stack.push(o);
  }
  return found;
}

describe.each([
  ['resnet_basic_op17_train_nofold.onnx', 'state-dict'],
  ['resnet_basic_op17_eval_nofold.onnx', 'node-scope'],
])('rewrite --json on %s', (file, source) => {
  let work: string;
  let json: { tasks: { name: string; output: string }[]; branched: Mapped[] };
  let rewritten: Model;
  let original: Model;
  const modules = reference.exports.find((e) => e.file === file)!.modules.filter((m) => m.shared && m.initializers.length > 0);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'recon-mapping-'));
    const r = await cli(
      'rewrite',
      join(CORPUS, file),
      '--tasks',
      join(CORPUS, 'resnet_basic.tasks.json'),
      '--layers',
      modules.map((m) => m.name).join(','),
      '-o',
      join(work, 'out.onnx'),
      '--json',
      join(work, 'out.json'),
    );
    expect(r.code, r.stderr).toBe(0);
    json = JSON.parse(readFileSync(join(work, 'out.json'), 'utf8'));
    rewritten = loadModel(join(work, 'out.onnx'));
    original = loadModel(join(CORPUS, file));
  }, 60_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('every branched layer is the PyTorch module the corpus reference names, with its initializers', () => {
    expect(modules.length).toBeGreaterThan(3);
    expect(json.branched.map((b) => b.name)).toEqual(modules.map((m) => m.name));
    for (const m of modules) {
      const b = json.branched.find((x) => x.name === m.name)!;
      expect(b.module).toBe(m.name);
      expect(b.moduleSource).toBe(source);
      expect(b.tasks).toEqual(m.tasks);
      const params = b.params.filter((p) => p.kind === 'parameter');
      expect(params.map((p) => p.original).sort()).toEqual([...m.initializers].sort());
      for (const p of params) {
        // A state-dict key only where the export kept PyTorch's parameter (not for a fused Conv+BN).
        expect(p.stateDictKey).toBe(m.params.includes(p.original) ? p.original : null);
      }
    }
    if (source === 'node-scope') expect(json.branched.every((b) => b.params.every((p) => p.stateDictKey === null))).toBe(true);
  });

  it('running statistics are listed as such: exactly inputs 3 and 4 of the layer’s BatchNormalization', () => {
    for (const b of json.branched) {
      const bnStats = original.graph.nodes.filter((n) => b.nodes.includes(n.name) && n.opType === 'BatchNormalization').flatMap((n) => n.inputs.slice(3, 5));
      expect(
        b.params
          .filter((p) => p.kind === 'running-statistic')
          .map((p) => p.original)
          .sort(),
      ).toEqual(bnStats.sort());
      for (const p of b.params.filter((x) => x.kind === 'running-statistic')) expect(p.stateDictKey).toBe(p.original);
    }
  });

  it('each task’s copy is an initializer of the rewritten model, equal to the original, that reaches that task’s output only', () => {
    const outputOf = new Map(json.tasks.map((t) => [t.name, t.output]));
    let checked = 0;
    for (const b of json.branched) {
      expect(b.copies.map((c) => c.task)).toEqual(b.tasks);
      for (const c of b.copies) {
        expect(c.output).toBe(outputOf.get(c.task));
        expect(Object.keys(c.initializers).sort()).toEqual(b.params.map((p) => p.original).sort());
        for (const [orig, copy] of Object.entries(c.initializers)) {
          expect(b.params.find((p) => p.original === orig)!.copies[c.task]).toBe(copy);
          const t = rewritten.graph.initializers.get(copy);
          expect(t, copy).toBeDefined();
          expect(Buffer.from(t!.rawBytes()).equals(Buffer.from(original.graph.initializers.get(orig)!.rawBytes()))).toBe(true);
          expect(original.graph.initializers.has(copy)).toBe(false);
          // Which task it serves: what its readers flow into.
          const reached = new Set<string>();
          for (const n of rewritten.graph.nodes)
            if (n.inputs.includes(copy)) for (const o of n.outputs) for (const out of outputsReached(rewritten, o)) reached.add(out);
          expect([...reached], `${copy}`).toEqual([c.output]);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
  });
});
