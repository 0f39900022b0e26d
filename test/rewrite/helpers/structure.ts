import { subgraphOuterReads } from '../../../src/onnx/graph.js';
import type { Model } from '../../../src/onnx/model.js';

/** Every structural rule a rewritten model must keep; returns the violations (empty = valid). */
export function structuralProblems(model: Model, original: Model): string[] {
  const g = model.graph;
  const problems: string[] = [];
  const nodeNames = new Set<string>();
  for (const n of g.nodes) {
    if (!n.name) continue;
    if (nodeNames.has(n.name)) problems.push(`duplicate node name ${n.name}`);
    nodeNames.add(n.name);
  }
  const defined = new Set<string>();
  for (const i of g.inputs) if (i.name) defined.add(i.name);
  for (const k of g.initializers.keys()) {
    if (g.initializers.get(k)!.name !== k) problems.push(`initializer key ${k} holds tensor ${g.initializers.get(k)!.name}`);
    defined.add(k);
  }
  for (const n of g.nodes) {
    for (const v of [...n.presentInputs, ...subgraphOuterReads(n)]) {
      if (!defined.has(v)) problems.push(`node ${n.label} reads ${v} before it is defined (or it never is)`);
    }
    for (const o of n.outputs) {
      if (!o) continue;
      if (defined.has(o)) problems.push(`value ${o} is defined twice`);
      defined.add(o);
    }
  }
  const outs = g.outputNames;
  const origOuts = original.graph.outputNames;
  if (outs.join('\u0000') !== origOuts.join('\u0000')) problems.push(`graph outputs changed: ${outs.join(',')} vs ${origOuts.join(',')}`);
  for (const o of outs) if (!defined.has(o)) problems.push(`graph output ${o} is not produced`);
  const infoNames = new Set<string>();
  for (const vi of g.valueInfo) {
    const name = vi.name ?? '';
    if (!defined.has(name)) problems.push(`value_info for unknown value ${name}`);
    if (infoNames.has(name)) problems.push(`duplicate value_info ${name}`);
    infoNames.add(name);
  }
  if (model.irVersion !== original.irVersion) problems.push(`IR version ${model.irVersion} != ${original.irVersion}`);
  if (model.opset() !== original.opset()) problems.push(`opset ${model.opset()} != ${original.opset()}`);
  return problems;
}
