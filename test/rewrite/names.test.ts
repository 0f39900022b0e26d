import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { proto } from '../../src/onnx/proto.js';
import { collisionFreeNamer } from '../../src/rewrite/names.js';

describe('collisionFreeNamer', () => {
  it('avoids names of the graph and of its subgraphs, suffixing _1, _2, ...', () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [1]);
    b.op1('Relu', ['x'], {}, { name: 'h__A', outputs: ['h'] });
    b.op('If', ['c'], {}, { name: 'if', outputs: ['o'] });
    b.graph.nodes.at(-1)!.attributeProtos.push({
      name: 'then_branch',
      type: proto.AttributeProto.AttributeType.GRAPH,
      g: { node: [{ name: 'inner', opType: 'Identity', input: ['h'], output: ['h__B'] }], output: [{ name: 'h__B' }] },
    });
    const fresh = collisionFreeNamer(b.graph);
    expect(fresh('h__A')).toBe('h__A_1');
    expect(fresh('h__B')).toBe('h__B_1');
    expect(fresh('h__B')).toBe('h__B_2');
    expect(fresh('h__C')).toBe('h__C');
    expect(fresh('inner')).toBe('inner_1');
  });
});
