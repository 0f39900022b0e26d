import { describe, expect, it } from 'vitest';
import { ReportFormatError, pairKeys, parseConflictReport, type ConflictReport } from '../../src/report/schema.js';
import { buildReport, makeScan } from './fixtures.js';

const SOURCE = 'scans/run-1.json';

function validReport(): ConflictReport {
  const report = buildReport(makeScan({ epochs: 2, stepsPerEpoch: 10, wholeTrunk: true }), { withCost: true, partialReason: 'interrupted' });
  report.settings.shard = { index: 0, count: 2 };
  return report;
}

/** The report as it would come from disk. */
function asJson(report: ConflictReport): Record<string, unknown> {
  return JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
}

function removeAt(root: Record<string, unknown>, path: (string | number)[]): void {
  let node: unknown = root;
  for (const key of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[key];
  delete (node as Record<string | number, unknown>)[path[path.length - 1]!];
}

function setAt(root: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  let node: unknown = root;
  for (const key of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[key];
  (node as Record<string | number, unknown>)[path[path.length - 1]!] = value;
}

const PAIR = 'digit|fashion';

const REQUIRED: [string, (string | number)[]][] = [
  ...['schemaVersion', 'kind', 'tool', 'createdAt', 'partial', 'model', 'tasks', 'pairs', 'settings', 'layers', 'trunk', 'losses', 'progress'].map(
    (k): [string, (string | number)[]] => [k, [k]],
  ),
  ['tool.name', ['tool', 'name']],
  ['tool.version', ['tool', 'version']],
  ['model.path', ['model', 'path']],
  ['model.opset', ['model', 'opset']],
  ...['name', 'output', 'loss', 'weight'].map((k): [string, (string | number)[]] => [`tasks[1].${k}`, ['tasks', 1, k]]),
  ...['data', 'seed', 'S', 'steps', 'epochs', 'batchSize', 'shuffle', 'optimizer', 'method', 'bn', 'device'].map((k): [string, (string | number)[]] => [
    `settings.${k}`,
    ['settings', k],
  ]),
  ...['name', 'lr', 'momentum', 'weightDecay', 'milestones', 'gamma'].map((k): [string, (string | number)[]] => [
    `settings.optimizer.${k}`,
    ['settings', 'optimizer', k],
  ]),
  ['settings.shard.index', ['settings', 'shard', 'index']],
  ['settings.shard.count', ['settings', 'shard', 'count']],
  ...['name', 'op', 'nodes', 'params', 'scores', 'pairs', 'conflictRatePerEpoch'].map((k): [string, (string | number)[]] => [
    `layers[3].${k}`,
    ['layers', 3, k],
  ]),
  ...['S', 'score', 'rank'].map((k): [string, (string | number)[]] => [`layers[3].scores[1].${k}`, ['layers', 3, 'scores', 1, k]]),
  [`layers[3].pairs["${PAIR}"]`, ['layers', 3, 'pairs', PAIR]],
  ...['count', 'mean', 'std', 'min', 'max', 'sum', 'sumSquares', 'quantiles', 'quantilesExact', 'histogram', 'fineHistogram'].map(
    (k): [string, (string | number)[]] => [`layers[3].pairs["${PAIR}"].${k}`, ['layers', 3, 'pairs', PAIR, k]],
  ),
  ...['p05', 'p25', 'p50', 'p75', 'p95'].map((k): [string, (string | number)[]] => [
    `layers[3].pairs["${PAIR}"].quantiles.${k}`,
    ['layers', 3, 'pairs', PAIR, 'quantiles', k],
  ]),
  ['trunk.histogram', ['trunk', 'histogram']],
  ['trunk.observations', ['trunk', 'observations']],
  ['trunk.wholeTrunk.histogram', ['trunk', 'wholeTrunk', 'histogram']],
  ['losses.steps', ['losses', 'steps']],
  ['losses.perTask', ['losses', 'perTask']],
  ['losses.perTask.fashion', ['losses', 'perTask', 'fashion']],
  ...['k', 'params', 'paramIncreasePct', 'macs', 'macIncreasePct', 'layers'].map((k): [string, (string | number)[]] => [`cost[4].${k}`, ['cost', 4, k]]),
  ...['stepsDone', 'totalSteps', 'epochStepsDone'].map((k): [string, (string | number)[]] => [`progress.${k}`, ['progress', k]]),
];

describe('parseConflictReport', () => {
  it('accepts a valid report and returns an equal typed copy', () => {
    const report = validReport();
    const parsed = parseConflictReport(asJson(report), SOURCE);
    expect(parsed).toEqual(report);
    expect(parsed.pairs).toEqual(pairKeys(['digit', 'fashion']));
  });

  it('accepts a report without the optional fields', () => {
    const json = asJson(validReport());
    for (const path of [['partialReason'], ['model', 'sha256'], ['cost'], ['settings', 'shard'], ['trunk', 'wholeTrunk']]) removeAt(json, path);
    const parsed = parseConflictReport(json, SOURCE);
    expect(parsed.cost).toBeUndefined();
    expect(parsed.settings.shard).toBeUndefined();
    expect(parsed.model.sha256).toBeUndefined();
  });

  it.each(REQUIRED)('names the missing field %s and the file', (field, path) => {
    const json = asJson(validReport());
    removeAt(json, path);
    let error: unknown;
    try {
      parseConflictReport(json, SOURCE);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ReportFormatError);
    const message = (error as Error).message;
    expect(message).toBe(`${SOURCE}: invalid conflict report: field "${field}" is missing`);
    expect(message).not.toContain('\n');
  });

  const INVALID: [string, (string | number)[], unknown, RegExp][] = [
    ['wrong kind', ['kind'], 'something-else', /field "kind" must be "recon-conflict-report"/],
    ['newer schema', ['schemaVersion'], 2, /field "schemaVersion" is 2, this tool reads version 1/],
    ['string for a number', ['settings', 'seed'], '7', /field "settings.seed" must be a finite number \(got "7"\)/],
    ['unknown method', ['settings', 'method'], 'graddrop', /field "settings.method" must be one of ew, pcgrad, cagrad, mgda/],
    ['bad timestamp', ['createdAt'], 'yesterday', /field "createdAt" must be an ISO 8601 timestamp/],
    ['pairs out of order', ['pairs'], ['fashion|digit'], /field "pairs" must be \["digit\|fashion"\]/],
    ['negative params', ['layers', 0, 'params'], -3, /field "layers\[0\].params" must be a non-negative integer \(got -3\)/],
    ['duplicate rank', ['layers', 1, 'scores', 0, 'rank'], 0, /field "layers\[1\].scores\[0\].rank" must be a distinct rank/],
    ['short histogram', ['layers', 2, 'pairs', PAIR, 'histogram'], [1, 2], /must hold 5 counts/],
    ['inconsistent count', ['layers', 2, 'pairs', PAIR, 'count'], 3, /field "layers\[2\].pairs\["digit\|fashion"\].histogram" sums to 20, not count = 3/],
    ['rate above 1', ['layers', 0, 'conflictRatePerEpoch', 0], 1.5, /must lie in \[0, 1\]/],
    ['trunk not pooled', ['trunk', 'histogram'], [820, 0, 0, 0, 0], /field "trunk.histogram" must equal the sum of the layers' pair histograms/],
    ['shard out of range', ['settings', 'shard', 'index'], 2, /field "settings.shard" index 2 of count 2 is out of range/],
    ['epoch steps not summing', ['progress', 'stepsDone'], 99, /field "progress.epochStepsDone" sums to 20, not stepsDone = 99/],
    ['decreasing loss steps', ['losses', 'steps', 3], 0, /field "losses.steps\[3\]" must be strictly increasing/],
    ['cost layers vs k', ['cost', 2, 'k'], 5, /field "cost\[2\].layers" lists 3 layers for k = 5/],
    ['non-object root part', ['model'], [], /field "model" must be an object \(got \[\]\)/],
  ];

  it.each(INVALID)('rejects %s with a one-line message', (_name, path, value, pattern) => {
    const json = asJson(validReport());
    setAt(json, path, value);
    expect(() => parseConflictReport(json, SOURCE)).toThrow(pattern);
    try {
      parseConflictReport(json, SOURCE);
    } catch (e) {
      expect((e as Error).message.startsWith(`${SOURCE}: `)).toBe(true);
      expect((e as Error).message).not.toContain('\n');
    }
  });

  it('rejects duplicate task names and names containing the pair separator', () => {
    const json = asJson(validReport());
    setAt(json, ['tasks', 1, 'name'], 'digit');
    expect(() => parseConflictReport(json, SOURCE)).toThrow(/field "tasks\[1\].name" duplicates task "digit"/);
    setAt(json, ['tasks', 1, 'name'], 'a|b');
    expect(() => parseConflictReport(json, SOURCE)).toThrow(/must be non-empty without "\|"/);
  });

  it('rejects something that is not an object at all', () => {
    expect(() => parseConflictReport('hello', SOURCE)).toThrow(`${SOURCE}: invalid conflict report: must be an object (got "hello")`);
  });
});
