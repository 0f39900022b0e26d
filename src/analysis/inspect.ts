import { renderTextTable } from '../util/text-table.js';
import type { Model } from '../onnx/model.js';
import type { ModelAnalysis } from './analyze.js';
import type { ShapeInfo } from './shapes.js';

export const INSPECT_SCHEMA_VERSION = 1;

/** `recon inspect --json` document (schema version 1, documented in the README). */
export interface InspectReport {
  schemaVersion: number;
  model: string;
  opset: number;
  irVersion: number;
  producer: string;
  tasks: { name: string; output: string }[];
  layers: {
    name: string;
    op: string;
    nodes: string[];
    params: { name: string; shape: number[]; numel: number }[];
    numel: number;
    tasks: string[];
    shared: boolean;
    outputShape?: number[];
  }[];
  sharedInitializers: { name: string; layers: string[] }[];
  /** Float initializers that reach a task but are not trained, with the reason. */
  frozen: { name: string; numel: number; kind: string; reason: string }[];
  totals: { params: number; shared: number; taskSpecific: Record<string, number>; sharedLayers: number; layers: number };
}

export function buildInspectReport(modelPath: string, model: Model, analysis: ModelAnalysis, shapes?: ShapeInfo): InspectReport {
  const g = model.graph;
  const taskNames = analysis.tasks.map((t) => t.name);
  let total = 0;
  let shared = 0;
  const perTask: Record<string, number> = Object.fromEntries(taskNames.map((t) => [t, 0]));
  for (const [p, tasks] of analysis.paramTasks) {
    const n = g.initializers.get(p)!.numel;
    total += n;
    if (tasks.length >= 2) shared += n;
    else if (tasks.length === 1) perTask[taskNames[tasks[0]!]!]! += n;
  }
  return {
    schemaVersion: INSPECT_SCHEMA_VERSION,
    model: modelPath,
    opset: model.opset(''),
    irVersion: model.irVersion,
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    tasks: analysis.tasks.map((t) => ({ name: t.name, output: t.output })),
    layers: analysis.layers.map((l) => {
      const out = l.nodes[l.nodes.length - 1]!.outputs[0];
      const outShape = out ? shapes?.values.get(out)?.dims : undefined;
      return {
        name: l.name,
        op: l.op,
        nodes: l.nodes.map((n) => n.label),
        params: l.params.map((p) => {
          const t = g.initializers.get(p)!;
          return { name: p, shape: t.dims.slice(), numel: t.numel };
        }),
        numel: l.numel,
        tasks: l.tasks.map((t) => taskNames[t]!),
        shared: l.shared,
        ...(outShape ? { outputShape: outShape } : {}),
      };
    }),
    sharedInitializers: analysis.sharedInitializers,
    frozen: analysis.frozen.map((f) => ({ ...f })),
    totals: {
      params: total,
      shared,
      taskSpecific: perTask,
      sharedLayers: analysis.sharedLayers.length,
      layers: analysis.layers.length,
    },
  };
}

/** Human-readable rendering of an inspect report. */
export function formatInspectReport(r: InspectReport): string {
  const lines: string[] = [];
  const fmt = (n: number): string => n.toLocaleString('en-US');
  lines.push(`model    ${r.model}`);
  lines.push(`opset    ${r.opset} (IR ${r.irVersion})${r.producer ? `, produced by ${r.producer}` : ''}`);
  lines.push(`tasks    ${r.tasks.map((t) => (t.name === t.output ? t.name : `${t.name} (output ${t.output})`)).join(', ')}`);
  lines.push('');
  const shared = r.layers.filter((l) => l.shared);
  lines.push(`Shared layers (${shared.length}), in network order:`);
  lines.push(
    table(
      ['#', 'layer', 'op', 'parameters', 'count', 'output', 'tasks'],
      shared.map((l, i) => [
        String(i + 1),
        l.name,
        l.op,
        l.params.map((p) => `[${p.shape.join('×')}]`).join(' + '),
        fmt(l.numel),
        l.outputShape ? `[${l.outputShape.join('×')}]` : '',
        l.tasks.join(','),
      ]),
      [false, false, false, false, true, false, false],
    ),
  );
  for (const t of r.tasks) {
    const own = r.layers.filter((l) => !l.shared && l.tasks.length === 1 && l.tasks[0] === t.name);
    lines.push('');
    lines.push(`Task-specific layers of ${t.name} (${own.length}):`);
    if (own.length === 0) lines.push('  (none)');
    else {
      lines.push(
        table(
          ['layer', 'op', 'parameters', 'count'],
          own.map((l) => [l.name, l.op, l.params.map((p) => `[${p.shape.join('×')}]`).join(' + '), fmt(l.numel)]),
          [false, false, false, true],
        ),
      );
    }
  }
  if (r.sharedInitializers.length > 0) {
    lines.push('');
    lines.push('Initializers used by several layers:');
    for (const s of r.sharedInitializers) lines.push(`  ${s.name}: ${s.layers.join(', ')}`);
  }
  const constants = r.frozen.filter((f) => f.kind !== 'non-differentiable');
  const state = r.frozen.length - constants.length;
  if (r.frozen.length > 0) {
    lines.push('');
    lines.push(
      `Not trained: ${fmt(r.frozen.reduce((n, f) => n + f.numel, 0))} values in ${r.frozen.length} initializers${state > 0 ? ` (${state} reach the tasks only through inputs without gradient, e.g. BN running statistics)` : ''}`,
    );
    for (const f of constants) lines.push(`  ${f.name} (${fmt(f.numel)}): ${f.reason}`);
  }
  lines.push('');
  const pct = (n: number): string => (r.totals.params > 0 ? ` (${((100 * n) / r.totals.params).toFixed(2)}%)` : '');
  lines.push(`Parameters: ${fmt(r.totals.params)} total, ${fmt(r.totals.shared)} shared${pct(r.totals.shared)} in ${r.totals.sharedLayers} layers`);
  for (const [t, n] of Object.entries(r.totals.taskSpecific)) lines.push(`  ${t}: ${fmt(n)} task-specific`);
  return lines.join('\n');
}

function table(header: string[], rows: string[][], rightAlign: boolean[]): string {
  return renderTextTable([header, ...rows], { align: rightAlign.map((r) => (r ? 'right' : 'left')), indent: '  ', headerRule: true }).join('\n');
}
