import { writeTextFileAtomic } from '../../util/atomic-write.js';
import { ReconError } from '../../util/errors.js';
import { saveModel } from '../../onnx/save.js';
import { analyzeModel, type ModelAnalysis } from '../../analysis/analyze.js';
import { chooseNamedLayers, chooseRankedLayers, readRanking, selectionRule, type LayerChoice } from '../../pipeline/choose-layers.js';
import { reconRewrite, type ReconRewriteResult } from '../../rewrite/recon.js';
import { VERSION } from '../../util/version.js';
import { verify } from '../../rewrite/verify.js';
import { branchMapping } from '../../rewrite/mapping.js';
import { checkTrainingReadiness } from '../../rewrite/training-readiness.js';
import type { TaskRef } from '../../rewrite/types.js';
import type { Model } from '../../onnx/model.js';
import { optionValue } from '../args.js';
import type { Command, CommandIO } from '../command.js';
import { checkDerivedOutput, loadModelArg, TASK_OPTIONS, tasksArg } from './common.js';
import type { ParsedArgs, PathRole } from '../args.js';

/** `-o` naming the model itself or its external data: what --force permits. */
function inPlace(output: PathRole, input: PathRole): boolean {
  return output.shown === '-o' && (input.shown === 'the model' || input.shown.startsWith('the external data of'));
}

export const rewriteCommand: Command = {
  name: 'rewrite',
  summary: 'Make chosen shared layers task-specific (Recon) and write a model that computes the same outputs.',
  usage:
    'recon rewrite model.onnx (--layers a,b | --layers @file.txt | --scores report.json [--top-k K | --max-param-increase P% | --max-flop-increase P%]) [-o out.onnx]',
  // --force: the model may be rewritten in place (its old external data is replaced after the new is written).
  allowAlias: (args, output, input) => args.flags.has('force') && inPlace(output, input),
  aliasHint: (output, input) => (inPlace(output, input) ? '(or --force to rewrite the model in place)' : undefined),
  positionals: [{ name: 'the model', kind: 'input' }],
  options: [
    ...TASK_OPTIONS,
    { name: 'layers', value: 'a,b|@file', description: 'layers to branch, by name (as recon inspect shows them)' },
    { name: 'scores', check: { kind: 'input' }, value: 'report.json', description: 'a conflict report from recon scan: rank layers by their S-conflict score' },
    { name: 'S', check: { kind: 'number', min: -1, max: 1 }, value: 's', description: "which S of the report ranks the layers (default: the report's first)" },
    { name: 'top-k', check: { kind: 'number', integer: true, min: 1 }, value: 'K', description: 'branch the K highest-scoring layers' },
    { name: 'max-param-increase', value: 'P%', description: 'greedy in score order while parameters grow by at most P%' },
    { name: 'max-flop-increase', value: 'P%', description: 'greedy in score order while multiply-accumulates grow by at most P%' },
    { name: 'output', check: { kind: 'output' }, value: 'out.onnx', description: 'output model (default: <model>.recon.onnx); -o works too' },
    { name: 'force', description: 'allow the output path to equal the input path' },
    { name: 'no-verify', description: 'skip running both models to check the outputs are equal' },
    { name: 'tolerance', check: { kind: 'number', min: 0 }, value: 't', description: 'verification tolerance, relative to max(1, max|output|) (default 1e-5)' },
    { name: 'json', check: { kind: 'output' }, value: 'file', description: 'write the rewrite summary as JSON' },
    {
      name: 'external-data-threshold',
      check: { kind: 'number', integer: true, min: 0 },
      value: 'bytes',
      description: 'store tensors of at least this size in <out>.data',
    },
  ],
  async run(args, io) {
    const { path, model } = loadModelArg(args, io, this.usage);
    const tasks = tasksArg(model, args);
    const output = optionValue(args, 'output') ?? `${path.replace(/\.onnx$/i, '')}.recon.onnx`;
    checkDerivedOutput(args, '-o', output);
    const analysis = analyzeModel(model, tasks);
    const { layers, provenance } = await chooseLayers(args, model, analysis);
    const result = await reconRewrite(model, tasks, layers, { analysis, provenance });
    if (!args.flags.has('no-verify')) {
      const tolerance = Number(optionValue(args, 'tolerance') ?? 1e-5);
      const v = await verify(model, result.model, { tolerance, outputs: tasks.map((t) => t.output) });
      if (!v.ok) {
        throw new ReconError(
          `verification failed: output "${v.worst.output}" differs by ${v.worst.maxAbsDiff.toExponential(3)} (relative ${v.worst.maxRel.toExponential(3)} > ${tolerance}); nothing written`,
        );
      }
      io.stderr(`verified: task outputs equal (worst relative difference ${v.worst.maxRel.toExponential(2)})\n`);
    }
    const threshold = optionValue(args, 'external-data-threshold');
    saveModel(result.model, output, threshold ? { externalDataThreshold: Number(threshold) } : {});
    io.stdout(formatRewrite(result, output));
    const readiness = checkTrainingReadiness(model, result.model, tasks, result.summary);
    for (const c of readiness.checks.filter((x) => x.status === 'fail')) io.stderr(`warning: not ready for onnxruntime training (${c.name}): ${c.detail}\n`);
    const json = optionValue(args, 'json');
    if (json) writeTextFileAtomic(json, `${JSON.stringify({ ...rewriteJson(result, output, model, tasks), trainingReadiness: readiness }, null, 2)}\n`);
    return 0;
  },
};

/**
 * The rewrite summary (`--json`). `branched` maps every branched layer to its PyTorch module and,
 * per task, to the initializers of that task's copy (README: Training elsewhere).
 */
export function rewriteJson(r: ReconRewriteResult, output: string, original: Model, tasks: readonly TaskRef[]): Record<string, unknown> {
  return {
    schemaVersion: 1,
    tool: { name: 'recon-onnx', version: VERSION },
    output,
    tasks: tasks.map((t) => ({ name: t.name, output: t.output })),
    layers: r.layers,
    skipped: r.skipped,
    params: { before: r.cost.paramsBefore, after: r.cost.paramsAfter, increasePct: r.cost.paramIncreasePct },
    macsPerSample: { before: r.cost.macsBefore, after: r.cost.macsAfter, increasePct: r.cost.macIncreasePct },
    nodes: { before: r.summary.nodesBefore, after: r.summary.nodesAfter, added: r.summary.nodesAfter - r.summary.nodesBefore },
    branched: branchMapping(original, tasks, r.summary),
  };
}

export function formatRewrite(r: ReconRewriteResult, output: string): string {
  const n = (v: number): string => v.toLocaleString('en-US');
  const lines = [
    `wrote ${output}`,
    `branched ${r.layers.length} layer(s): ${r.layers.join(', ')}`,
    ...r.skipped.map((s) => `skipped ${s.name}: ${s.reason}`),
    `parameters  ${n(r.cost.paramsBefore)} → ${n(r.cost.paramsAfter)} (+${r.cost.paramIncreasePct.toFixed(2)}%)`,
    `MACs/sample ${n(r.cost.macsBefore)} → ${n(r.cost.macsAfter)} (+${r.cost.macIncreasePct.toFixed(2)}%)`,
    `nodes       ${r.summary.nodesBefore} → ${r.summary.nodesAfter} (+${r.summary.nodesAfter - r.summary.nodesBefore})`,
  ];
  return `${lines.join('\n')}\n`;
}

export type { CommandIO };

/** --layers names, or --scores ranked and cut by --top-k / a budget (src/pipeline/choose-layers.ts). */
async function chooseLayers(args: ParsedArgs, model: Model, analysis: ModelAnalysis): Promise<LayerChoice> {
  const explicit = optionValue(args, 'layers');
  const scores = optionValue(args, 'scores');
  if (explicit && scores) throw new ReconError('give either --layers or --scores, not both');
  if (explicit) return chooseNamedLayers(analysis, explicit);
  if (!scores) throw new ReconError('choose layers with --layers a,b or --scores report.json --top-k K');
  const S = optionValue(args, 'S');
  const ranking = readRanking(scores, S === undefined ? undefined : Number(S));
  const rule = selectionRule({
    topK: optionValue(args, 'top-k'),
    maxParamIncrease: optionValue(args, 'max-param-increase'),
    maxFlopIncrease: optionValue(args, 'max-flop-increase'),
  });
  return chooseRankedLayers(model, analysis, ranking, rule);
}
