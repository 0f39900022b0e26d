/**
 * The conflict report written by the scan command and read by every renderer, declared once as a
 * zod schema. The TypeScript types, the validator for reports loaded from disk and the published
 * JSON Schema (docs/report.schema.json, from conflictReportJsonSchema) all follow from it; field
 * documentation lives in `.describe()`, so it reaches the JSON Schema too.
 */
import { z } from 'zod';
import { ReconError } from '../util/errors.js';
import { FINE_BIN_COUNT, PAPER_BIN_COUNT } from './bins.js';

export const REPORT_SCHEMA_VERSION = 1;
export const REPORT_KIND = 'recon-conflict-report';
/** Loss curves are downsampled to at most this many points. */
export const MAX_LOSS_POINTS = 2000;
/** Separates the two task names in a pair key ("T1|T2"); task names may not contain it. */
export const PAIR_SEPARATOR = '|';

/** "T1|T2" keys of all task pairs i<j, in task order (the order Recon uses). */
export function pairKeys(taskNames: readonly string[]): string[] {
  const keys: string[] = [];
  for (let i = 0; i < taskNames.length; i++) {
    for (let j = i + 1; j < taskNames.length; j++) keys.push(`${taskNames[i]}${PAIR_SEPARATOR}${taskNames[j]}`);
  }
  return keys;
}

// ---- error wording -----------------------------------------------------------------------------
// Zod words its issues for developers ("Invalid input: expected number, received string"); a report
// error is read by a user, as one line naming the field. Each schema below that needs its own
// wording says so with `expecting`; readableDetail words the rest, and "is missing" for every field.

type ErrorMap = z.core.$ZodErrorMap;

/** Words every failure of one schema as "<expectation> (got <value>)"; a missing value falls through to "is missing". */
function expecting(expectation: string): ErrorMap {
  return (issue) => (issue.input === undefined ? undefined : `${expectation} (got ${describe(issue.input)})`);
}

/** Words a failed length check of an array, e.g. "must hold 5 counts (got 2)". */
function lengthWording(wording: (length: number) => string): ErrorMap {
  return (issue) => (Array.isArray(issue.input) ? wording(issue.input.length) : undefined);
}

const TYPE_WORDING: Readonly<Record<string, string>> = {
  object: 'must be an object',
  record: 'must be an object',
  array: 'must be an array',
  tuple: 'must be an array',
  string: 'must be a string',
  boolean: 'must be true or false',
  number: 'must be a finite number',
  int: 'must be an integer',
};

/** The wording of the issues no schema words itself (the parse-wide error map). */
const readableDetail: ErrorMap = (issue) => {
  // Whatever a field should have been (a number, one of some names), absent it is missing.
  if (issue.input === undefined) return 'is missing';
  const got = `(got ${describe(issue.input)})`;
  switch (issue.code) {
    case 'invalid_type':
      return `${TYPE_WORDING[issue.expected] ?? `must be of type ${issue.expected}`} ${got}`;
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${describe(issue.values[0])} ${got}` : `must be one of ${issue.values.join(', ')} ${got}`;
    case 'too_small':
      return issue.origin === 'array' ? `must hold at least ${issue.minimum} entries ${got}` : `must be >= ${issue.minimum} ${got}`;
    case 'too_big':
      return issue.origin === 'array' ? `must hold at most ${issue.maximum} entries ${got}` : `must be <= ${issue.maximum} ${got}`;
    default:
      return undefined; // zod's own one-line message
  }
};

// ---- field kinds -------------------------------------------------------------------------------

/** Zod's number refuses NaN and ±Infinity. */
const finite = z.number();
/** Zod's int is a safe integer (|n| <= 2^53 - 1): the integers a JSON number holds exactly. */
const integer = z.int();
const count = z.int({ error: expecting('must be a non-negative integer') }).min(0);
const inUnitInterval = expecting('must lie in [0, 1]');
const fraction = z.number().min(0, { error: inUnitInterval }).max(1, { error: inUnitInterval });
const counts = (length: number) => z.array(count).length(length, { error: lengthWording((got) => `must hold ${length} counts (got ${got})`) });
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const timestamp = z
  .string()
  .regex(ISO_TIMESTAMP, { error: expecting('must be an ISO 8601 timestamp') })
  // The pattern admits impossible times such as 25:00; Date.parse does not.
  .refine((text) => !Number.isNaN(Date.parse(text)), { error: expecting('must be an ISO 8601 timestamp') });

/** Reports a failed check of a refinement at `path`, relative to the value being refined. */
function addIssueAt(ctx: z.core.$RefinementCtx, path: (string | number)[], message: string): void {
  ctx.addIssue({ code: 'custom', path, message });
}

// ---- the report ----------------------------------------------------------------------------------

const kindSchema = z.literal(REPORT_KIND);
// An integer refined to this version rather than z.literal: ConflictReport keeps `schemaVersion:
// number`, and a report of another version is worded "is 2, this tool reads version 1".
const schemaVersionSchema = integer
  // `: boolean`, not an inferred type predicate, which would narrow the type to the literal.
  .refine((version): boolean => version === REPORT_SCHEMA_VERSION, {
    error: (issue) => `is ${describe(issue.input)}, this tool reads version ${REPORT_SCHEMA_VERSION}`,
  })
  .meta({ const: REPORT_SCHEMA_VERSION });

const toolInfoSchema = z.object({ name: z.string(), version: z.string() });

const modelInfoSchema = z.object({
  path: z.string(),
  opset: integer,
  sha256: z.string().optional(),
});

/** Non-empty, without PAIR_SEPARATOR. */
const TASK_NAME = /^[^|]+$/;

const taskInfoSchema = z.object({
  name: z
    .string()
    .regex(TASK_NAME, { error: `must be non-empty without "${PAIR_SEPARATOR}"` })
    .describe(`Unique; "${PAIR_SEPARATOR}" separates the names in a pair key.`),
  output: z.string().describe('Graph output the task reads.'),
  loss: z.string().describe('Loss name, e.g. "cross-entropy".'),
  weight: finite,
});

const optimizerNameSchema = z.enum(['sgd', 'adam', 'none']);
const searchMethodSchema = z
  .enum([
    'ew',
    'pcgrad',
    'cagrad',
    'mgda',
    'uw',
    'dwa',
    'rlw',
    'gls',
    'famo',
    'gradnorm',
    'imtl-g',
    'nash-mtl',
    'aligned-mtl',
    'upgrad',
    'dualproj',
    'gradvac',
    'fairgrad',
  ])
  .describe('Combination method of the training scan (src/conflict/method-registry.ts).');
const batchNormModeSchema = z.enum(['train', 'eval']);

const optimizerSettingsSchema = z.object({
  name: optimizerNameSchema,
  lr: finite,
  momentum: finite,
  weightDecay: finite,
  milestones: z.array(count).describe('Epochs at which the learning rate is multiplied by gamma.'),
  gamma: finite,
});

const shardInfoSchema = z
  .object({ index: count, count: count })
  .superRefine((shard, ctx) => {
    if (shard.count < 1 || shard.index >= shard.count) {
      addIssueAt(ctx, [], `index ${shard.index} of count ${shard.count} is out of range (0-based index < count)`);
    }
  })
  .describe('A static scan split over machines: this report covers shard `index` (0-based) of `count`.');

const inCosineRange = expecting('must lie in [-1, 1]');
const thresholdsSchema = z
  .array(z.number().min(-1, { error: inCosineRange }).max(1, { error: inCosineRange }))
  .min(1, { error: 'must list at least one threshold' })
  .superRefine((S, ctx) => {
    S.forEach((s, i) => {
      if (S.indexOf(s) !== i) addIssueAt(ctx, [i], `duplicates ${s}`);
    });
  })
  .meta({
    description: 'S thresholds of the S-conflict score, each in [-1, 1] and distinct (the paper uses -1 < S <= 0).',
    // What the duplicate check above means in JSON Schema terms (zod cannot derive it from a refinement).
    uniqueItems: true,
  });

const scanSettingsSchema = z.object({
  data: z.string().describe('Data set description or path.'),
  seed: integer,
  S: thresholdsSchema,
  steps: count.describe('Step limit as configured on the command line (the planned total is progress.totalSteps).'),
  epochs: count,
  batchSize: count,
  shuffle: z.boolean(),
  optimizer: optimizerSettingsSchema,
  method: searchMethodSchema,
  bn: batchNormModeSchema,
  device: z.string(),
  shard: shardInfoSchema.optional(),
});

const cosineQuantilesSchema = z.object({ p05: finite, p25: finite, p50: finite, p75: finite, p95: finite });

const cosineStatsSchema = z
  .object({
    count: count,
    mean: finite,
    std: finite.min(0, { error: expecting('must be >= 0') }),
    min: finite,
    max: finite,
    sum: finite,
    sumSquares: finite,
    quantiles: cosineQuantilesSchema,
    quantilesExact: z.boolean().describe('True when the quantiles are exact order statistics, false when read off fineHistogram (error <= 0.01).'),
    histogram: counts(PAPER_BIN_COUNT).describe(`Counts in the ${PAPER_BIN_COUNT} paper bins (bins.ts).`),
    fineHistogram: counts(FINE_BIN_COUNT).describe(`Counts in ${FINE_BIN_COUNT} equal bins over [-1, 1] (bins.ts).`),
  })
  .superRefine((stats, ctx) => {
    for (const field of ['histogram', 'fineHistogram'] as const) {
      const total = sum(stats[field]);
      if (total !== stats.count) addIssueAt(ctx, [field], `sums to ${total}, not count = ${stats.count}`);
    }
    if (stats.count > 0 && stats.min > stats.max) addIssueAt(ctx, ['min'], `exceeds max (${stats.min} > ${stats.max})`);
  })
  .describe(
    'Summary of a set of cosines. count, sum, sumSquares, histograms, min and max merge exactly; mean and std (population, divisor n) follow from them. With count = 0 every number is 0.',
  );

const layerScoreSchema = z.object({
  S: finite,
  score: count.describe('Number of (step, pair) cosines < S, summed over the scan.'),
  rank: count.describe('1 = most conflicting at this S; ties keep network order.'),
});

const layerConflictSchema = z
  .object({
    name: z.string(),
    op: z.string(),
    nodes: z.array(z.string()).describe("ONNX nodes that own this layer's parameters."),
    params: count,
    scores: z.array(layerScoreSchema).describe('One entry per settings.S, in that order.'),
    pairs: z.record(z.string(), cosineStatsSchema).describe("Cosine statistics per pair key of the report's pairs."),
    conflictRatePerEpoch: z.array(fraction).describe('Fraction of (step, pair) cosines < 0 in each epoch; epochs with no step give 0.'),
  })
  .describe('One rankable shared layer (a parameter owner: Conv W+B, BN scale+bias, Gemm W+C).');

const layersSchema = z
  .array(layerConflictSchema)
  .superRefine((layers, ctx) => {
    layers.forEach((layer, i) => {
      if (layers.findIndex((other) => other.name === layer.name) !== i) addIssueAt(ctx, [i, 'name'], `duplicates layer "${layer.name}"`);
    });
  })
  .describe('Shared layers in network order.');

const occurrenceShape = {
  histogram: counts(PAPER_BIN_COUNT).describe(`Counts in the ${PAPER_BIN_COUNT} paper bins.`),
  observations: count,
};

function checkObservations(occurrence: { histogram: number[]; observations: number }, ctx: z.core.$RefinementCtx): void {
  const total = sum(occurrence.histogram);
  if (total !== occurrence.observations) addIssueAt(ctx, ['histogram'], `sums to ${total}, not observations = ${occurrence.observations}`);
}

const occurrenceHistogramSchema = z.object(occurrenceShape).superRefine(checkObservations);

const trunkOccurrenceSchema = z
  .object({
    ...occurrenceShape,
    wholeTrunk: occurrenceHistogramSchema
      .optional()
      .describe(
        "Paper §7's literal definition: one cosine per (step, pair) between the concatenated gradients of all shared layers. Optional because the producer needs per-layer dot products and norms.",
      ),
  })
  .superRefine(checkObservations)
  .describe(
    "The paper's conflict-occurrence row for this model. `histogram` pools the per-layer cosines of all shared layers and pairs (it equals the sum of the layers' pair histograms).",
  );

const lossCurvesSchema = z
  .object({
    steps: z
      .array(count)
      .max(MAX_LOSS_POINTS, { error: lengthWording((got) => `has ${got} points, at most ${MAX_LOSS_POINTS} allowed`) })
      .superRefine((steps, ctx) => {
        steps.forEach((step, i) => {
          if (i > 0 && step <= steps[i - 1]!) addIssueAt(ctx, [i], `must be strictly increasing (${steps[i - 1]} then ${step})`);
        });
      })
      .describe(
        "0-based step numbers within this run (a shard counts its own steps), strictly increasing. Each point is the mean over a bucket of consecutive steps, stamped with the bucket's last step.",
      ),
    perTask: z.record(z.string(), z.array(finite)).describe('Task name → loss per point of `steps`.'),
  })
  .superRefine(({ steps, perTask }, ctx) => {
    for (const [name, values] of Object.entries(perTask)) {
      if (values.length !== steps.length) addIssueAt(ctx, ['perTask', name], `has ${values.length} values for ${steps.length} steps`);
    }
  });

const costPointSchema = z
  .object({
    k: count,
    params: count,
    paramIncreasePct: finite,
    macs: count,
    macIncreasePct: finite,
    layers: z.array(z.string()).describe('The k layers made task-specific.'),
  })
  .superRefine((point, ctx) => {
    if (point.layers.length !== point.k) addIssueAt(ctx, ['layers'], `lists ${point.layers.length} layers for k = ${point.k}`);
  })
  .describe('Cost of making the top-k layers (ranked at settings.S[0]) task-specific.');

const scanProgressSchema = z
  .object({
    stepsDone: count,
    totalSteps: count,
    epochStepsDone: z.array(count).describe('Steps scanned in each epoch; sums to stepsDone. Merging shards weights per-epoch rates by it.'),
  })
  .superRefine((progress, ctx) => {
    const total = sum(progress.epochStepsDone);
    if (total !== progress.stepsDone) addIssueAt(ctx, ['epochStepsDone'], `sums to ${total}, not stepsDone = ${progress.stepsDone}`);
  });

const recordedStepsSchema = z
  .object({
    file: z.string().describe("File name, relative to the report's folder."),
    dtype: z.literal('float32'),
    shape: z.tuple([count, count, count], { error: lengthWording(() => 'must be [steps, layers, pairs]') }),
  })
  .describe("A raw little-endian float32 file next to the report, shape [steps, layers, pairs] in the report's layer and pair order (row-major).");

const conflictRateStepsSchema = z
  .object({ steps: z.array(count), rate: z.array(fraction) })
  .superRefine(({ steps, rate }, ctx) => {
    if (steps.length !== rate.length) addIssueAt(ctx, ['rate'], `must hold ${steps.length} values (one per step entry)`);
  })
  .describe(
    "Share of (layer, pair) cosines below 0 over all shared layers, per step, averaged over buckets of consecutive steps (at most 400 points; `steps` holds each bucket's last step).",
  );

const tasksSchema = z
  .array(taskInfoSchema)
  .min(2, { error: lengthWording((got) => `needs at least 2 tasks (got ${got})`) })
  .superRefine((tasks, ctx) => {
    const names = tasks.map((task) => task.name);
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i) addIssueAt(ctx, [i, 'name'], `duplicates task "${name}"`);
    });
  });

/** Read first, so that a report of another kind or version says so rather than naming some field. */
const reportHeaderSchema = z.object({ kind: kindSchema, schemaVersion: schemaVersionSchema });

const conflictReportSchema = z
  .object({
    schemaVersion: schemaVersionSchema,
    kind: kindSchema,
    tool: toolInfoSchema,
    createdAt: timestamp.describe('ISO 8601 timestamp.'),
    partial: z.boolean().describe('True when the scan stopped early; the numbers cover progress.stepsDone steps.'),
    partialReason: z.string().optional(),
    model: modelInfoSchema,
    tasks: tasksSchema,
    pairs: z.array(z.string()).describe('pairKeys(task names): "T1|T2" for every task pair i < j, in task order.'),
    settings: scanSettingsSchema,
    layers: layersSchema,
    trunk: trunkOccurrenceSchema,
    losses: lossCurvesSchema,
    cost: z.array(costPointSchema).optional().describe('Entries for k = 1..L (k = 0 may be included as the baseline).'),
    progress: scanProgressSchema,
    recordedSteps: recordedStepsSchema.optional().describe('Set by `recon scan --record-steps`: every per-step cosine, for recomputing scores at any S.'),
    conflictRateSteps: conflictRateStepsSchema.optional(),
  })
  // The checks between sections need every section valid, so they wait for a report without issues.
  .superRefine(
    (parsed, ctx) => {
      const problem = firstInconsistency(parsed);
      if (problem) addIssueAt(ctx, problem.path, problem.message);
    },
    { when: (payload) => payload.issues.length === 0 },
  )
  .meta({
    title: 'recon-onnx conflict report',
    description: `Written by \`recon scan\` (kind "${REPORT_KIND}", schema version ${REPORT_SCHEMA_VERSION}); see README "Conflict report".`,
  });

export type ToolInfo = z.output<typeof toolInfoSchema>;
export type ModelInfo = z.output<typeof modelInfoSchema>;
export type TaskInfo = z.output<typeof taskInfoSchema>;
export type OptimizerName = z.output<typeof optimizerNameSchema>;
/** Combination methods of training scans (src/conflict/method-registry.ts). */
export type SearchMethod = z.output<typeof searchMethodSchema>;
export type BatchNormMode = z.output<typeof batchNormModeSchema>;
export type OptimizerSettings = z.output<typeof optimizerSettingsSchema>;
/** A static scan split over machines: this report covers shard `index` (0-based) of `count`. */
export type ShardInfo = z.output<typeof shardInfoSchema>;
export type ScanSettings = z.output<typeof scanSettingsSchema>;
export type CosineQuantiles = z.output<typeof cosineQuantilesSchema>;
/** Summary of a set of cosines; see cosineStatsSchema's description. */
export type CosineStats = z.output<typeof cosineStatsSchema>;
export type LayerScore = z.output<typeof layerScoreSchema>;
/** One rankable shared layer (a parameter owner: Conv W+B, BN scale+bias, Gemm W+C). */
export type LayerConflict = z.output<typeof layerConflictSchema>;
export type OccurrenceHistogram = z.output<typeof occurrenceHistogramSchema>;
/** The paper's conflict-occurrence row: OccurrenceHistogram plus the optional whole-trunk variant. */
export type TrunkOccurrence = z.output<typeof trunkOccurrenceSchema>;
export type LossCurves = z.output<typeof lossCurvesSchema>;
/** Cost of making the top-k layers (ranked at settings.S[0]) task-specific. */
export type CostPoint = z.output<typeof costPointSchema>;
export type ScanProgress = z.output<typeof scanProgressSchema>;
/** A raw float32 file next to the report, shape [steps, layers, pairs]. */
export type RecordedSteps = z.output<typeof recordedStepsSchema>;
export type ConflictReport = z.output<typeof conflictReportSchema>;

interface Inconsistency {
  path: (string | number)[];
  message: string;
}

/**
 * The first disagreement between sections of an otherwise valid report: pairs vs tasks, each
 * layer's scores, pairs and epochs vs the settings, pairs and progress, the ranks, the pooled trunk
 * histogram and the loss curves vs the tasks.
 */
function firstInconsistency(report: ConflictReport): Inconsistency | undefined {
  const names = report.tasks.map((task) => task.name);
  const expectedPairs = pairKeys(names);
  if (!sameList(report.pairs, expectedPairs)) {
    return { path: ['pairs'], message: `must be ${describe(expectedPairs)} for the tasks in order (got ${describe(report.pairs)})` };
  }
  const S = report.settings.S;
  const epochCount = report.progress.epochStepsDone.length;
  for (const [i, layer] of report.layers.entries()) {
    const problem = layerInconsistency(layer, S, expectedPairs, epochCount);
    if (problem) return { path: ['layers', i, ...problem.path], message: problem.message };
  }
  return rankInconsistency(report.layers, S) ?? trunkInconsistency(report) ?? lossTaskInconsistency(report.losses, names);
}

function layerInconsistency(layer: LayerConflict, S: readonly number[], pairs: readonly string[], epochCount: number): Inconsistency | undefined {
  const thresholds = layer.scores.map((score) => score.S);
  if (!sameList(thresholds, S)) {
    return { path: ['scores'], message: `must hold one entry per settings.S in order (${S.join(', ')})` };
  }
  const missing = pairs.find((key) => !Object.hasOwn(layer.pairs, key));
  if (missing !== undefined) return { path: ['pairs', missing], message: 'is missing' };
  const extra = Object.keys(layer.pairs).find((key) => !pairs.includes(key));
  if (extra !== undefined) return { path: ['pairs'], message: `has unknown pair "${extra}"` };
  // Every pair is observed at every step, so all pairs of a layer count the same cosines.
  const stepCount = layer.pairs[pairs[0]!]!.count;
  for (const key of pairs) {
    const pairCount = layer.pairs[key]!.count;
    if (pairCount !== stepCount) return { path: ['pairs', key, 'count'], message: `differs between pairs (${pairCount} vs ${stepCount})` };
  }
  if (layer.conflictRatePerEpoch.length !== epochCount) {
    return { path: ['conflictRatePerEpoch'], message: `has ${layer.conflictRatePerEpoch.length} entries, progress.epochStepsDone has ${epochCount}` };
  }
  return undefined;
}

function rankInconsistency(layers: readonly LayerConflict[], S: readonly number[]): Inconsistency | undefined {
  for (const [k, s] of S.entries()) {
    const seen = new Set<number>();
    for (const [i, layer] of layers.entries()) {
      const rank = layer.scores[k]!.rank;
      if (rank < 1 || rank > layers.length || seen.has(rank)) {
        return { path: ['layers', i, 'scores', k, 'rank'], message: `must be a distinct rank in 1..${layers.length} at S = ${s} (got ${rank})` };
      }
      seen.add(rank);
    }
  }
  return undefined;
}

function trunkInconsistency(report: ConflictReport): Inconsistency | undefined {
  const pooled = new Array<number>(PAPER_BIN_COUNT).fill(0);
  for (const layer of report.layers) {
    for (const key of report.pairs) layer.pairs[key]!.histogram.forEach((c, b) => (pooled[b]! += c));
  }
  const histogram = report.trunk.histogram;
  if (sameList(histogram, pooled)) return undefined;
  return {
    path: ['trunk', 'histogram'],
    message: `must equal the sum of the layers' pair histograms (${pooled.join(', ')}; got ${histogram.join(', ')})`,
  };
}

function lossTaskInconsistency(losses: LossCurves, taskNames: readonly string[]): Inconsistency | undefined {
  const missing = taskNames.find((name) => !Object.hasOwn(losses.perTask, name));
  if (missing !== undefined) return { path: ['losses', 'perTask', missing], message: 'is missing' };
  const extra = Object.keys(losses.perTask).find((key) => !taskNames.includes(key));
  if (extra !== undefined) return { path: ['losses', 'perTask'], message: `has unknown task "${extra}"` };
  return undefined;
}

/** A report that failed validation; the message is one line naming the file and the field. */
export class ReportFormatError extends ReconError {
  constructor(
    readonly source: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${source}: invalid conflict report: ${field === '' ? '' : `field "${field}" `}${detail}`);
    this.name = 'ReportFormatError';
  }
}

/**
 * Checks that `json` (already JSON.parse'd) is a conflict report of this schema version and
 * returns a typed copy (unknown fields dropped). `source` (usually the file path) prefixes errors,
 * which name the first problem found.
 */
export function parseConflictReport(json: unknown, source: string): ConflictReport {
  const header = reportHeaderSchema.safeParse(json, { error: readableDetail });
  if (!header.success) throw formatError(source, header.error);
  const parsed = conflictReportSchema.safeParse(json, { error: readableDetail });
  if (!parsed.success) throw formatError(source, parsed.error);
  return parsed.data;
}

/** The report's JSON Schema (draft 2020-12), as published in docs/report.schema.json. */
export function conflictReportJsonSchema(): Record<string, unknown> {
  // `input`: what a report file may hold; extra fields are allowed there (the reader drops them).
  return z.toJSONSchema(conflictReportSchema, { io: 'input', target: 'draft-2020-12' });
}

function formatError(source: string, error: z.ZodError): ReportFormatError {
  const issue = error.issues[0]!;
  return new ReportFormatError(source, fieldPath(issue.path), issue.message.replace(/[\r\n]+/g, ' '));
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `layers[3].pairs["T1|T2"].mean`: identifiers after a dot, other keys quoted in brackets. */
function fieldPath(path: readonly PropertyKey[]): string {
  let field = '';
  for (const key of path) {
    if (typeof key === 'number') field += `[${key}]`;
    else {
      const name = String(key);
      field = field === '' ? name : IDENTIFIER.test(name) ? `${field}.${name}` : `${field}[${JSON.stringify(name)}]`;
    }
  }
  return field;
}

function sameList(a: readonly (string | number)[], b: readonly (string | number)[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Short one-line rendering of an offending value for error messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  text = text.replace(/[\r\n]+/g, ' ');
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
