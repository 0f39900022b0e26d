import type { Model } from '../onnx/model.js';
import type { Graph } from '../onnx/graph.js';
import type { Node } from '../onnx/node.js';
import { subgraphOuterReads } from '../onnx/graph.js';
import { ReconError } from '../util/errors.js';
import { cloneModel } from '../autodiff/gradient-graph.js';

/** One node a form conversion changed, for the user to read. */
export interface FormChange {
  node: string;
  op: string;
  change: string;
}

export interface ModelForm {
  model: Model;
  changes: FormChange[];
}

function isStandard(n: Node): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}

/** BatchNormalization that computes batch statistics: `training_mode=1` (opset ≥ 14), or extra outputs (opset 9–13). */
export function isTrainingBatchNorm(n: Node): boolean {
  return n.opType === 'BatchNormalization' && isStandard(n) && (n.attrs.int('training_mode', 0) === 1 || n.outputs.slice(1).some((o) => o !== ''));
}

/**
 * The model as it runs for inference: every BatchNormalization uses its running statistics
 * (`training_mode` removed, only output Y), and every Dropout is gone (its readers read its
 * input; a Dropout whose output is a graph output or is read inside a subgraph becomes an
 * Identity). Nodes and initializers that only fed the removed parts (Dropout's ratio and
 * training_mode) are removed with them; nothing else changes. The input is not modified.
 */
export function inferenceForm(source: Model): ModelForm {
  const model = cloneModel(source);
  const g = model.graph;
  const liveBefore = g.liveNodes();
  const usedBefore = valuesRead(g, liveBefore);
  const changes: FormChange[] = [];
  const graphOutputs = new Set(g.outputNames);
  const readers = readersOf(g);
  const readInSubgraph = new Set(g.nodes.flatMap((n) => subgraphOuterReads(n)));
  const refuseIfRead = (n: Node, values: readonly string[], what: string): void => {
    for (const v of values) {
      if (!v) continue;
      const by = readers.get(v)?.[0];
      if (graphOutputs.has(v) || by || readInSubgraph.has(v)) {
        throw new ReconError(
          `${n.opType} "${n.label}": its ${what} output "${v}" is ${graphOutputs.has(v) ? 'a graph output' : `read by "${by?.label ?? 'a subgraph'}"`}; an inference form cannot keep it`,
        );
      }
    }
  };
  const rename = new Map<string, string>();
  const removed = new Set<Node>();
  for (const n of g.nodes) {
    if (!isStandard(n)) continue;
    if (n.opType === 'BatchNormalization') {
      const training = isTrainingBatchNorm(n);
      // Opset ≤ 6 marks inference with is_test=1.
      const legacyTraining = n.attrs.has('is_test') && n.attrs.int('is_test', 0) === 0;
      if (!training && !legacyTraining) continue;
      refuseIfRead(n, n.outputs.slice(1), 'running-statistics');
      n.removeAttr('training_mode');
      if (legacyTraining) n.setAttr('is_test', { kind: 'int', value: 1 });
      n.outputs = n.outputs.slice(0, 1);
      changes.push({ node: n.label, op: n.opType, change: 'running statistics instead of batch statistics' });
    } else if (n.opType === 'Dropout') {
      refuseIfRead(n, n.outputs.slice(1), 'mask');
      const [x] = n.inputs;
      const [y] = n.outputs;
      if (!x || !y) continue;
      if (graphOutputs.has(y) || readInSubgraph.has(y)) {
        n.opType = 'Identity';
        n.attributeProtos = [];
        n.inputs = [x];
        n.outputs = [y];
        changes.push({ node: n.label, op: 'Dropout', change: 'replaced by Identity (its output is a graph output)' });
      } else {
        rename.set(y, x);
        removed.add(n);
        changes.push({ node: n.label, op: 'Dropout', change: 'removed' });
      }
    }
  }
  if (removed.size > 0) {
    // A Dropout reading another removed Dropout's output: follow the chain to the first input.
    const resolve = (v: string): string => {
      let r = v;
      while (rename.has(r)) r = rename.get(r)!;
      return r;
    };
    g.nodes = g.nodes.filter((n) => !removed.has(n));
    for (const n of g.nodes) n.inputs = n.inputs.map((v) => (v ? resolve(v) : v));
  }
  dropNewlyDead(g, liveBefore, usedBefore);
  return { model, changes };
}

/**
 * The model as it trains: every BatchNormalization in training mode (batch statistics, as
 * `recon train --bn train` trained it), converted where it came in inference form — opset ≥ 14:
 * `training_mode=1` with the updated running statistics as outputs 2 and 3; opset 9–13: the
 * five-output form. Dropout nodes are kept as given. The input is not modified.
 */
export function trainingForm(source: Model): ModelForm {
  const model = cloneModel(source);
  const g = model.graph;
  const opset = model.opset('');
  const fresh = g.namer();
  const changes: FormChange[] = [];
  for (const n of g.nodes) {
    if (n.opType !== 'BatchNormalization' || !isStandard(n) || isTrainingBatchNorm(n)) continue;
    const y = n.outputs[0] || n.label;
    if (opset >= 14) {
      n.setAttr('training_mode', { kind: 'int', value: 1 });
      n.outputs = [n.outputs[0]!, fresh(`${y}_running_mean`), fresh(`${y}_running_var`)];
    } else if (opset >= 9) {
      n.outputs = [n.outputs[0]!, fresh(`${y}_running_mean`), fresh(`${y}_running_var`), fresh(`${y}_saved_mean`), fresh(`${y}_saved_var`)];
    } else {
      throw new ReconError(`BatchNormalization "${n.label}": opset ${opset} has no training form this tool writes (opset 9 or later)`);
    }
    changes.push({ node: n.label, op: n.opType, change: 'batch statistics instead of running statistics (training mode)' });
  }
  return { model, changes };
}

function readersOf(g: Graph): Map<string, Node[]> {
  const m = new Map<string, Node[]>();
  for (const n of g.nodes) {
    for (const v of n.inputs) {
      if (!v) continue;
      let list = m.get(v);
      if (!list) m.set(v, (list = []));
      list.push(n);
    }
  }
  return m;
}

/** Values the given nodes or the graph outputs read. */
function valuesRead(g: Graph, nodes: Iterable<Node>): Set<string> {
  const used = new Set<string>(g.outputNames);
  for (const n of nodes) for (const v of [...n.inputs, ...subgraphOuterReads(n)]) if (v) used.add(v);
  return used;
}

/**
 * Removes the nodes that were live before the conversion and are not now (they only fed what was
 * removed), and initializers no node or output reads any more. Nodes dead in the input stay.
 */
function dropNewlyDead(g: Graph, liveBefore: ReadonlySet<Node>, usedBefore: ReadonlySet<string>): void {
  const live = g.liveNodes();
  g.nodes = g.nodes.filter((n) => live.has(n) || !liveBefore.has(n));
  const used = new Set<string>(g.outputNames);
  for (const n of g.nodes) for (const v of [...n.inputs, ...subgraphOuterReads(n)]) if (v) used.add(v);
  const inputs = new Set(g.inputNames);
  for (const name of [...g.initializers.keys()]) {
    if (usedBefore.has(name) && !used.has(name) && !inputs.has(name)) g.initializers.delete(name);
  }
}
