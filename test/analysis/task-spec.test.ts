import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/index.js';
import { parseTaskSpec, parseTaskShorthand, resolveTasks } from '../../src/analysis/task-spec.js';

function twoOutputs() {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', ['N', 2]);
  b.output(b.op1('Relu', [x], {}, { outputs: ['T1'] }), 'float32', ['N', 2]);
  b.output(b.op1('Neg', [x], {}, { outputs: ['T2'] }), 'float32', ['N', 2]);
  b.output(b.op1('Shape', [x], {}, { outputs: ['shape'] }), 'int64', [2]);
  return b.model(17);
}

describe('task spec', () => {
  it('fills defaults: output = name, target NAME_target, weight 1, ignoreIndex -1', () => {
    expect(parseTaskSpec({ tasks: [{ name: 'seg' }] }, 's.json')).toEqual([
      { name: 'seg', output: 'seg', loss: 'cross_entropy', target: 'seg_target', weight: 1, ignoreIndex: -1 },
    ]);
  });
  it('rejects bad specs with the file and field named', () => {
    expect(() => parseTaskSpec({}, 's.json')).toThrow(/s\.json: expected \{"tasks"/);
    expect(() => parseTaskSpec({ tasks: [{ name: 'a', loss: 'hinge' }] }, 's.json')).toThrow(/s\.json: tasks\[0\]: unknown loss "hinge"/);
    expect(() => parseTaskSpec({ tasks: [{ name: 'a' }, { name: 'a' }] }, 's.json')).toThrow(/task "a" appears twice/);
    expect(() => parseTaskSpec({ tasks: [{ name: 'a', weight: 'x' }] }, 's.json')).toThrow(/"weight" must be a finite number/);
  });
  it('shorthand NAME[:LOSS]', () => {
    expect(parseTaskShorthand('depth:l1')).toMatchObject({ name: 'depth', output: 'depth', loss: 'l1', target: 'depth_target' });
  });
  it('defaults to every float output; unknown or non-float outputs are refused with the list', () => {
    const m = twoOutputs();
    expect(resolveTasks(m).map((t) => t.name)).toEqual(['T1', 'T2']);
    expect(() => resolveTasks(m, { outputs: ['T3'] })).toThrow(/no output "T3" \(outputs: T1, T2, shape\)/);
    expect(() => resolveTasks(m, { outputs: ['shape'] })).toThrow(/output "shape" is int64, not a float tensor/);
  });
  it('no float outputs', () => {
    const b = new GraphBuilder();
    b.output(b.op1('Shape', [b.input('x', 'float32', [2])]), 'int64', [1]);
    expect(() => resolveTasks(b.model(17))).toThrow(/no float outputs/);
  });
});
