/**
 * The compacted graph against what the architectures are known to contain (ResNet-18: 41
 * rankable layers, 8 residual Adds, one MaxPool and one global pool; U-Net: MaxPool, two skip
 * Concats), the rewrite's per-task copies, and the layout's geometry (no overlaps, inside the box).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { referenceModel } from '../../models/reference-models.js';
import { analyzeModel } from '../../src/analysis/analyze.js';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { loadModel } from '../../src/onnx/load.js';
import { reconRewrite } from '../../src/rewrite/recon.js';
import { layoutGraph } from '../../src/report/graph/layout.js';
import { buildGraphView, copyOrigin, type ModelGraphView } from '../../src/report/graph/view.js';

const UNET = 'test/fixtures/corpus/unet';
const unetTasks = parseTaskSpec(JSON.parse(readFileSync(`${UNET}/unet.tasks.json`, 'utf8')), 'unet.tasks.json');
const unet = (): ReturnType<typeof loadModel> => loadModel(`${UNET}/unet_op17_train_nofold.onnx`);

/** Every node reachable from some input and reaching some output; no cycle. */
function checkConnected(view: ModelGraphView): void {
  const out = new Map(view.nodes.map((n) => [n.id, [] as string[]]));
  const inc = new Map(view.nodes.map((n) => [n.id, [] as string[]]));
  for (const e of view.edges) {
    out.get(e.from)!.push(e.to);
    inc.get(e.to)!.push(e.from);
  }
  const walk = (starts: string[], next: Map<string, string[]>): Set<string> => {
    const seen = new Set<string>();
    const stack = [...starts];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      stack.push(...next.get(id)!);
    }
    return seen;
  };
  const ids = view.nodes.map((n) => n.id);
  expect(
    walk(
      view.nodes.filter((n) => n.kind === 'input').map((n) => n.id),
      out,
    ),
  ).toEqual(new Set(ids));
  expect(
    walk(
      view.nodes.filter((n) => n.kind === 'output').map((n) => n.id),
      inc,
    ),
  ).toEqual(new Set(ids));
  // Kahn's algorithm consumes every node only without a cycle.
  const indegree = new Map(ids.map((id) => [id, inc.get(id)!.length]));
  const ready = ids.filter((id) => indegree.get(id) === 0);
  let done = 0;
  while (ready.length > 0) {
    const id = ready.pop()!;
    done++;
    for (const w of out.get(id)!) {
      indegree.set(w, indegree.get(w)! - 1);
      if (indegree.get(w) === 0) ready.push(w);
    }
  }
  expect(done).toBe(ids.length);
}

describe('buildGraphView', () => {
  const ref = referenceModel('resnet18');
  const model = ref.build({ opset: 17 });
  const tasks = parseTaskSpec(ref.tasks, 'resnet18');
  const view = buildGraphView(model, tasks);

  it('draws each of ResNet-18’s layers once, and only the structural ops besides', () => {
    const analysis = analyzeModel(model, tasks);
    const layerNodes = view.nodes.filter((n) => n.kind === 'layer');
    expect(layerNodes.map((n) => n.label).sort()).toEqual(analysis.layers.map((l) => l.name).sort());
    // 20 convolutions, 20 BNs and fc shared by both tasks, plus one head per task.
    expect(analysis.sharedLayers).toHaveLength(41);
    const ops = view.nodes.filter((n) => n.kind === 'op').map((n) => n.op);
    expect(ops.filter((o) => o === 'Add')).toHaveLength(8);
    expect(ops.filter((o) => o !== 'Add').sort()).toEqual(['GlobalAveragePool', 'MaxPool']);
    // Activations and Flatten are folded, never their own box.
    for (const n of view.nodes) expect(['Relu', 'Flatten']).not.toContain(n.op);
    expect(view.nodes.find((n) => n.label === 'layer1.0.bn1')!.folded).toEqual(['Relu']);
    expect(view.nodes.filter((n) => n.kind === 'input').map((n) => n.label)).toEqual(model.graph.feedInputs.map((i) => i.name));
    expect(view.nodes.filter((n) => n.kind === 'output').map((n) => n.task)).toEqual(tasks.map((t) => t.name));
    const params = layerNodes.reduce((a, n) => a + n.params, 0);
    const trainable = new Set(analysis.layers.flatMap((l) => l.params));
    expect(params).toBe([...trainable].reduce((a, p) => a + model.graph.initializers.get(p)!.numel, 0));
    checkConnected(view);
  });

  it('accounts for every ONNX node: drawn in exactly one box or hidden', () => {
    const members = view.nodes.flatMap((n) => n.members);
    expect(new Set(members).size).toBe(members.length);
    expect(members.length + view.hiddenNodes).toBe(model.graph.nodes.length);
  });

  it('hides shape arithmetic (every Shape node of a transformer export)', () => {
    const dir = 'test/fixtures/corpus/bert';
    const bert = loadModel(`${dir}/bert_op17_nobn_nofold.onnx`);
    const spec = parseTaskSpec(JSON.parse(readFileSync(`${dir}/bert.tasks.json`, 'utf8')), 'bert.tasks.json');
    const bv = buildGraphView(bert, spec);
    const shapeNodes = bert.graph.nodes.filter((n) => n.opType === 'Shape' || n.opType === 'Constant').map((n) => n.label);
    expect(shapeNodes.length).toBeGreaterThan(20);
    const drawn = new Set(bv.nodes.flatMap((n) => n.members));
    for (const s of shapeNodes) expect(drawn.has(s)).toBe(false);
    expect(bv.nodes.length).toBeLessThan(bert.graph.nodes.length / 5);
    checkConnected(bv);
  });

  it('keeps a U-Net’s pooling, skip Concats and ConvTranspose layers', () => {
    const uv = buildGraphView(unet(), unetTasks);
    const ops = uv.nodes.map((n) => n.op);
    expect(ops.filter((o) => o === 'Concat')).toHaveLength(2);
    expect(ops.filter((o) => o === 'MaxPool')).toHaveLength(2);
    expect(uv.nodes.filter((n) => n.kind === 'layer' && n.op === 'ConvTranspose')).toHaveLength(2);
    expect(uv.rewrite).toBeUndefined();
    checkConnected(uv);
  });

  it('marks each per-task copy of a rewritten model with its task, and splits layers that now run per task', async () => {
    const original = unet();
    const before = buildGraphView(original, unetTasks);
    const { model: rewritten } = await reconRewrite(original, unetTasks, ['enc2.0.0']);
    const after = buildGraphView(rewritten, unetTasks);
    expect(after.rewrite).toEqual({ tasks: ['seg', 'depth'], branched: ['enc2.0.0'] });
    const copies = after.nodes.filter((n) => n.kind === 'layer' && n.copyFor !== undefined).map((n) => [n.label, n.copyFor]);
    expect(copies.sort()).toEqual([
      ['enc2.0.0__depth', 'depth'],
      ['enc2.0.0__seg', 'seg'],
    ]);
    // The BN after the branch keeps one set of weights but runs once per task: a box per task, no copy.
    expect(before.nodes.filter((n) => n.label === 'enc2.0.1').map((n) => n.tasks)).toEqual([['seg', 'depth']]);
    const bn = after.nodes.filter((n) => n.label === 'enc2.0.1');
    expect(bn.map((n) => n.tasks).sort()).toEqual([['depth'], ['seg']]);
    for (const n of bn) expect(n.copyFor).toBeUndefined();
    // Ops after the branch are node copies, each for its task.
    const concatCopies = after.nodes.filter((n) => n.op === 'Concat' && n.copyFor !== undefined);
    expect(concatCopies.map((n) => n.copyFor).sort()).toEqual(['depth', 'depth', 'seg', 'seg']);
    // Nothing before the branch point is copied.
    expect(after.nodes.find((n) => n.label === 'enc1.0.0')!.copyFor).toBeUndefined();
    checkConnected(after);
  });

  it('copyOrigin strips the rewrite suffix only for the given task', () => {
    expect(copyOrigin('conv1__T1', 'T1')).toBe('conv1');
    expect(copyOrigin('conv1__T1_2', 'T1')).toBe('conv1');
    expect(copyOrigin('conv1__T1', 'T2')).toBeUndefined();
    expect(copyOrigin('conv1', 'T1')).toBeUndefined();
  });
});

describe('layoutGraph', () => {
  function noOverlaps(layout: ReturnType<typeof layoutGraph>): void {
    const boxes = layout.nodes.map((n) => ({ l: n.x - n.width / 2, r: n.x + n.width / 2, t: n.y - n.height / 2, b: n.y + n.height / 2 }));
    for (const b of boxes) {
      expect(b.l).toBeGreaterThanOrEqual(0);
      expect(b.t).toBeGreaterThanOrEqual(0);
      expect(b.r).toBeLessThanOrEqual(layout.width);
      expect(b.b).toBeLessThanOrEqual(layout.height);
    }
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const c = boxes[j]!;
        const overlap = a.l < c.r && c.l < a.r && a.t < c.b && c.t < a.b;
        expect(overlap, `${layout.nodes[i]!.node.label} overlaps ${layout.nodes[j]!.node.label}`).toBe(false);
      }
    }
    for (const e of layout.edges) {
      for (const piece of e.pieces) {
        for (const p of piece) {
          expect(p.x).toBeGreaterThanOrEqual(-1);
          expect(p.x).toBeLessThanOrEqual(layout.width + 1);
          expect(p.y).toBeGreaterThanOrEqual(-1);
          expect(p.y).toBeLessThanOrEqual(layout.height + 1);
        }
      }
    }
  }

  it('places ResNet-18 without overlaps, wrapped into columns that fill a wide box', () => {
    const ref = referenceModel('resnet18');
    const layout = layoutGraph(buildGraphView(ref.build({ opset: 17 }), parseTaskSpec(ref.tasks, 'resnet18')));
    noOverlaps(layout);
    expect(layout.wraps.length).toBeGreaterThan(0);
    expect(layout.width / layout.height).toBeGreaterThan(0.8);
    // Every edge ends in an arrowhead at its target's box.
    for (const e of layout.edges) {
      expect(e.arrow).toBe(true);
      const end = e.pieces.at(-1)!.at(-1)!;
      const target = layout.nodes.find((n) => n.node.id === e.to)!;
      expect(Math.abs(end.x - target.x)).toBeLessThanOrEqual(target.width / 2 + 1);
      expect(Math.abs(end.y - target.y)).toBeLessThanOrEqual(target.height / 2 + 1);
    }
  });

  it('handles a 600-layer chain (a graph far past 300 nodes)', () => {
    const b = new GraphBuilder();
    let x = b.input('x', 'float32', ['N', 8]);
    for (let i = 0; i < 600; i++) {
      const w = b.initializer(`block${i}.weight`, 'float32', [8, 8], new Float32Array(64).fill(0.01));
      x = b.op1('Relu', [b.op1('MatMul', [x, w], {}, { name: `/block${i}/MatMul` })]);
    }
    const head = (t: string): string => b.op1('MatMul', [x, b.initializer(`${t}.weight`, 'float32', [8, 2], new Float32Array(16))], {}, { outputs: [t] });
    b.output(head('a'), 'float32');
    b.output(head('b'), 'float32');
    const view = buildGraphView(b.model(17), [
      { name: 'a', output: 'a' },
      { name: 'b', output: 'b' },
    ]);
    expect(view.nodes.filter((n) => n.kind === 'layer')).toHaveLength(602);
    const layout = layoutGraph(view);
    noOverlaps(layout);
    expect(layout.wraps.length).toBeGreaterThanOrEqual(3);
  });
});
