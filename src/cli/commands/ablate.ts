import { makeDirectory } from '../../util/make-directory.js';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ReconError } from '../../util/errors.js';
import { loadDataset } from '../../data/dataset.js';
import { runScan } from '../../conflict/scan.js';
import { readConflictReport } from '../../report/io.js';
import { CONTROL_KINDS, type AblationBudget, type ControlKind } from '../../ablate/selections.js';
import { runAblation } from '../../ablate/run.js';
import { renderAblationText } from '../../ablate/table.js';
import { listOption, optionValue, type ParsedArgs } from '../args.js';
import type { Command } from '../command.js';
import { formatDuration } from '../progress.js';
import { modelTasksAndData, RUNTIME_OPTIONS, TASK_OPTIONS } from './common.js';
import { DEFAULT_S, runWithInterrupts, SCAN_OPTIONS, scanConfig } from './scan.js';

export const ablateCommand: Command = {
  name: 'ablate',
  summary:
    "Recon's controls (Tables 7, 11) and sweeps (Fig. 3): train joint, Recon's selection, random/first/last layers from scratch with the same seeds; table of cost, metrics, Δm% and remaining conflicts.",
  usage:
    'recon ablate model.onnx --tasks spec.json --scores report.json --data train.npz --eval test.npz (--top-k K | --k K1,K2 | --param-budget N|P%) [--S s1,s2] [--controls rsl,rsp,first,last] [--seeds 0,1,2] -o out/',
  positionals: [{ name: 'the model', kind: 'input' }],
  options: [
    ...TASK_OPTIONS,
    ...SCAN_OPTIONS.filter((o) => o.name !== 'seed'),
    { name: 'scores', check: { kind: 'input' }, value: 'report.json', description: 'the conflict report (recon scan) whose scores choose the layers' },
    { name: 'eval', check: { kind: 'input' }, value: 'test.npz', description: 'test data for the per-task metrics (required)' },
    { name: 'top-k', check: { kind: 'number', integer: true, min: 1 }, value: 'K', description: "Recon's K highest-scoring layers; controls branch K layers" },
    { name: 'k', check: { kind: 'numbers', integer: true, min: 1 }, value: 'K1,K2', description: 'several K (the sweep of Fig. 3); every K is a row group' },
    {
      name: 'param-budget',
      value: 'N|P%',
      description: 'instead of K: layers whose copies add at most N parameters (or P% of the model); controls take as many layers',
    },
    {
      name: 'S',
      check: { kind: 'numbers', min: -1, max: 1 },
      value: 's1,s2',
      description: "S values whose rankings choose Recon's layers (default: the report's first)",
    },
    { name: 'controls', value: 'list', description: `controls to train (default all): ${CONTROL_KINDS.join(', ')}` },
    {
      name: 'seeds',
      check: { kind: 'numbers', integer: true, min: 0, max: 4294967295 },
      value: 'n1,n2',
      description: 'training seeds; every variant trains once per seed (default 0)',
    },
    {
      name: 'selection-seed',
      check: { kind: 'number', integer: true, min: 0, max: 4294967295 },
      value: 'n',
      description: "seed of the random controls' draws, the same for every training seed (default 0)",
    },
    { name: 'save-models', description: 'also write every trained model to <out>/models/' },
    { name: 'output', check: { kind: 'output-dir' }, value: 'dir', description: 'output folder: ablation.json, ablation.csv, runs/ (-o works too)' },
    ...RUNTIME_OPTIONS,
  ],
  lockedOutput: (args) => optionValue(args, 'output'),
  async run(args, io) {
    // Options first: a typo should not cost a model load.
    const out = optionValue(args, 'output');
    if (!out) throw new ReconError('-o out/ is required');
    if (existsSync(out) && !statSync(out).isDirectory()) throw new ReconError(`-o ${out} is a file; give a folder`);
    const scoresPath = optionValue(args, 'scores');
    if (!scoresPath) throw new ReconError('--scores report.json is required (a conflict report from recon scan)');
    const evalPath = optionValue(args, 'eval');
    if (!evalPath) throw new ReconError('--eval test.npz is required: the variants are compared on test metrics');
    const seeds = integerList(args, 'seeds', [0], 0);
    const selectionSeed = integerList(args, 'selection-seed', [0], 0);
    if (selectionSeed.length !== 1) throw new ReconError('--selection-seed takes one value');
    const controls = controlList(args);
    const S = listOption(args, 'S').map((s) => {
      const v = Number(s);
      if (!Number.isFinite(v)) throw new ReconError(`--S values must be numbers, got "${s}"`);
      return v;
    });
    const budgets = budgetArgs(args);

    const { path, model, tasks, dataPath } = modelTasksAndData(args, io, this.usage);
    const outputs = ['ablation.json', 'ablation.csv', 'selections.json'].map((f) => resolve(join(out, f)));
    for (const input of [path, scoresPath, dataPath, evalPath]) {
      if (outputs.includes(resolve(input))) throw new ReconError(`${input} is an input and would be overwritten by the ablation's outputs; choose another -o`);
    }
    const report = readConflictReport(scoresPath);
    const training = { ...scanConfig(args, path, dataPath, io), S: DEFAULT_S };
    const train = loadDataset(dataPath);
    const evalData = loadDataset(evalPath);
    makeDirectory(out);

    const table = await runAblation(
      {
        model,
        modelPath: path,
        tasks,
        report,
        reportPath: scoresPath,
        train,
        evalData,
        budgets,
        S,
        controls,
        seeds,
        selectionSeed: selectionSeed[0]!,
        training,
        outDir: out,
        saveModels: args.flags.has('save-models'),
      },
      {
        log: (m) => io.stderr(`${m}\n`),
        warn: (m) => io.stderr(`warning: ${m}\n`),
        onRunStart: (info) => {
          if (info.reused) return;
          const eta = info.etaSeconds === null ? 'ETA after the first run' : `ETA ${formatDuration(info.etaSeconds)} for the runs left`;
          io.stderr(`[${info.index}/${info.total}] ${info.variant} seed ${info.seed} (${eta})\n`);
        },
        train: (m, t, data, config, label) => runWithInterrupts(io, (hooks) => runScan(m, t, data, config, hooks), undefined, 0, label),
      },
    );
    io.stdout(`${renderAblationText(table)}\n\noutputs in ${out}: ablation.json, ablation.csv, selections.json, runs/\n`);
    return 0;
  },
};

function integerList(args: ParsedArgs, name: string, fallback: number[], min: number): number[] {
  const items = listOption(args, name);
  if (items.length === 0) return fallback;
  return items.map((s) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v < min) throw new ReconError(`--${name} takes integers >= ${min}, got "${s}"`);
    return v;
  });
}

function controlList(args: ParsedArgs): ControlKind[] {
  if (!args.options.has('controls')) return [...CONTROL_KINDS];
  const items = listOption(args, 'controls');
  for (const c of items) {
    if (!(CONTROL_KINDS as readonly string[]).includes(c)) throw new ReconError(`--controls takes ${CONTROL_KINDS.join(', ')}; got "${c}"`);
  }
  if (new Set(items).size !== items.length) throw new ReconError(`--controls lists a control twice: ${items.join(',')}`);
  return items as ControlKind[];
}

function budgetArgs(args: ParsedArgs): AblationBudget[] {
  const given = ['top-k', 'k', 'param-budget'].filter((n) => args.options.has(n));
  if (given.length !== 1) throw new ReconError('give exactly one of --top-k K, --k K1,K2, --param-budget N|P%');
  const name = given[0]!;
  if (name !== 'param-budget') {
    const ks = integerList(args, name, [], 1);
    if (ks.length === 0) throw new ReconError(`--${name} needs a value`);
    if (name === 'top-k' && ks.length > 1) throw new ReconError('--top-k takes one K; use --k K1,K2 for a sweep');
    if (new Set(ks).size !== ks.length) throw new ReconError(`--${name} lists a K twice`);
    return ks.map((k) => ({ kind: 'top-k', k }));
  }
  const budgets = listOption(args, 'param-budget').map((text): AblationBudget => {
    const percent = text.endsWith('%');
    const amount = Number(percent ? text.slice(0, -1) : text);
    if (!Number.isFinite(amount) || amount <= 0) throw new ReconError(`--param-budget takes positive parameter counts or percentages like 5%, got "${text}"`);
    return { kind: 'params', amount, unit: percent ? 'percent' : 'params' };
  });
  if (budgets.length === 0) throw new ReconError('--param-budget needs a value');
  return budgets;
}
