/**
 * Producer side: turns per-step cosines and losses into a consistent ConflictReport, so scores,
 * ranks, histograms, per-epoch rates and the trunk row all come from the same observations.
 */
import { PAPER_BIN_COUNT, binIndex } from './bins.js';
import { CosineAccumulator, DEFAULT_EXACT_QUANTILE_LIMIT, assertCosine, clampCosine } from './cosine-stats.js';
import { downsampleLosses } from './loss-curves.js';
import { rankScores } from './rank.js';
import {
  REPORT_KIND,
  REPORT_SCHEMA_VERSION,
  pairKeys,
  type ConflictReport,
  type CosineStats,
  type LayerConflict,
  type ScanSettings,
  type TaskInfo,
} from './schema.js';
import { ReconError } from '../util/errors.js';

/** A shared layer as the builder is given it: its report entry without the measurements. */
export type LayerDescriptor = Pick<LayerConflict, 'name' | 'op' | 'nodes' | 'params'>;

export interface ReportBuilderInit {
  /** Shared layers in network order. */
  layers: readonly LayerDescriptor[];
  tasks: readonly TaskInfo[];
  settings: ScanSettings;
  /** Per (layer, pair) values kept for exact quantiles (see CosineAccumulator). */
  exactQuantileLimit?: number;
}

/** The report fields the observations do not determine, and the planned total of steps (progress.totalSteps). */
export interface ReportHeader extends Pick<ConflictReport, 'tool' | 'createdAt' | 'model' | 'partial' | 'partialReason' | 'cost'> {
  totalSteps: number;
}

/** Points kept of the per-step conflict rate: enough for a smooth curve, small in JSON. */
const MAX_RATE_POINTS = 400;

/** Means over consecutive buckets of steps; each point is placed at its bucket's last step (1-based). */
export function bucketRates(rates: readonly number[], maxPoints: number): { steps: number[]; rate: number[] } {
  const size = Math.max(1, Math.ceil(rates.length / maxPoints));
  const steps: number[] = [];
  const rate: number[] = [];
  for (let start = 0; start < rates.length; start += size) {
    const chunk = rates.slice(start, start + size);
    steps.push(start + chunk.length);
    rate.push(chunk.reduce((a, b) => a + b, 0) / chunk.length);
  }
  return { steps, rate };
}

export class ConflictReportBuilder {
  readonly pairs: string[];
  private readonly stats: CosineAccumulator[];
  /** scoreCounts[layer * S.length + s] */
  private readonly scoreCounts: Float64Array;
  /** conflictsPerEpoch[epoch][layer]: (step, pair) cosines < 0. */
  private readonly conflictsPerEpoch: number[][] = [];
  private readonly epochSteps: number[] = [];
  private readonly lossSteps: number[] = [];
  private readonly lossValues: number[][];
  /** Paper-bin counts of whole-trunk cosines; null once steps came without them, undefined before the first step. */
  private wholeTrunk: number[] | null | undefined;
  private wholeTrunkObservations = 0;
  private steps = 0;
  /** Per step: the share of (layer, pair) cosines below 0 over all shared layers. */
  private readonly stepConflictRates: number[] = [];

  constructor(private readonly init: ReportBuilderInit) {
    this.pairs = pairKeys(init.tasks.map((t) => t.name));
    const limit = init.exactQuantileLimit ?? DEFAULT_EXACT_QUANTILE_LIMIT;
    this.stats = Array.from({ length: init.layers.length * this.pairs.length }, () => new CosineAccumulator(limit));
    this.scoreCounts = new Float64Array(init.layers.length * init.settings.S.length);
    this.lossValues = init.tasks.map(() => []);
  }

  get stepsDone(): number {
    return this.steps;
  }

  /**
   * Records one step. `cosines[layer * pairs.length + pair]` holds the cosine between the two
   * tasks' gradients of that layer. `wholeTrunkCosines[pair]`, if given, is the cosine of the
   * concatenated shared gradients; give it on every step or on none. `epoch` is 0-based and
   * never decreases.
   */
  pushStep(epoch: number, cosines: ArrayLike<number>, wholeTrunkCosines?: ArrayLike<number>): void {
    const layerCount = this.init.layers.length;
    const pairCount = this.pairs.length;
    if (cosines.length !== layerCount * pairCount) {
      throw new ReconError(`pushStep: expected ${layerCount * pairCount} cosines (${layerCount} layers × ${pairCount} pairs), got ${cosines.length}`);
    }
    if (!Number.isInteger(epoch) || epoch < this.epochSteps.length - 1) {
      throw new ReconError(`pushStep: epoch ${epoch} is not an integer >= the current epoch ${this.epochSteps.length - 1}`);
    }
    for (let i = 0; i < cosines.length; i++) assertCosine(cosines[i]!, 'pushStep');
    if (wholeTrunkCosines) for (let i = 0; i < wholeTrunkCosines.length; i++) assertCosine(wholeTrunkCosines[i]!, 'pushStep (whole trunk)');
    this.recordWholeTrunk(wholeTrunkCosines);
    while (this.epochSteps.length <= epoch) {
      this.epochSteps.push(0);
      this.conflictsPerEpoch.push(new Array<number>(layerCount).fill(0));
    }
    const conflicts = this.conflictsPerEpoch[epoch]!;
    const S = this.init.settings.S;
    for (let layer = 0; layer < layerCount; layer++) {
      for (let pair = 0; pair < pairCount; pair++) {
        const cos = clampCosine(cosines[layer * pairCount + pair]!);
        this.stats[layer * pairCount + pair]!.push(cos);
        if (cos < 0) conflicts[layer]!++;
        for (let s = 0; s < S.length; s++) if (cos < S[s]!) this.scoreCounts[layer * S.length + s]!++;
      }
    }
    this.epochSteps[epoch]!++;
    let negative = 0;
    for (let i = 0; i < cosines.length; i++) if (clampCosine(cosines[i]!) < 0) negative++;
    this.stepConflictRates.push(cosines.length > 0 ? negative / cosines.length : 0);
    this.steps++;
  }

  /** Records the task losses (in task order) of one step; steps must increase. */
  recordLosses(step: number, losses: ArrayLike<number>): void {
    if (losses.length !== this.lossValues.length) throw new ReconError(`recordLosses: expected ${this.lossValues.length} losses, got ${losses.length}`);
    const last = this.lossSteps[this.lossSteps.length - 1];
    if (!Number.isInteger(step) || step < 0 || (last !== undefined && step <= last)) {
      throw new ReconError(`recordLosses: step ${step} must be a non-negative integer after ${last ?? 'the start'}`);
    }
    for (let t = 0; t < losses.length; t++) {
      if (!Number.isFinite(losses[t]!)) throw new ReconError(`recordLosses: loss of task "${this.init.tasks[t]!.name}" at step ${step} is ${losses[t]}`);
    }
    this.lossSteps.push(step);
    for (let t = 0; t < losses.length; t++) this.lossValues[t]!.push(losses[t]!);
  }

  build(header: ReportHeader): ConflictReport {
    const { layers: descriptors, tasks, settings } = this.init;
    const S = settings.S;
    const pairCount = this.pairs.length;
    const layerStats: Record<string, CosineStats>[] = descriptors.map((_, layer) => {
      const record: Record<string, CosineStats> = {};
      this.pairs.forEach((key, pair) => (record[key] = this.stats[layer * pairCount + pair]!.toStats()));
      return record;
    });
    const ranksPerS = S.map((_, s) => rankScores(descriptors.map((__, layer) => this.scoreCounts[layer * S.length + s]!)));
    const layers: LayerConflict[] = descriptors.map((d, layer) => ({
      name: d.name,
      op: d.op,
      nodes: [...d.nodes],
      params: d.params,
      scores: S.map((threshold, s) => ({ S: threshold, score: this.scoreCounts[layer * S.length + s]!, rank: ranksPerS[s]![layer]! })),
      pairs: layerStats[layer]!,
      conflictRatePerEpoch: this.epochSteps.map((steps, epoch) => (steps > 0 ? this.conflictsPerEpoch[epoch]![layer]! / (steps * pairCount) : 0)),
    }));

    const trunkHistogram = new Array<number>(PAPER_BIN_COUNT).fill(0);
    for (const record of layerStats) for (const stats of Object.values(record)) stats.histogram.forEach((c, b) => (trunkHistogram[b]! += c));
    const report: ConflictReport = {
      schemaVersion: REPORT_SCHEMA_VERSION,
      kind: REPORT_KIND,
      tool: { ...header.tool },
      createdAt: header.createdAt,
      partial: header.partial,
      model: { ...header.model },
      tasks: tasks.map((t) => ({ ...t })),
      pairs: [...this.pairs],
      settings: structuredClone(settings),
      layers,
      trunk: { histogram: trunkHistogram, observations: trunkHistogram.reduce((a, b) => a + b, 0) },
      losses: downsampleLosses({
        steps: this.lossSteps,
        perTask: Object.fromEntries(tasks.map((t, i) => [t.name, this.lossValues[i]!])),
      }),
      progress: { stepsDone: this.steps, totalSteps: header.totalSteps, epochStepsDone: [...this.epochSteps] },
    };
    if (header.partialReason !== undefined) report.partialReason = header.partialReason;
    if (this.wholeTrunk) report.trunk.wholeTrunk = { histogram: [...this.wholeTrunk], observations: this.wholeTrunkObservations };
    if (header.cost !== undefined) report.cost = structuredClone(header.cost);
    if (this.stepConflictRates.length > 0) report.conflictRateSteps = bucketRates(this.stepConflictRates, MAX_RATE_POINTS);
    return report;
  }

  private recordWholeTrunk(cosines: ArrayLike<number> | undefined): void {
    const given = cosines !== undefined;
    if (this.wholeTrunk === undefined) this.wholeTrunk = given ? new Array<number>(PAPER_BIN_COUNT).fill(0) : null;
    if (given !== (this.wholeTrunk !== null)) throw new ReconError('pushStep: give wholeTrunkCosines on every step or on none');
    if (!cosines) return;
    if (cosines.length !== this.pairs.length) throw new ReconError(`pushStep: expected ${this.pairs.length} whole-trunk cosines, got ${cosines.length}`);
    for (let pair = 0; pair < cosines.length; pair++) this.wholeTrunk![binIndex(clampCosine(cosines[pair]!))]!++;
    this.wholeTrunkObservations += cosines.length;
  }
}
