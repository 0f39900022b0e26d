/**
 * The conflict report written by the scan command and read by every renderer: its TypeScript
 * shape and a runtime validator for reports loaded from disk.
 */
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

export interface ToolInfo {
  name: string;
  version: string;
}

export interface ModelInfo {
  path: string;
  opset: number;
  sha256?: string;
}

export interface TaskInfo {
  name: string;
  /** Graph output the task reads. */
  output: string;
  /** Loss name, e.g. "cross-entropy". */
  loss: string;
  weight: number;
}

export type OptimizerName = 'sgd' | 'adam' | 'none';
/** Combination methods of training scans (src/conflict/method-registry.ts). */
export type SearchMethod =
  | 'ew'
  | 'uw'
  | 'dwa'
  | 'rlw'
  | 'gls'
  | 'famo'
  | 'gradnorm'
  | 'mgda'
  | 'pcgrad'
  | 'cagrad'
  | 'imtl-g'
  | 'nash-mtl'
  | 'aligned-mtl'
  | 'upgrad'
  | 'dualproj'
  | 'gradvac'
  | 'fairgrad';
export type BatchNormMode = 'train' | 'eval';

export interface OptimizerSettings {
  name: OptimizerName;
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Epochs at which the learning rate is multiplied by gamma. */
  milestones: number[];
  gamma: number;
}

/** A static scan split over machines: this report covers shard `index` (0-based) of `count`. */
export interface ShardInfo {
  index: number;
  count: number;
}

export interface ScanSettings {
  /** Data set description or path. */
  data: string;
  seed: number;
  /** S thresholds of the S-conflict score, each in [-1, 1] (the paper uses -1 < S <= 0). */
  S: number[];
  /** Step limit as configured on the command line (the planned total is progress.totalSteps). */
  steps: number;
  epochs: number;
  batchSize: number;
  shuffle: boolean;
  optimizer: OptimizerSettings;
  method: SearchMethod;
  bn: BatchNormMode;
  device: string;
  shard?: ShardInfo;
}

export interface CosineQuantiles {
  p05: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
}

/**
 * Summary of a set of cosines. count, sum, sumSquares, histograms, min and max merge exactly;
 * mean and std (population, divisor n) follow from them. With count = 0 every number is 0.
 */
export interface CosineStats {
  count: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  sum: number;
  sumSquares: number;
  quantiles: CosineQuantiles;
  /** True when the quantiles are exact order statistics, false when read off fineHistogram (error <= 0.01). */
  quantilesExact: boolean;
  /** Counts in the 5 paper bins (bins.ts). */
  histogram: number[];
  /** Counts in 200 equal bins over [-1, 1] (bins.ts). */
  fineHistogram: number[];
}

export interface LayerScore {
  S: number;
  /** Number of (step, pair) cosines < S, summed over the scan. */
  score: number;
  /** 1 = most conflicting at this S; ties keep network order. */
  rank: number;
}

/** One rankable shared layer (a parameter owner: Conv W+B, BN scale+bias, Gemm W+C). */
export interface LayerConflict {
  name: string;
  op: string;
  /** ONNX nodes that own this layer's parameters. */
  nodes: string[];
  params: number;
  /** One entry per settings.S, in that order. */
  scores: LayerScore[];
  /** Cosine statistics per pair key of ConflictReport.pairs. */
  pairs: Record<string, CosineStats>;
  /** Fraction of (step, pair) cosines < 0 in each epoch; epochs with no step give 0. */
  conflictRatePerEpoch: number[];
}

export interface OccurrenceHistogram {
  /** Counts in the 5 paper bins. */
  histogram: number[];
  observations: number;
}

/**
 * The paper's conflict-occurrence row for this model. `histogram` pools the per-layer cosines of
 * all shared layers and pairs (it equals the sum of the layers' pair histograms).
 */
export interface TrunkOccurrence extends OccurrenceHistogram {
  /**
   * Paper §7's literal definition: one cosine per (step, pair) between the concatenated gradients
   * of all shared layers. Optional because the producer needs per-layer dot products and norms.
   */
  wholeTrunk?: OccurrenceHistogram;
}

export interface LossCurves {
  /**
   * 0-based step numbers within this run (a shard counts its own steps), strictly increasing.
   * Each point is the mean over a bucket of consecutive steps, stamped with the bucket's last step.
   */
  steps: number[];
  /** Task name → loss per point of `steps`. */
  perTask: Record<string, number[]>;
}

/** Cost of making the top-k layers (ranked at settings.S[0]) task-specific. */
export interface CostPoint {
  k: number;
  params: number;
  paramIncreasePct: number;
  macs: number;
  macIncreasePct: number;
  /** The k layers made task-specific. */
  layers: string[];
}

export interface ScanProgress {
  stepsDone: number;
  totalSteps: number;
  /** Steps scanned in each epoch; sums to stepsDone. Merging shards weights per-epoch rates by it. */
  epochStepsDone: number[];
}

export interface ConflictReport {
  schemaVersion: number;
  kind: typeof REPORT_KIND;
  tool: ToolInfo;
  /** ISO 8601 timestamp. */
  createdAt: string;
  /** True when the scan stopped early; the numbers cover progress.stepsDone steps. */
  partial: boolean;
  partialReason?: string;
  model: ModelInfo;
  tasks: TaskInfo[];
  /** pairKeys(task names). */
  pairs: string[];
  settings: ScanSettings;
  /** Shared layers in network order. */
  layers: LayerConflict[];
  trunk: TrunkOccurrence;
  losses: LossCurves;
  /** Entries for k = 1..L (k = 0 may be included as the baseline). */
  cost?: CostPoint[];
  progress: ScanProgress;
  /** Set by `recon scan --record-steps`: every per-step cosine, for recomputing scores at any S. */
  recordedSteps?: RecordedSteps;
  /**
   * Share of (layer, pair) cosines below 0 over all shared layers, per step, averaged over buckets
   * of consecutive steps (at most 400 points; `steps` holds each bucket's last step).
   */
  conflictRateSteps?: { steps: number[]; rate: number[] };
}

/**
 * A raw little-endian float32 file next to the report, shape [steps, layers, pairs] in the
 * report's layer and pair order (row-major).
 */
export interface RecordedSteps {
  /** File name, relative to the report's folder. */
  file: string;
  dtype: 'float32';
  shape: [number, number, number];
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
 * returns a typed copy (unknown fields dropped). `source` (usually the file path) prefixes errors.
 */
export function parseConflictReport(json: unknown, source: string): ConflictReport {
  return new ReportReader(source).report(json);
}

type Json = Record<string, unknown>;

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'adam', 'none'];
const METHODS: readonly SearchMethod[] = [
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
];
const BN_MODES: readonly BatchNormMode[] = ['train', 'eval'];

/** Walks the JSON with the current field path, so every error names the exact field. */
class ReportReader {
  constructor(private readonly source: string) {}

  report(json: unknown): ConflictReport {
    const root = this.object(json, '');
    const kind = this.string(root, 'kind', '');
    if (kind !== REPORT_KIND) this.fail('kind', `must be "${REPORT_KIND}" (got ${describe(kind)})`);
    const schemaVersion = this.integer(root, 'schemaVersion', '');
    if (schemaVersion !== REPORT_SCHEMA_VERSION) {
      this.fail('schemaVersion', `is ${schemaVersion}, this tool reads version ${REPORT_SCHEMA_VERSION}`);
    }
    const toolJson = this.child(root, 'tool', '');
    const modelJson = this.child(root, 'model', '');
    const model: ModelInfo = {
      path: this.string(modelJson, 'path', 'model'),
      opset: this.integer(modelJson, 'opset', 'model'),
    };
    const sha256 = this.optionalString(modelJson, 'sha256', 'model');
    if (sha256 !== undefined) model.sha256 = sha256;

    const tasks = this.array(root, 'tasks', '', (value, path) => this.task(value, path));
    if (tasks.length < 2) this.fail('tasks', `needs at least 2 tasks (got ${tasks.length})`);
    const names = tasks.map((t) => t.name);
    names.forEach((name, i) => {
      if (name === '' || name.includes(PAIR_SEPARATOR)) this.fail(`tasks[${i}].name`, `must be non-empty without "${PAIR_SEPARATOR}"`);
      if (names.indexOf(name) !== i) this.fail(`tasks[${i}].name`, `duplicates task "${name}"`);
    });
    const pairs = this.array(root, 'pairs', '', (value, path) => this.stringValue(value, path));
    const expectedPairs = pairKeys(names);
    if (pairs.join('\n') !== expectedPairs.join('\n')) {
      this.fail('pairs', `must be ${describe(expectedPairs)} for the tasks in order (got ${describe(pairs)})`);
    }

    const settings = this.settings(this.child(root, 'settings', ''));
    const progress = this.progress(this.child(root, 'progress', ''));
    const epochCount = progress.epochStepsDone.length;
    const layers = this.array(root, 'layers', '', (value, path) => this.layer(value, path, settings.S, pairs, epochCount));
    layers.forEach((layer, i) => {
      if (layers.findIndex((other) => other.name === layer.name) !== i) this.fail(`layers[${i}].name`, `duplicates layer "${layer.name}"`);
    });
    this.checkRanks(layers, settings.S);
    const trunk = this.trunk(this.child(root, 'trunk', ''), layers, pairs);
    const losses = this.losses(this.child(root, 'losses', ''), names);

    const partial = this.boolean(root, 'partial', '');
    const report: ConflictReport = {
      schemaVersion,
      kind: REPORT_KIND,
      tool: { name: this.string(toolJson, 'name', 'tool'), version: this.string(toolJson, 'version', 'tool') },
      createdAt: this.timestamp(root, 'createdAt', ''),
      partial,
      model,
      tasks,
      pairs,
      settings,
      layers,
      trunk,
      losses,
      progress,
    };
    const partialReason = this.optionalString(root, 'partialReason', '');
    if (partialReason !== undefined) report.partialReason = partialReason;
    if (root['cost'] !== undefined) report.cost = this.array(root, 'cost', '', (value, path) => this.costPoint(value, path));
    if (root['conflictRateSteps'] !== undefined) {
      const r = this.child(root, 'conflictRateSteps', '');
      const steps = this.array(r, 'steps', 'conflictRateSteps', (value, path) => this.countValue(value, path));
      const rate = this.array(r, 'rate', 'conflictRateSteps', (value, path) => this.fractionValue(value, path));
      if (steps.length !== rate.length) this.fail('conflictRateSteps.rate', `must hold ${steps.length} values (one per step entry)`);
      report.conflictRateSteps = { steps, rate };
    }
    if (root['recordedSteps'] !== undefined) {
      const r = this.child(root, 'recordedSteps', '');
      const shape = this.array(r, 'shape', 'recordedSteps', (value, path) => this.countValue(value, path));
      if (shape.length !== 3) this.fail('recordedSteps.shape', 'must be [steps, layers, pairs]');
      if (r['dtype'] !== 'float32') this.fail('recordedSteps.dtype', 'must be "float32"');
      report.recordedSteps = { file: this.string(r, 'file', 'recordedSteps'), dtype: 'float32', shape: shape as [number, number, number] };
    }
    return report;
  }

  private task(value: unknown, path: string): TaskInfo {
    const o = this.object(value, path);
    return {
      name: this.string(o, 'name', path),
      output: this.string(o, 'output', path),
      loss: this.string(o, 'loss', path),
      weight: this.finite(o, 'weight', path),
    };
  }

  private settings(o: Json): ScanSettings {
    const p = 'settings';
    const S = this.array(o, 'S', p, (value, path) => this.finiteValue(value, path));
    if (S.length === 0) this.fail('settings.S', 'must list at least one threshold');
    S.forEach((s, i) => {
      if (s < -1 || s > 1) this.fail(`settings.S[${i}]`, `must lie in [-1, 1] (got ${s})`);
      if (S.indexOf(s) !== i) this.fail(`settings.S[${i}]`, `duplicates ${s}`);
    });
    const opt = this.child(o, 'optimizer', p);
    const op = 'settings.optimizer';
    const settings: ScanSettings = {
      data: this.string(o, 'data', p),
      seed: this.integer(o, 'seed', p),
      S,
      steps: this.count(o, 'steps', p),
      epochs: this.count(o, 'epochs', p),
      batchSize: this.count(o, 'batchSize', p),
      shuffle: this.boolean(o, 'shuffle', p),
      optimizer: {
        name: this.oneOf(opt, 'name', op, OPTIMIZERS),
        lr: this.finite(opt, 'lr', op),
        momentum: this.finite(opt, 'momentum', op),
        weightDecay: this.finite(opt, 'weightDecay', op),
        milestones: this.array(opt, 'milestones', op, (value, path) => this.countValue(value, path)),
        gamma: this.finite(opt, 'gamma', op),
      },
      method: this.oneOf(o, 'method', p, METHODS),
      bn: this.oneOf(o, 'bn', p, BN_MODES),
      device: this.string(o, 'device', p),
    };
    if (o['shard'] !== undefined) {
      const s = this.child(o, 'shard', p);
      const count = this.count(s, 'count', 'settings.shard');
      const index = this.count(s, 'index', 'settings.shard');
      if (count < 1 || index >= count) this.fail('settings.shard', `index ${index} of count ${count} is out of range (0-based index < count)`);
      settings.shard = { index, count };
    }
    return settings;
  }

  private progress(o: Json): ScanProgress {
    const p = 'progress';
    const progress: ScanProgress = {
      stepsDone: this.count(o, 'stepsDone', p),
      totalSteps: this.count(o, 'totalSteps', p),
      epochStepsDone: this.array(o, 'epochStepsDone', p, (value, path) => this.countValue(value, path)),
    };
    const sum = progress.epochStepsDone.reduce((a, b) => a + b, 0);
    if (sum !== progress.stepsDone) this.fail('progress.epochStepsDone', `sums to ${sum}, not stepsDone = ${progress.stepsDone}`);
    return progress;
  }

  private layer(value: unknown, path: string, S: readonly number[], pairs: readonly string[], epochs: number): LayerConflict {
    const o = this.object(value, path);
    const scores = this.array(o, 'scores', path, (v, p) => {
      const s = this.object(v, p);
      return { S: this.finite(s, 'S', p), score: this.count(s, 'score', p), rank: this.count(s, 'rank', p) };
    });
    if (scores.map((s) => s.S).join(',') !== S.join(',')) {
      this.fail(`${path}.scores`, `must hold one entry per settings.S in order (${S.join(', ')})`);
    }
    const pairsJson = this.child(o, 'pairs', path);
    const stats: Record<string, CosineStats> = {};
    for (const key of pairs) stats[key] = this.cosineStats(this.child(pairsJson, key, `${path}.pairs`), `${path}.pairs["${key}"]`);
    const extra = Object.keys(pairsJson).find((key) => !pairs.includes(key));
    if (extra !== undefined) this.fail(`${path}.pairs`, `has unknown pair "${extra}"`);
    const stepCount = stats[pairs[0]!]!.count;
    for (const key of pairs) {
      if (stats[key]!.count !== stepCount) this.fail(`${path}.pairs["${key}"].count`, `differs between pairs (${stats[key]!.count} vs ${stepCount})`);
    }
    const rates = this.array(o, 'conflictRatePerEpoch', path, (v, p) => this.fractionValue(v, p));
    if (rates.length !== epochs) this.fail(`${path}.conflictRatePerEpoch`, `has ${rates.length} entries, progress.epochStepsDone has ${epochs}`);
    return {
      name: this.string(o, 'name', path),
      op: this.string(o, 'op', path),
      nodes: this.array(o, 'nodes', path, (v, p) => this.stringValue(v, p)),
      params: this.count(o, 'params', path),
      scores,
      pairs: stats,
      conflictRatePerEpoch: rates,
    };
  }

  private checkRanks(layers: readonly LayerConflict[], S: readonly number[]): void {
    S.forEach((s, k) => {
      const seen = new Set<number>();
      layers.forEach((layer, i) => {
        const rank = layer.scores[k]!.rank;
        if (rank < 1 || rank > layers.length || seen.has(rank)) {
          this.fail(`layers[${i}].scores[${k}].rank`, `must be a distinct rank in 1..${layers.length} at S = ${s} (got ${rank})`);
        }
        seen.add(rank);
      });
    });
  }

  private cosineStats(o: Json, path: string): CosineStats {
    const q = this.child(o, 'quantiles', path);
    const qp = `${path}.quantiles`;
    const stats: CosineStats = {
      count: this.count(o, 'count', path),
      mean: this.finite(o, 'mean', path),
      std: this.finite(o, 'std', path),
      min: this.finite(o, 'min', path),
      max: this.finite(o, 'max', path),
      sum: this.finite(o, 'sum', path),
      sumSquares: this.finite(o, 'sumSquares', path),
      quantiles: {
        p05: this.finite(q, 'p05', qp),
        p25: this.finite(q, 'p25', qp),
        p50: this.finite(q, 'p50', qp),
        p75: this.finite(q, 'p75', qp),
        p95: this.finite(q, 'p95', qp),
      },
      quantilesExact: this.boolean(o, 'quantilesExact', path),
      histogram: this.counts(o, 'histogram', path, PAPER_BIN_COUNT),
      fineHistogram: this.counts(o, 'fineHistogram', path, FINE_BIN_COUNT),
    };
    for (const field of ['histogram', 'fineHistogram'] as const) {
      const total = stats[field].reduce((a, b) => a + b, 0);
      if (total !== stats.count) this.fail(`${path}.${field}`, `sums to ${total}, not count = ${stats.count}`);
    }
    if (stats.std < 0) this.fail(`${path}.std`, `must be >= 0 (got ${stats.std})`);
    if (stats.count > 0 && stats.min > stats.max) this.fail(`${path}.min`, `exceeds max (${stats.min} > ${stats.max})`);
    return stats;
  }

  private trunk(o: Json, layers: readonly LayerConflict[], pairs: readonly string[]): TrunkOccurrence {
    const trunk: TrunkOccurrence = this.occurrence(o, 'trunk');
    const pooled = new Array<number>(PAPER_BIN_COUNT).fill(0);
    for (const layer of layers) {
      for (const key of pairs) layer.pairs[key]!.histogram.forEach((c, b) => (pooled[b]! += c));
    }
    if (trunk.histogram.join(',') !== pooled.join(',')) {
      this.fail('trunk.histogram', `must equal the sum of the layers' pair histograms (${pooled.join(', ')}; got ${trunk.histogram.join(', ')})`);
    }
    if (o['wholeTrunk'] !== undefined) trunk.wholeTrunk = this.occurrence(this.child(o, 'wholeTrunk', 'trunk'), 'trunk.wholeTrunk');
    return trunk;
  }

  private occurrence(o: Json, path: string): OccurrenceHistogram {
    const occurrence = { histogram: this.counts(o, 'histogram', path, PAPER_BIN_COUNT), observations: this.count(o, 'observations', path) };
    const total = occurrence.histogram.reduce((a, b) => a + b, 0);
    if (total !== occurrence.observations) this.fail(`${path}.histogram`, `sums to ${total}, not observations = ${occurrence.observations}`);
    return occurrence;
  }

  private losses(o: Json, taskNames: readonly string[]): LossCurves {
    const steps = this.array(o, 'steps', 'losses', (v, p) => this.countValue(v, p));
    if (steps.length > MAX_LOSS_POINTS) this.fail('losses.steps', `has ${steps.length} points, at most ${MAX_LOSS_POINTS} allowed`);
    steps.forEach((step, i) => {
      if (i > 0 && step <= steps[i - 1]!) this.fail(`losses.steps[${i}]`, `must be strictly increasing (${steps[i - 1]} then ${step})`);
    });
    const perTaskJson = this.child(o, 'perTask', 'losses');
    const perTask: Record<string, number[]> = {};
    for (const name of taskNames) {
      const values = this.array(perTaskJson, name, 'losses.perTask', (v, p) => this.finiteValue(v, p));
      if (values.length !== steps.length) this.fail(join('losses.perTask', name), `has ${values.length} values for ${steps.length} steps`);
      perTask[name] = values;
    }
    const extra = Object.keys(perTaskJson).find((key) => !taskNames.includes(key));
    if (extra !== undefined) this.fail('losses.perTask', `has unknown task "${extra}"`);
    return { steps, perTask };
  }

  private costPoint(value: unknown, path: string): CostPoint {
    const o = this.object(value, path);
    const point: CostPoint = {
      k: this.count(o, 'k', path),
      params: this.count(o, 'params', path),
      paramIncreasePct: this.finite(o, 'paramIncreasePct', path),
      macs: this.count(o, 'macs', path),
      macIncreasePct: this.finite(o, 'macIncreasePct', path),
      layers: this.array(o, 'layers', path, (v, p) => this.stringValue(v, p)),
    };
    if (point.layers.length !== point.k) this.fail(`${path}.layers`, `lists ${point.layers.length} layers for k = ${point.k}`);
    return point;
  }

  // ---- field access -------------------------------------------------------------------------

  private fail(field: string, detail: string): never {
    throw new ReportFormatError(this.source, field, detail);
  }

  private get(o: Json, key: string, parent: string): unknown {
    const value = o[key];
    if (value === undefined) this.fail(join(parent, key), 'is missing');
    return value;
  }

  private object(value: unknown, path: string): Json {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path, `must be an object (got ${describe(value)})`);
    }
    return value as Json;
  }

  private child(o: Json, key: string, parent: string): Json {
    return this.object(this.get(o, key, parent), join(parent, key));
  }

  private array<T>(o: Json, key: string, parent: string, item: (value: unknown, path: string) => T): T[] {
    const path = join(parent, key);
    const value = this.get(o, key, parent);
    if (!Array.isArray(value)) this.fail(path, `must be an array (got ${describe(value)})`);
    return value.map((v, i) => item(v, `${path}[${i}]`));
  }

  private stringValue(value: unknown, path: string): string {
    if (typeof value !== 'string') this.fail(path, `must be a string (got ${describe(value)})`);
    return value;
  }

  private string(o: Json, key: string, parent: string): string {
    return this.stringValue(this.get(o, key, parent), join(parent, key));
  }

  private optionalString(o: Json, key: string, parent: string): string | undefined {
    return o[key] === undefined ? undefined : this.string(o, key, parent);
  }

  private timestamp(o: Json, key: string, parent: string): string {
    const value = this.string(o, key, parent);
    if (!ISO_TIMESTAMP.test(value) || Number.isNaN(Date.parse(value))) this.fail(join(parent, key), `must be an ISO 8601 timestamp (got ${describe(value)})`);
    return value;
  }

  private boolean(o: Json, key: string, parent: string): boolean {
    const value = this.get(o, key, parent);
    if (typeof value !== 'boolean') this.fail(join(parent, key), `must be true or false (got ${describe(value)})`);
    return value;
  }

  private finiteValue(value: unknown, path: string): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(path, `must be a finite number (got ${describe(value)})`);
    return value;
  }

  private finite(o: Json, key: string, parent: string): number {
    return this.finiteValue(this.get(o, key, parent), join(parent, key));
  }

  private integer(o: Json, key: string, parent: string): number {
    const value = this.finite(o, key, parent);
    if (!Number.isInteger(value)) this.fail(join(parent, key), `must be an integer (got ${value})`);
    return value;
  }

  private countValue(value: unknown, path: string): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      this.fail(path, `must be a non-negative integer (got ${describe(value)})`);
    }
    return value;
  }

  private count(o: Json, key: string, parent: string): number {
    return this.countValue(this.get(o, key, parent), join(parent, key));
  }

  private counts(o: Json, key: string, parent: string, length: number): number[] {
    const values = this.array(o, key, parent, (v, p) => this.countValue(v, p));
    if (values.length !== length) this.fail(join(parent, key), `must hold ${length} counts (got ${values.length})`);
    return values;
  }

  private fractionValue(value: unknown, path: string): number {
    const v = this.finiteValue(value, path);
    if (v < 0 || v > 1) this.fail(path, `must lie in [0, 1] (got ${v})`);
    return v;
  }

  private oneOf<T extends string>(o: Json, key: string, parent: string, allowed: readonly T[]): T {
    const value = this.string(o, key, parent);
    if (!(allowed as readonly string[]).includes(value)) this.fail(join(parent, key), `must be one of ${allowed.join(', ')} (got ${describe(value)})`);
    return value as T;
  }
}

function join(parent: string, key: string): string {
  if (parent === '') return key;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
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
