import { describe, expect, it } from 'vitest';
import { ReportFormatError, pairKeys, parseConflictReport, type ConflictReport, type CosineStats } from '../../src/report/schema.js';
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

  /** The one-line message parseConflictReport throws for `json`, without the "<source>: invalid conflict report: " prefix. */
  function problemOf(json: unknown): string {
    try {
      parseConflictReport(json, SOURCE);
    } catch (e) {
      expect(e).toBeInstanceOf(ReportFormatError);
      const message = (e as Error).message;
      expect(message).not.toContain('\n');
      return message.replace(`${SOURCE}: invalid conflict report: `, '');
    }
    throw new Error('the report was accepted');
  }

  /** A change to a valid report before it is written out as JSON. */
  type Change = (report: ConflictReport) => void;
  /** Sets a value the report's type does not allow (a string for a count, say). */
  const set =
    (path: (string | number)[], value: unknown): Change =>
    (report) =>
      setAt(report as unknown as Record<string, unknown>, path, value);

  function changed(change: Change, report: ConflictReport = validReport()): Record<string, unknown> {
    change(report);
    return asJson(report);
  }

  const stats = (report: ConflictReport, layer: number, pair = PAIR): CosineStats => report.layers[layer]!.pairs[pair]!;

  // Each case: what is wrong, the change, and the message the reader must give (written out by hand).
  // validReport() has 2 tasks, 41 layers, 2 epochs of 10 steps, S = [-0.02, 0] and a loss point per step.
  const CHECKS: [string, Change, string][] = [
    ['a single task', (r) => r.tasks.splice(1, 1), 'field "tasks" needs at least 2 tasks (got 1)'],
    ['an empty task name', (r) => (r.tasks[0]!.name = ''), 'field "tasks[0].name" must be non-empty without "|"'],
    ['no S threshold', (r) => (r.settings.S = []), 'field "settings.S" must list at least one threshold'],
    ['an S threshold below -1', (r) => (r.settings.S[0] = -1.5), 'field "settings.S[0]" must lie in [-1, 1] (got -1.5)'],
    ['an S threshold given twice', (r) => (r.settings.S = [0, 0]), 'field "settings.S[1]" duplicates 0'],
    [
      'a shard count of 0',
      (r) => (r.settings.shard = { index: 0, count: 0 }),
      'field "settings.shard" index 0 of count 0 is out of range (0-based index < count)',
    ],
    [
      'scores at other thresholds than settings.S',
      (r) => (r.layers[2]!.scores[0]!.S = 0.5),
      'field "layers[2].scores" must hold one entry per settings.S in order (-0.02, 0)',
    ],
    ['a score missing for one threshold', (r) => r.layers[2]!.scores.pop(), 'field "layers[2].scores" must hold one entry per settings.S in order (-0.02, 0)'],
    ['a pair the report does not have', (r) => (r.layers[2]!.pairs['x|y'] = stats(r, 2)), 'field "layers[2].pairs" has unknown pair "x|y"'],
    [
      'one epoch rate too few',
      (r) => r.layers[5]!.conflictRatePerEpoch.pop(),
      'field "layers[5].conflictRatePerEpoch" has 1 entries, progress.epochStepsDone has 2',
    ],
    ['two layers of one name', (r) => (r.layers[5]!.name = r.layers[4]!.name), 'field "layers[5].name" duplicates layer "layer1.0.conv2"'],
    [
      'a rank above the layer count',
      (r) => (r.layers[5]!.scores[1]!.rank = 42),
      'field "layers[5].scores[1].rank" must be a distinct rank in 1..41 at S = 0 (got 42)',
    ],
    [
      'a fine histogram that does not sum to count',
      (r) => (stats(r, 5).fineHistogram[3]! += 1),
      'field "layers[5].pairs["digit|fashion"].fineHistogram" sums to 21, not count = 20',
    ],
    [
      'a fine histogram of 199 bins',
      (r) => stats(r, 5).fineHistogram.pop(),
      'field "layers[5].pairs["digit|fashion"].fineHistogram" must hold 200 counts (got 199)',
    ],
    ['a negative std', (r) => (stats(r, 5).std = -1), 'field "layers[5].pairs["digit|fashion"].std" must be >= 0 (got -1)'],
    ['min above max', (r) => Object.assign(stats(r, 5), { min: 0.5, max: 0.25 }), 'field "layers[5].pairs["digit|fashion"].min" exceeds max (0.5 > 0.25)'],
    ['trunk observations off by one', (r) => (r.trunk.observations += 1), 'field "trunk.histogram" sums to 820, not observations = 821'],
    [
      'whole-trunk observations off by one',
      (r) => (r.trunk.wholeTrunk!.observations += 1),
      'field "trunk.wholeTrunk.histogram" sums to 20, not observations = 21',
    ],
    [
      'more loss points than allowed',
      (r) => (r.losses.steps = Array.from({ length: 2001 }, (_, i) => i)),
      'field "losses.steps" has 2001 points, at most 2000 allowed',
    ],
    ['a loss series one value short', (r) => r.losses.perTask['fashion']!.pop(), 'field "losses.perTask.fashion" has 19 values for 20 steps'],
    [
      'losses of a task the report does not have',
      (r) => (r.losses.perTask['size'] = r.losses.perTask['digit']!),
      'field "losses.perTask" has unknown task "size"',
    ],
    ['per-step rates one short', (r) => r.conflictRateSteps!.rate.pop(), 'field "conflictRateSteps.rate" must hold 20 values (one per step entry)'],
    [
      'recorded steps of two dimensions',
      set(['recordedSteps'], { file: 'a.f32', dtype: 'float32', shape: [20, 41] }),
      'field "recordedSteps.shape" must be [steps, layers, pairs]',
    ],
    [
      'recorded steps of another dtype',
      set(['recordedSteps'], { file: 'a.f32', dtype: 'float64', shape: [20, 41, 1] }),
      'field "recordedSteps.dtype" must be "float32" (got "float64")',
    ],
    ['an hour of 25', (r) => (r.createdAt = '2025-01-02T25:00Z'), 'field "createdAt" must be an ISO 8601 timestamp (got "2025-01-02T25:00Z")'],
    ['a fractional opset', (r) => (r.model.opset = 17.5), 'field "model.opset" must be an integer (got 17.5)'],
    ['a seed past 2^53', (r) => (r.settings.seed = 2 ** 60), 'field "settings.seed" must be <= 9007199254740991 (got 1152921504606847000)'],
    ['a string for a count', set(['settings', 'steps'], '10'), 'field "settings.steps" must be a non-negative integer (got "10")'],
    ['a string for a flag', set(['partial'], 'yes'), 'field "partial" must be true or false (got "yes")'],
    ['a number for a string', set(['tool', 'name'], 5), 'field "tool.name" must be a string (got 5)'],
    ['an object for a list', set(['layers'], {}), 'field "layers" must be an array (got {})'],
    ['a list for the pair record', set(['layers', 0, 'pairs'], []), 'field "layers[0].pairs" must be an object (got [])'],
    ['a string for the version', set(['schemaVersion'], '1'), 'field "schemaVersion" must be a finite number (got "1")'],
    ['an unknown optimizer', set(['settings', 'optimizer', 'name'], 'lion'), 'field "settings.optimizer.name" must be one of sgd, adam, none (got "lion")'],
  ];

  it.each(CHECKS)('rejects %s', (_name, change, expected) => {
    expect(problemOf(changed(change))).toBe(expected);
  });

  it('rejects a rank given to two layers, naming the later one', () => {
    const report = validReport();
    const rank = report.layers[5]!.scores[1]!.rank;
    report.layers[6]!.scores[1]!.rank = rank;
    expect(problemOf(asJson(report))).toBe(`field "layers[6].scores[1].rank" must be a distinct rank in 1..41 at S = 0 (got ${rank})`);
  });

  it('rejects pairs whose step counts differ, naming the pair', () => {
    const threeTasks = buildReport(makeScan({ taskCount: 3, epochs: 2, stepsPerEpoch: 10 }));
    expect(threeTasks.pairs).toEqual(['digit|fashion', 'digit|parity', 'fashion|parity']);
    const json = changed((r) => {
      const second = stats(r, 2, 'digit|parity');
      second.count += 1;
      second.histogram[0]! += 1;
      second.fineHistogram[150]! += 1;
    }, threeTasks);
    expect(problemOf(json)).toBe('field "layers[2].pairs["digit|parity"].count" differs between pairs (21 vs 20)');
  });

  it('reports a wrong kind or schema version before any other field', () => {
    const newer = changed((r) => {
      r.schemaVersion = 2;
      set(['layers'], 'not a list')(r);
      set(['tool'], undefined)(r);
    });
    expect(problemOf(newer)).toBe('field "schemaVersion" is 2, this tool reads version 1');
    const other = changed((r) => {
      set(['kind'], 'recon-ablation-table')(r);
      r.schemaVersion = 2;
      set(['tasks'], undefined)(r);
    });
    expect(problemOf(other)).toBe('field "kind" must be "recon-conflict-report" (got "recon-ablation-table")');
  });

  it('accepts a timestamp without seconds and with an offset, and recorded steps', () => {
    const json = changed((r) => {
      r.createdAt = '2025-01-02T03:04+02:00';
      r.recordedSteps = { file: 'run-1.json.cosines.f32', dtype: 'float32', shape: [20, 41, 1] };
    });
    const parsed = parseConflictReport(json, SOURCE);
    expect(parsed.createdAt).toBe('2025-01-02T03:04+02:00');
    expect(parsed.recordedSteps).toEqual({ file: 'run-1.json.cosines.f32', dtype: 'float32', shape: [20, 41, 1] });
  });

  it('drops fields it does not know, at the root and inside', () => {
    const json = changed((r) => {
      set(['comment'], 'written by hand')(r);
      set(['settings', 'optimizer', 'nesterov'], true)(r);
      set(['layers', 0, 'colour'], 'red')(r);
      set(['layers', 0, 'pairs', PAIR, 'median'], 0.1)(r);
    });
    const parsed = parseConflictReport(json, SOURCE);
    expect(Object.keys(parsed)).not.toContain('comment');
    expect(Object.keys(parsed.settings.optimizer).sort()).toEqual(['gamma', 'lr', 'milestones', 'momentum', 'name', 'weightDecay']);
    expect(Object.keys(parsed.layers[0]!).sort()).toEqual(['conflictRatePerEpoch', 'name', 'nodes', 'op', 'pairs', 'params', 'scores']);
    expect(Object.keys(stats(parsed, 0))).not.toContain('median');
    expect(parsed).toEqual(validReport());
  });

  it('rejects something that is not an object at all', () => {
    expect(() => parseConflictReport('hello', SOURCE)).toThrow(`${SOURCE}: invalid conflict report: must be an object (got "hello")`);
  });
});
