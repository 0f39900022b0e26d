import type { TaskSpec } from '../analysis/task-spec.js';
import type { ModelAnalysis } from '../analysis/analyze.js';
import type { Model } from '../onnx/model.js';
import type { GradientStep } from './gradient-session.js';
import { cosineFromGram, normsFromGram, taskPairs } from './gram.js';
import { renderTextTable } from '../util/text-table.js';

export const GRADS_SCHEMA_VERSION = 1;

interface GramSummary {
  norm: Record<string, number>;
  cos: Record<string, number>;
}

/** `recon grads --json` document. */
export interface GradsReport {
  schemaVersion: number;
  model: string;
  batchNorm: 'train' | 'eval';
  device: string;
  batchSize: number;
  tasks: { name: string; loss: number; kind: string; weight: number }[];
  layers: ({ name: string; op: string; params: string[]; numel: number } & GramSummary)[];
  params: ({ name: string; numel: number } & GramSummary)[];
}

function summarize(gram: ArrayLike<number>, tasks: readonly TaskSpec[]): GramSummary {
  const T = tasks.length;
  const norms = normsFromGram(gram, T);
  return {
    norm: Object.fromEntries(tasks.map((t, i) => [t.name, norms[i]!])),
    cos: Object.fromEntries(taskPairs(tasks.map((t) => t.name)).map((p) => [p.key, cosineFromGram(gram, T, p.i, p.j)])),
  };
}

export function buildGradsReport(input: {
  modelPath: string;
  model: Model;
  analysis: ModelAnalysis;
  step: GradientStep;
  batchNorm: 'train' | 'eval';
  device: string;
  batchSize: number;
}): GradsReport {
  const { analysis, step, model } = input;
  const tasks = analysis.tasks;
  const params = [...new Set(analysis.sharedLayers.flatMap((l) => l.params))];
  return {
    schemaVersion: GRADS_SCHEMA_VERSION,
    model: input.modelPath,
    batchNorm: input.batchNorm,
    device: input.device,
    batchSize: input.batchSize,
    tasks: tasks.map((t) => ({ name: t.name, loss: step.losses[t.name]!, kind: t.loss, weight: t.weight })),
    layers: analysis.sharedLayers.map((l) => ({
      name: l.name,
      op: l.op,
      params: l.params,
      numel: l.numel,
      ...summarize(step.layerGrams.get(l.name)!, tasks),
    })),
    params: params.map((p) => ({ name: p, numel: model.graph.initializers.get(p)!.numel, ...summarize(step.paramGrams.get(p)!, tasks) })),
  };
}

export function formatGradsReport(r: GradsReport): string {
  const pairs = Object.keys(r.layers[0]?.cos ?? {});
  const lines = [
    `model ${r.model}  (batch ${r.batchSize}, BN ${r.batchNorm}, ${r.device})`,
    `losses: ${r.tasks.map((t) => `${t.name} ${t.loss.toPrecision(6)} (${t.kind}${t.weight !== 1 ? `×${t.weight}` : ''})`).join(', ')}`,
    '',
    ...renderTextTable(
      [
        ['layer', 'op', 'params', ...r.tasks.map((t) => `‖g_${t.name}‖`), ...pairs.map((p) => `cos ${p}`)],
        ...r.layers.map((l) => [
          l.name,
          l.op,
          l.numel.toLocaleString('en-US'),
          ...r.tasks.map((t) => l.norm[t.name]!.toExponential(3)),
          ...pairs.map((p) => l.cos[p]!.toFixed(4)),
        ]),
      ],
      { align: ['left', 'left'], indent: '  ', headerRule: true },
    ),
  ];
  return lines.join('\n');
}
