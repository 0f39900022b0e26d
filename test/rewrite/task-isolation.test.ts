/**
 * Task isolation of rewrites: in a rewritten model, changing one task's copy of a branched
 * parameter changes that task's output and no other, and changing a parameter that is still
 * shared changes every output that depends on it in the original model. Equal
 * outputs before and after a rewrite (verify) cannot see a copy wired to the wrong task, because
 * all copies start equal; perturbing the copies can.
 */
import { describe, expect, it } from 'vitest';
import { cloneModel } from '../../src/autodiff/gradient-graph.js';
import type { Graph } from '../../src/onnx/graph.js';
import type { Model } from '../../src/onnx/model.js';
import { Tensor } from '../../src/onnx/tensor.js';
import { rewrite } from '../../src/rewrite/rewrite.js';
import type { LayerRef, RewriteSummary, TaskRef } from '../../src/rewrite/types.js';
import { randomFeeds, verify } from '../../src/rewrite/verify.js';
import type { HostTensor } from '../../src/runtime/ort-tensor.js';
import { Random } from '../../src/util/random.js';
import { allCases, mlpCase } from './helpers/graphs.js';
import { sharedLayers } from './helpers/layers.js';

const SUBSETS_PER_CASE = 4;
/** Relative output changes up to this count as unchanged (float rounding of differently optimised graphs). */
const UNCHANGED = 1e-5;
/** A dependent output must move by at least this much. */
const CHANGED = 1e-3;

/**
 * Graph outputs that depend on `value`, by following node inputs to node outputs in `graph`
 * (written here, independently of the rewrite's own reach analysis).
 */
function outputsDependingOn(graph: Graph, value: string, outputs: readonly string[]): Set<string> {
  const reached = new Set([value]);
  const queue = [value];
  while (queue.length > 0) {
    const v = queue.pop()!;
    for (const n of graph.nodes) {
      if (!n.inputs.includes(v)) continue;
      for (const o of n.outputs) {
        if (o && !reached.has(o)) {
          reached.add(o);
          queue.push(o);
        }
      }
    }
  }
  return new Set(outputs.filter((o) => reached.has(o)));
}

/** A copy of `model` with initializer `name` moved away from its values (positive values stay positive). */
function perturbed(model: Model, name: string): Model {
  const copy = cloneModel(model);
  const t = copy.graph.initializers.get(name)!;
  const data = Float32Array.from(t.data('float32'), (v) => v * 1.5 + 0.25);
  copy.graph.initializers.set(name, Tensor.fromArray(name, 'float32', t.dims, data));
  return copy;
}

interface Probe {
  /** Initializer of the rewritten model to perturb. */
  initializer: string;
  /** Outputs that must change; every other task output must stay as it was. */
  expected: Set<string>;
  label: string;
}

/** Runs every probe and returns the violations, one line each. */
async function isolationViolations(rewritten: Model, probes: readonly Probe[], outputs: string[], feeds: Record<string, HostTensor>): Promise<string[]> {
  const violations: string[] = [];
  for (const probe of probes) {
    const result = await verify(rewritten, perturbed(rewritten, probe.initializer), { feeds, outputs, tolerance: 0 });
    for (const d of result.all) {
      // onnxruntime optimises each graph on its own, so an untouched output may move in the last
      // bits; a perturbation of 50% moves a dependent output by far more than UNCHANGED.
      const changed = d.maxRel > UNCHANGED;
      if (changed !== probe.expected.has(d.output) || (changed && d.maxRel < CHANGED)) {
        violations.push(`${probe.label}: output ${d.output} ${changed ? `changed by ${d.maxRel.toExponential(2)}` : 'did not change'}`);
      }
    }
  }
  return violations;
}

/**
 * Probes for a rewrite: each task's copy of the first parameter of every branched layer (expected
 * to change that task's output only), and the first parameter of
 * up to two layers that stayed shared (expected to change what depends on it in the original).
 */
function probesFor(original: Model, tasks: readonly TaskRef[], summary: RewriteSummary, unbranched: readonly LayerRef[]): Probe[] {
  const outputs = tasks.map((t) => t.output);
  const outputOf = new Map(tasks.map((t) => [t.name, t.output]));
  const probes: Probe[] = [];
  for (const layer of summary.branched) {
    const param = layer.params[0]!;
    for (const task of layer.tasks) {
      probes.push({
        initializer: param.copies[task]!,
        // Only the task's own output: tasks reading it get their own copy of the path to it.
        expected: new Set([outputOf.get(task)!]),
        label: `${layer.name}: task ${task}'s copy of ${param.original}`,
      });
    }
  }
  for (const layer of unbranched.slice(0, 2)) {
    const param = layer.params[0]!;
    probes.push({ initializer: param, expected: outputsDependingOn(original.graph, param, outputs), label: `shared ${layer.name}: ${param}` });
  }
  return probes;
}

describe('rewrites keep tasks isolated', () => {
  for (const c of allCases()) {
    it(`${c.name}: perturbing one task's copy changes only that task's output; a shared parameter changes every output it reaches`, async () => {
      const shared = sharedLayers(c.model.graph, c.tasks).map((s) => s.layer);
      const rng = new Random(77);
      const outputs = c.tasks.map((t) => t.output);
      const feeds = randomFeeds(c.model, 3);
      for (let s = 0; s < SUBSETS_PER_CASE; s++) {
        let layers = shared.filter(() => rng.uniform() < 0.5);
        if (layers.length === 0) layers = [shared[rng.int(shared.length)]!];
        const unbranched = shared.filter((l) => !layers.includes(l));
        const { model, summary } = rewrite(c.model, { layers, tasks: c.tasks });
        expect(summary.branched.length).toBeGreaterThan(0);
        const probes = probesFor(c.model, c.tasks, summary, unbranched);
        // Every probe expects at least one output to move, so "nothing changed" cannot pass.
        for (const p of probes) expect(p.expected.size, p.label).toBeGreaterThan(0);
        expect(await isolationViolations(model, probes, outputs, feeds), layers.map((l) => l.name).join(',')).toEqual([]);
      }
    });
  }

  it('catches a rewrite that wires one task to another task’s copy (which output equality cannot see)', async () => {
    const c = mlpCase(2);
    const fc2 = sharedLayers(c.model.graph, c.tasks).find((s) => s.layer.name === 'fc2')!.layer;
    const { model, summary } = rewrite(c.model, { layers: [fc2], tasks: c.tasks });
    const weight = summary.branched[0]!.params.find((p) => p.original === 'fc2.weight')!;
    const [first, second] = summary.branched[0]!.tasks as [string, string];
    // Cross-wire: the node that reads the second task's copy reads the first task's instead.
    const crossWired = cloneModel(model);
    const reader = crossWired.graph.nodes.find((n) => n.inputs.includes(weight.copies[second]!))!;
    reader.inputs = reader.inputs.map((i) => (i === weight.copies[second] ? weight.copies[first]! : i));
    const feeds = randomFeeds(c.model, 3);
    const outputs = c.tasks.map((t) => t.output);
    // The copies hold equal values, so the outputs still match the original exactly...
    expect((await verify(c.model, crossWired, { feeds, outputs })).ok).toBe(true);
    // ...but perturbing the first task's copy moves the second task's output too.
    const probes = probesFor(c.model, c.tasks, summary, []);
    const violations = await isolationViolations(crossWired, probes, outputs, feeds);
    const secondOutput = c.tasks.find((t) => t.name === second)!.output;
    expect(violations.some((v) => v.startsWith(`fc2: task ${first}'s copy of fc2.weight: output ${secondOutput} changed by`))).toBe(true);
    expect(violations.some((v) => v.startsWith(`fc2: task ${second}'s copy of fc2.weight: output`) && v.endsWith('did not change'))).toBe(true);
    // The correct rewrite passes the same probes.
    expect(await isolationViolations(model, probes, outputs, feeds)).toEqual([]);
  });
});
