import { describe, expect, it } from 'vitest';
import type { onnx } from 'onnx-proto';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { ReconError } from '../../src/util/errors.js';
import { proto } from '../../src/onnx/proto.js';
import { makeValueInfo } from '../../src/onnx/value-info.js';
import { rewrite } from '../../src/rewrite/rewrite.js';
import { verify } from '../../src/rewrite/verify.js';
import type { LayerRef, TaskRef } from '../../src/rewrite/types.js';
import { mlpCase } from './helpers/graphs.js';
import { parameterOwners } from './helpers/layers.js';
import { structuralProblems } from './helpers/structure.js';

const GRAPH = proto.AttributeProto.AttributeType.GRAPH;
const TASKS: TaskRef[] = [
  { name: 'A', output: 'out_a' },
  { name: 'B', output: 'out_b' },
];

/** x → fc1 (Gemm) → h, then `middle(h)` → two Identity heads. */
function twoHeads(middle: (b: GraphBuilder, h: string) => string) {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [2, 3]);
  b.initializer(
    'fc1.weight',
    'float32',
    [3, 3],
    Float32Array.from({ length: 9 }, (_, i) => i / 9),
  );
  const h = b.op1('Gemm', [x, 'fc1.weight'], { transB: 1 }, { name: 'fc1' });
  const m = middle(b, h);
  b.op1('Identity', [m], {}, { name: 'head_a', outputs: ['out_a'] });
  b.op1('Identity', [m], {}, { name: 'head_b', outputs: ['out_b'] });
  b.output('out_a', 'float32', [2, 3]);
  b.output('out_b', 'float32', [2, 3]);
  return { model: b.model(13), fc1: { name: 'fc1', nodes: ['fc1'], params: ['fc1.weight'] } satisfies LayerRef };
}

function body(
  nodes: onnx.INodeProto[],
  inputs: onnx.IValueInfoProto[],
  outputs: onnx.IValueInfoProto[],
  initializer: onnx.ITensorProto[] = [],
): onnx.IGraphProto {
  return { name: 'body', node: nodes, input: inputs, output: outputs, initializer };
}

describe('rewrite refusals', () => {
  it('refuses an If whose branches read a task-specific value from the outer scope', () => {
    const { model, fc1 } = twoHeads((b, h) => {
      const cond = b.constant('cond', 'bool', [], Uint8Array.of(1));
      const [out] = b.op('If', [cond], {}, { name: 'if' });
      const node = b.graph.nodes.at(-1)!;
      const v = makeValueInfo('o', 'float32', [2, 3]);
      node.attributeProtos.push({ name: 'then_branch', type: GRAPH, g: body([{ opType: 'Identity', input: [h], output: ['o'] }], [], [v]) });
      node.attributeProtos.push({ name: 'else_branch', type: GRAPH, g: body([{ opType: 'Neg', input: [h], output: ['o'] }], [], [v]) });
      return out!;
    });
    expect(() => rewrite(model, { layers: [fc1], tasks: TASKS })).toThrow(/node "if" reads task-specific value "fc1_out" inside its subgraph/);
  });

  it('refuses a node holding a subgraph that would have to be copied per task', () => {
    const { model, fc1 } = twoHeads((b, h) => {
      const trip = b.scalar('trip', 2, 'int64');
      const [out] = b.op('Loop', [trip, '', h], {}, { name: 'loop' });
      const node = b.graph.nodes.at(-1)!;
      const g = body(
        [
          { opType: 'Identity', input: ['c_in'], output: ['c_out'] },
          { opType: 'Relu', input: ['v_in'], output: ['v_out'] },
        ],
        [makeValueInfo('i', 'int64', []), makeValueInfo('c_in', 'bool', []), makeValueInfo('v_in', 'float32', [2, 3])],
        [makeValueInfo('c_out', 'bool', []), makeValueInfo('v_out', 'float32', [2, 3])],
      );
      node.attributeProtos.push({ name: 'body', type: GRAPH, g });
      return out!;
    });
    expect(() => rewrite(model, { layers: [fc1], tasks: TASKS })).toThrow(/node "loop" holds a subgraph and would have to be copied per task/);
  });

  it('refuses a layer whose node is inside a subgraph', () => {
    const { model } = twoHeads((b, h) => {
      const cond = b.constant('cond', 'bool', [], Uint8Array.of(1));
      const [out] = b.op('If', [cond], {}, { name: 'if' });
      const node = b.graph.nodes.at(-1)!;
      const v = makeValueInfo('o', 'float32', [2, 3]);
      const w: onnx.ITensorProto = { name: 'inner.weight', dims: [3, 3], dataType: 1, floatData: Array(9).fill(0.5) };
      const inner = body([{ name: 'inner_gemm', opType: 'Gemm', input: [h, 'inner.weight'], output: ['o'] }], [], [v], [w]);
      node.attributeProtos.push({ name: 'then_branch', type: GRAPH, g: inner });
      node.attributeProtos.push({ name: 'else_branch', type: GRAPH, g: body([{ opType: 'Identity', input: [h], output: ['o'] }], [], [v]) });
      return out!;
    });
    const layer = { name: 'inner', nodes: ['inner_gemm'], params: ['inner.weight'] };
    expect(() => rewrite(model, { layers: [layer], tasks: TASKS })).toThrow(/node "inner_gemm" is inside the subgraph of node "if"/);
  });

  it('a node with a subgraph that reaches one task is rewired, not refused', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    b.initializer(
      'fc1.weight',
      'float32',
      [3, 3],
      Float32Array.from({ length: 9 }, (_, i) => i / 9),
    );
    const h = b.op1('Gemm', [x, 'fc1.weight'], { transB: 1 }, { name: 'fc1' });
    b.op1('Identity', [h], {}, { name: 'head_a', outputs: ['out_a'] });
    const trip = b.scalar('trip', 2, 'int64');
    b.op('Loop', [trip, '', h], {}, { name: 'loop', outputs: ['out_b'] });
    const g = body(
      [
        { opType: 'Identity', input: ['c_in'], output: ['c_out'] },
        { opType: 'Relu', input: ['v_in'], output: ['v_out'] },
      ],
      [makeValueInfo('i', 'int64', []), makeValueInfo('c_in', 'bool', []), makeValueInfo('v_in', 'float32', [2, 3])],
      [makeValueInfo('c_out', 'bool', []), makeValueInfo('v_out', 'float32', [2, 3])],
    );
    b.graph.nodes.at(-1)!.attributeProtos.push({ name: 'body', type: GRAPH, g });
    b.output('out_a', 'float32', [2, 3]);
    b.output('out_b', 'float32', [2, 3]);
    const model = b.model(13);
    const out = rewrite(model, { layers: [{ name: 'fc1', nodes: ['fc1'], params: ['fc1.weight'] }], tasks: TASKS }).model;
    expect(out.graph.nodes.find((n) => n.name === 'loop')!.inputs).toEqual(['trip', '', 'fc1_out__B']);
    expect((await verify(model, out)).ok).toBe(true);
  });

  it('refuses a graph output that is no task but depends on a branched layer', () => {
    const c = mlpCase(2);
    c.model.graph.outputs.push({ name: 'tanh2_out' });
    const fc1 = parameterOwners(c.model.graph).find((l) => l.name === 'fc1')!;
    expect(() => rewrite(c.model, { layers: [fc1], tasks: c.tasks })).toThrow(/feeds a graph output that is no task/);
    // Upstream of every branch it is fine.
    c.model.graph.outputs.pop();
    c.model.graph.outputs.push({ name: 'relu1_out' });
    const fc2 = parameterOwners(c.model.graph).find((l) => l.name === 'fc2')!;
    expect(rewrite(c.model, { layers: [fc2], tasks: c.tasks }).model.graph.outputNames).toEqual(['task0', 'task1', 'relu1_out']);
  });

  it('drops dead code that a branch runs into', () => {
    const c = mlpCase(2);
    const b = new GraphBuilder(c.model.graph);
    const dead = b.op1('Neg', ['relu1_out'], {}, { name: 'dead1' });
    b.op1('Exp', [dead], {}, { name: 'dead2' });
    const fc1 = parameterOwners(c.model.graph).find((l) => l.name === 'fc1')!;
    const { model, summary } = rewrite(c.model, { layers: [fc1], tasks: c.tasks });
    expect(summary.droppedNodes).toEqual(['dead1', 'dead2']);
    expect(structuralProblems(model, c.model)).toEqual([]);
  });

  describe('selection and task errors', () => {
    const c = mlpCase(2);
    const fc1 = parameterOwners(c.model.graph).find((l) => l.name === 'fc1')!;
    const cases: [string, () => unknown, RegExp][] = [
      ['empty selection', () => rewrite(c.model, { layers: [], tasks: c.tasks }), /no layers selected/],
      ['unknown node', () => rewrite(c.model, { layers: [{ ...fc1, nodes: ['nope'] }], tasks: c.tasks }), /layer "fc1": no node named "nope"/],
      ['unknown parameter', () => rewrite(c.model, { layers: [{ ...fc1, params: ['nope'] }], tasks: c.tasks }), /parameter "nope" is not an initializer/],
      [
        'parameter not read',
        () => rewrite(c.model, { layers: [{ ...fc1, params: ['fc2.weight'] }], tasks: c.tasks }),
        /"fc2.weight" is not read by any of the layer's nodes/,
      ],
      ['layer twice', () => rewrite(c.model, { layers: [fc1, fc1], tasks: c.tasks }), /layer "fc1" is selected twice/],
      [
        'node in two layers',
        () => rewrite(c.model, { layers: [fc1, { name: 'other', nodes: ['fc1'], params: [] }], tasks: c.tasks }),
        /node "fc1" belongs to layers "fc1" and "other"/,
      ],
      ['not an output', () => rewrite(c.model, { layers: [fc1], tasks: [{ name: 'a', output: 'relu1_out' }] }), /"relu1_out" is not a graph output/],
      ['duplicate task', () => rewrite(c.model, { layers: [fc1], tasks: [c.tasks[0]!, c.tasks[0]!] }), /task "t0" is listed twice/],
      ['shared output', () => rewrite(c.model, { layers: [fc1], tasks: [c.tasks[0]!, { name: 'z', output: 'task0' }] }), /both read graph output "task0"/],
      ['one task only', () => rewrite(c.model, { layers: [fc1], tasks: [c.tasks[0]!] }), /nothing to do/],
    ];
    for (const [label, run, message] of cases) {
      it(label, () => {
        expect(run).toThrow(ReconError);
        expect(run).toThrow(message);
      });
    }
  });
});
