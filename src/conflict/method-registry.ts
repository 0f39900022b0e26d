/**
 * Registry of the multi-task combination methods the scan (and `recon train` / `recon run`) can
 * train with. One declarative entry per method: its name, what it needs (losses, the whole-trunk
 * Gram, per-layer Grams, the losses after the update), its options with defaults, and `create`,
 * which returns a stateful instance whose `step` gives the coefficients of the task gradients —
 * for the whole trunk or per layer group — and whose state serialises to JSON for the scan
 * checkpoint, so `--resume` continues bit for bit.
 *
 * Conventions (see README "recon scan" for the table):
 * - `shared[i]` multiplies g_i on every shared parameter (`perGroup[k][i]` instead on the
 *   parameters of layer group k, when the method returns per-group weights);
 * - `taskSpecific[i]` multiplies task i's gradient on its own parameters: 1 for methods that
 *   rewrite only the shared gradient (as Recon and LibMTL's gradient methods do), the loss weight
 *   for methods that weight the losses (the gradient of Σ w_i L_i);
 * - Gram methods whose reference returns a convex combination / mean (MGDA, CAGrad, IMTL-G, UPGrad,
 *   DualProj) are multiplied by T, Recon's n_tasks convention ("to match the sum loss"); the
 *   others keep the scale of their reference implementation.
 */
import { ReconError, InternalError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import type { SearchMethod } from '../report/schema.js';
import { cagradSolution, combinationWeights, DEFAULT_CAGRAD_ALPHA } from './methods.js';
import { symmetricGram } from './simplex.js';
import {
  ALIGNED_SCALE_MODES,
  alignedMtlWeights,
  clipFactor,
  dualprojWeights,
  gradvacStep,
  imtlGWeights,
  MGDA_NORMALIZATIONS,
  mgdaNormalizedWeights,
  powerBargainingSolution,
  upgradWeights,
  type AlignedScaleMode,
  type MgdaNormalization,
} from './gram-methods.js';

export type MethodName = SearchMethod;

/** What a method reads each step. */
export type MethodNeed = 'losses' | 'gram' | 'layer-grams' | 'losses-after-update';

export interface MethodOptionSpec {
  name: string;
  kind: 'number' | 'integer' | 'choice' | 'layer';
  /** undefined: computed (e.g. GradNorm's layer defaults to the last shared layer). */
  default: number | string | undefined;
  choices?: readonly string[];
  /** Inclusive lower bound for numbers. */
  min?: number;
  /** Numbers must be strictly greater than this. */
  greaterThan?: number;
  description: string;
}

export type MethodOptionValues = Record<string, number | string>;

/** The random draws a method may make (PCGrad and GradVac orders, RLW's normal samples). */
export type MethodRandom = Pick<Random, 'permutation' | 'normal'>;

export interface MethodContext {
  tasks: number;
  /** Shared layer groups in network order (each shared parameter belongs to exactly one). */
  groups: readonly string[];
}

export interface MethodStepInput {
  step: number;
  epoch: number;
  /** Task losses of this step. */
  losses: ArrayLike<number>;
  /** Whole-trunk Gram (row-major T×T). */
  gram: ArrayLike<number>;
  /** Gram of each layer group, in `MethodContext.groups` order (may be empty if not needed). */
  groupGrams: readonly ArrayLike<number>[];
  rng: MethodRandom;
}

export interface MethodStepResult {
  /** Coefficients of g_1..g_T for shared parameters. */
  shared: Float64Array;
  /** Per layer group coefficients (overrides `shared` for that group's parameters). */
  perGroup?: Float64Array[];
  /** Coefficient of task i's gradient on its task-specific parameters. */
  taskSpecific: Float64Array;
  /** Gradient of the method's learned scalars (`learned`), for the scan's optimizer. */
  learnedGradient?: Float32Array;
}

export interface MethodState {
  method: MethodName;
  version: 1;
  data: Record<string, number | number[] | null>;
}

export interface MethodInstance {
  readonly spec: MethodSpec;
  readonly options: Readonly<MethodOptionValues>;
  step(input: MethodStepInput): MethodStepResult;
  /**
   * Learned scalars updated by the scan's optimizer like model parameters (UW's log-variances,
   * GradNorm's task weights), under the parameter name `method:<name>`; the array is live.
   */
  readonly learned?: Float32Array;
  /** After the optimizer step; `lossesAfter` (same batch, updated weights) only for 'losses-after-update'. */
  afterUpdate?(lossesAfter: ArrayLike<number> | undefined): void;
  state(): MethodState;
  load(state: MethodState): void;
}

export interface MethodSpec {
  name: MethodName;
  title: string;
  /** Paper and the reference implementation the defaults come from. */
  source: string;
  needs: readonly MethodNeed[];
  /** True when the instance carries state across steps (saved in scan checkpoints). */
  stateful: boolean;
  options: readonly MethodOptionSpec[];
  create(ctx: MethodContext, options: MethodOptionValues): MethodInstance;
}

const ones = (T: number): Float64Array => new Float64Array(T).fill(1);
const scaled = (w: ArrayLike<number>, s: number): Float64Array => Float64Array.from(w as ArrayLike<number>, (x) => x * s);
const num = (o: MethodOptionValues, k: string): number => o[k] as number;

function softmax(x: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]!);
  const e = Float64Array.from(x as ArrayLike<number>, (v) => Math.exp(v - m));
  let s = 0;
  for (const v of e) s += v;
  return e.map((v) => v / s);
}

function checkLosses(method: string, losses: ArrayLike<number>, T: number, positive: boolean): void {
  if (losses.length !== T) throw new InternalError(`${method}: ${losses.length} losses for ${T} tasks`);
  for (let i = 0; i < T; i++) {
    const l = losses[i]!;
    if (!Number.isFinite(l) || (positive && !(l > 0)))
      throw new ReconError(`--method ${method} needs ${positive ? 'positive ' : ''}finite losses; task ${i + 1} has loss ${l}`);
  }
}

function arrayField(state: MethodState, key: string, length: number): number[] {
  const v = state.data[key];
  if (!Array.isArray(v) || v.length !== length || v.some((x) => typeof x !== 'number'))
    throw new ReconError(`method state: field "${key}" is missing or has the wrong length`);
  return v;
}

/** Instance with no state across steps. */
function stateless(spec: MethodSpec, options: MethodOptionValues, step: (input: MethodStepInput) => MethodStepResult): MethodInstance {
  return {
    spec,
    options,
    step,
    state: () => ({ method: spec.name, version: 1, data: {} }),
    load: (s) => checkStateMethod(spec, s),
  };
}

function checkStateMethod(spec: MethodSpec, s: MethodState): void {
  if (s.method !== spec.name || s.version !== 1) throw new ReconError(`cannot resume: the checkpoint holds the state of method ${s.method}, not ${spec.name}`);
}

const MAX_NORM_OPTION = (fallback: number, what: string): MethodOptionSpec => ({
  name: 'max_norm',
  kind: 'number',
  default: fallback,
  min: 0,
  description: `clip the shared update to this norm, as torch.nn.utils.clip_grad_norm_ in ${what} (0: no clipping)`,
});

const DUAL_CONE_OPTIONS: readonly MethodOptionSpec[] = [
  { name: 'norm_eps', kind: 'number', default: 1e-4, min: 0, description: 'Gram traces below this count as zero (TorchJD normalize)' },
  { name: 'reg_eps', kind: 'number', default: 1e-4, min: 0, description: 'added to the diagonal of the trace-normalised Gram (TorchJD regularize)' },
];

function specs(): MethodSpec[] {
  return [
    /**
     * Equal weighting: the gradient of Σ_i L_i (Recon's `Baseline` search, LibMTL EW).
     */
    {
      name: 'ew',
      title: 'Equal weighting',
      source: 'Recon `Baseline` / LibMTL EW: the gradient of Σ_i L_i',
      needs: [],
      stateful: false,
      options: [],
      create(ctx, options) {
        return stateless(this, options, () => ({ shared: ones(ctx.tasks), taskSpecific: ones(ctx.tasks) }));
      },
    },
    /**
     * Uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018): loss Σ_i exp(−s_i)·L_i + s_i with
     * learned log-variances s_i (init 0), trained by the scan's optimizer like model parameters, as
     * LibMTL's UW (an nn.Parameter of the model). Without the ½ factors of LibMTL (which also starts at s = −0.5).
     */
    {
      name: 'uw',
      title: 'Uncertainty weighting',
      source: 'Kendall, Gal & Cipolla, CVPR 2018 (learned log-variances, as LibMTL UW / nash-mtl Uncertainty)',
      needs: ['losses'],
      stateful: true,
      options: [{ name: 'init', kind: 'number', default: 0, description: 'initial log-variance s_i' }],
      create(ctx, options) {
        const spec = this;
        const T = ctx.tasks;
        const s = new Float32Array(T).fill(num(options, 'init'));
        return {
          spec,
          options,
          learned: s,
          // Loss Σ exp(−s_i)·L_i + s_i: coefficient exp(−s_i) on g_i, ∂/∂s_i = 1 − exp(−s_i)·L_i.
          step({ losses }) {
            checkLosses('uw', losses, T, false);
            const w = Float64Array.from(s, (x) => Math.exp(-x));
            return { shared: w, taskSpecific: w.slice(), learnedGradient: Float32Array.from(w, (x, i) => 1 - x * losses[i]!) };
          },
          state: () => ({ method: 'uw', version: 1, data: { s: Array.from(s) } }),
          load(state) {
            checkStateMethod(spec, state);
            s.set(arrayField(state, 's', T));
          },
        };
      },
    },
    /**
     * Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019; lorenmt/mtan, LibMTL DWA): from the
     * third epoch, w = T·softmax((L̄_{e−1}/L̄_{e−2})/temperature) with L̄ the epoch-mean training
     * losses; 1 before. Temperature 2 as the paper.
     */
    {
      name: 'dwa',
      title: 'Dynamic weight average',
      source: 'Liu, Johns & Davison, CVPR 2019 (MTAN; lorenmt/mtan, LibMTL DWA)',
      needs: ['losses'],
      stateful: true,
      options: [{ name: 'temperature', kind: 'number', default: 2, greaterThan: 0, description: 'softmax temperature T' }],
      create(ctx, options) {
        const spec = this;
        const T = ctx.tasks;
        const temperature = num(options, 'temperature');
        // Running sums of the epoch being trained, and the average losses of completed epochs.
        let epoch = -1;
        let count = 0;
        let sums = new Float64Array(T);
        let averages: { epoch: number; mean: number[] }[] = [];
        return {
          spec,
          options,
          step({ losses, epoch: e }) {
            checkLosses('dwa', losses, T, false);
            if (e !== epoch) {
              if (epoch >= 0 && count > 0) averages = [...averages, { epoch, mean: Array.from(sums, (x) => x / count) }].slice(-2);
              epoch = e;
              count = 0;
              sums = new Float64Array(T);
            }
            const last = averages.find((a) => a.epoch === e - 1);
            const before = averages.find((a) => a.epoch === e - 2);
            let w = ones(T);
            if (e > 1 && last && before) w = scaled(softmax(last.mean.map((x, i) => x / before.mean[i]! / temperature)), T);
            for (let i = 0; i < T; i++) sums[i]! += losses[i]!;
            count++;
            return { shared: w, taskSpecific: w.slice() };
          },
          state: () => ({
            method: 'dwa',
            version: 1,
            data: { epoch, count, sums: Array.from(sums), averageEpochs: averages.map((a) => a.epoch), averages: averages.flatMap((a) => a.mean) },
          }),
          load(state) {
            checkStateMethod(spec, state);
            epoch = state.data['epoch'] as number;
            count = state.data['count'] as number;
            sums = Float64Array.from(arrayField(state, 'sums', T));
            const epochs = state.data['averageEpochs'] as number[];
            const flat = arrayField(state, 'averages', epochs.length * T);
            averages = epochs.map((ep, k) => ({ epoch: ep, mean: flat.slice(k * T, (k + 1) * T) }));
          },
        };
      },
    },
    /**
     * Random Loss Weighting (Lin et al., TMLR 2022; LibMTL RLW): w = softmax(z), z ~ N(0, I) drawn
     * per step from the scan's seeded generator; weights sum to 1 as in the reference.
     */
    {
      name: 'rlw',
      title: 'Random loss weighting',
      source: 'Lin et al., TMLR 2022 (LibMTL RLW): w = softmax(N(0, I)), drawn from the scan seed and step',
      needs: [],
      stateful: false,
      options: [],
      create(ctx, options) {
        const T = ctx.tasks;
        return stateless(this, options, ({ rng }) => {
          const z = Float64Array.from({ length: T }, () => rng.normal());
          const w = softmax(z);
          return { shared: w, taskSpecific: w.slice() };
        });
      },
    },
    /**
     * Geometric Loss Strategy (Chennupati et al., CVPR-W 2019; LibMTL GLS): minimise (Π_i L_i)^(1/T),
     * whose gradient is Σ_i (Π L)^(1/T)/(T·L_i)·g_i. Needs positive losses.
     */
    {
      name: 'gls',
      title: 'Geometric loss strategy',
      source: 'Chennupati et al., CVPR-W 2019 (MultiNet++; LibMTL GLS): minimise (Π L_i)^(1/T)',
      needs: ['losses'],
      stateful: false,
      options: [],
      create(ctx, options) {
        const T = ctx.tasks;
        return stateless(this, options, ({ losses }) => {
          checkLosses('gls', losses, T, true);
          // ∂(Π L)^(1/T)/∂θ = Σ_i (Π L)^(1/T)/(T·L_i)·g_i, computed in log space.
          let meanLog = 0;
          for (let i = 0; i < T; i++) meanLog += Math.log(losses[i]!) / T;
          const w = Float64Array.from({ length: T }, (_, i) => Math.exp(meanLog - Math.log(losses[i]!)) / T);
          return { shared: w, taskSpecific: w.slice() };
        });
      },
    },
    /**
     * FAMO (Liu et al., NeurIPS 2023; Cranial-XIX/FAMO, LibMTL FAMO): loss Σ_i z_i·log(L_i + 1e-8)/c
     * with z = softmax(ξ), c = Σ z_i/(L_i + 1e-8) held constant; after each update ξ takes one Adam
     * step (lr w_lr = 0.025, L2 weight decay gamma = 1e-3 as the authors' run scripts, min_losses = 0)
     * on J_softmaxᵀ·(log L_before − log L_after) measured on the same batch.
     */
    {
      name: 'famo',
      title: 'Fast adaptive multitask optimization',
      source: 'Liu et al., NeurIPS 2023 (Cranial-XIX/FAMO, LibMTL FAMO)',
      needs: ['losses', 'losses-after-update'],
      stateful: true,
      options: [
        {
          name: 'gamma',
          kind: 'number',
          default: 1e-3,
          min: 0,
          description: "weight decay of the task logits (the authors' run scripts; LibMTL FAMO_w_gamma)",
        },
        { name: 'w_lr', kind: 'number', default: 0.025, greaterThan: 0, description: 'Adam learning rate of the task logits' },
      ],
      create(ctx, options) {
        const spec = this;
        const T = ctx.tasks;
        const gamma = num(options, 'gamma');
        const lr = num(options, 'w_lr');
        const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
        let logits = new Float64Array(T);
        let m = new Float64Array(T);
        let v = new Float64Array(T);
        let t = 0;
        let prev: Float64Array | null = null;
        // min_losses = 0 as in both references; +1e-8 keeps the logarithms finite.
        const shifted = (l: ArrayLike<number>, i: number): number => l[i]! + 1e-8;
        return {
          spec,
          options,
          step({ losses }) {
            checkLosses('famo', losses, T, false);
            const z = softmax(logits);
            let c = 0;
            for (let i = 0; i < T; i++) c += z[i]! / shifted(losses, i);
            // Loss Σ_i z_i·log(D_i)/c with c held constant: coefficient z_i/(c·D_i) on g_i.
            const w = Float64Array.from({ length: T }, (_, i) => z[i]! / (c * shifted(losses, i)));
            prev = Float64Array.from(losses);
            return { shared: w, taskSpecific: w.slice() };
          },
          afterUpdate(after) {
            if (!prev || !after) return;
            for (let i = 0; i < T; i++) if (!Number.isFinite(after[i]!)) return;
            const z = softmax(logits);
            const delta = Float64Array.from({ length: T }, (_, i) => Math.log(shifted(prev!, i)) - Math.log(shifted(after, i)));
            let zd = 0;
            for (let i = 0; i < T; i++) zd += z[i]! * delta[i]!;
            // d = J_softmaxᵀ·δ, then one torch.optim.Adam step with L2 weight decay γ.
            t++;
            const bc1 = 1 - beta1 ** t;
            const bc2 = 1 - beta2 ** t;
            for (let i = 0; i < T; i++) {
              const g = z[i]! * (delta[i]! - zd) + gamma * logits[i]!;
              m[i] = beta1 * m[i]! + (1 - beta1) * g;
              v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
              const denom = Math.sqrt(v[i]!) / Math.sqrt(bc2) + eps;
              logits[i] = logits[i]! - (lr / bc1) * (m[i]! / denom);
            }
            prev = null;
          },
          state: () => ({
            method: 'famo',
            version: 1,
            data: { logits: Array.from(logits), m: Array.from(m), v: Array.from(v), t, prev: prev ? Array.from(prev) : null },
          }),
          load(state) {
            checkStateMethod(spec, state);
            logits = Float64Array.from(arrayField(state, 'logits', T));
            m = Float64Array.from(arrayField(state, 'm', T));
            v = Float64Array.from(arrayField(state, 'v', T));
            t = state.data['t'] as number;
            prev = state.data['prev'] === null ? null : Float64Array.from(arrayField(state, 'prev', T));
          },
        };
      },
    },
    /**
     * GradNorm (Chen et al., ICML 2018): task weights w (init 1) scale the losses; their gradient is
     * that of L_grad = Σ_i |w_i‖g_i^W‖ − Ḡ·r_i^α| (target constant, α = 1.5) with ‖g_i^W‖ from the
     * Gram diagonal of the last shared layer W; w is stepped by the scan's optimizer and
     * renormalised to Σ w = T after every update, as in the paper.
     */
    {
      name: 'gradnorm',
      title: 'GradNorm',
      source: 'Chen et al., ICML 2018',
      needs: ['losses', 'layer-grams'],
      stateful: true,
      options: [
        { name: 'alpha', kind: 'number', default: 1.5, min: 0, description: 'strength of the restoring force' },
        { name: 'layer', kind: 'layer', default: undefined, description: 'shared layer W whose gradient norms are balanced (default: the last shared layer)' },
      ],
      create(ctx, options) {
        const spec = this;
        const T = ctx.tasks;
        const alpha = num(options, 'alpha');
        const layerName = (options['layer'] as string | undefined) ?? ctx.groups[ctx.groups.length - 1];
        const layer = layerName === undefined ? -1 : ctx.groups.indexOf(layerName);
        if (layer < 0) throw new ReconError(`--method-opt layer=${layerName}: not a shared layer of this model (shared layers: ${ctx.groups.join(', ')})`);
        const w = new Float32Array(T).fill(1);
        let initial: Float64Array | null = null;
        return {
          spec,
          options,
          learned: w,
          step({ losses, groupGrams }) {
            checkLosses('gradnorm', losses, T, true);
            if (!initial) initial = Float64Array.from(losses);
            const G = groupGrams[layer];
            if (!G) throw new InternalError('gradnorm needs the Gram of its layer');
            // ‖∇_W w_i·L_i‖ = w_i·‖g_i^W‖ from the layer Gram's diagonal.
            const n = Float64Array.from({ length: T }, (_, i) => Math.sqrt(Math.max(G[i * T + i]!, 0)));
            const Gw = Float64Array.from({ length: T }, (_, i) => w[i]! * n[i]!);
            const meanG = Gw.reduce((a, b) => a + b, 0) / T;
            const ratio = Float64Array.from({ length: T }, (_, i) => losses[i]! / initial![i]!);
            const meanRatio = ratio.reduce((a, b) => a + b, 0) / T;
            // L_grad = Σ_i |G_i − Ḡ·r_i^α| with the target held constant: ∂/∂w_i = sign(·)·‖g_i^W‖.
            const grad = Float32Array.from({ length: T }, (_, i) => Math.sign(Gw[i]! - meanG * (ratio[i]! / meanRatio) ** alpha) * n[i]!);
            const weights = Float64Array.from(w);
            return { shared: weights, taskSpecific: weights.slice(), learnedGradient: grad };
          },
          afterUpdate() {
            // Renormalise so that Σ w_i = T after every update (the paper's Section 3.2).
            let s = 0;
            for (const x of w) s += x;
            if (s > 0) for (let i = 0; i < T; i++) w[i] = (w[i]! * T) / s;
          },
          state: () => ({ method: 'gradnorm', version: 1, data: { w: Array.from(w), initial: initial ? Array.from(initial) : null } }),
          load(state) {
            checkStateMethod(spec, state);
            w.set(arrayField(state, 'w', T));
            initial = state.data['initial'] === null ? null : Float64Array.from(arrayField(state, 'initial', T));
          },
        };
      },
    },
    /**
     * MGDA (Sener & Koltun, NeurIPS 2018): T × the min-norm point of the convex hull, Recon's
     * mgd_model; optional gradient normalisers as LibMTL's mgda_gn (default none).
     */
    {
      name: 'mgda',
      title: 'MGDA',
      source: 'Sener & Koltun, NeurIPS 2018 (Recon mgd_model; normalisers as LibMTL mgda_gn)',
      needs: ['gram', 'losses'],
      stateful: false,
      options: [
        { name: 'normalization', kind: 'choice', default: 'none', choices: MGDA_NORMALIZATIONS, description: 'gradient normaliser before the min-norm solve' },
      ],
      create(ctx, options) {
        const T = ctx.tasks;
        const normalization = options['normalization'] as MgdaNormalization;
        return stateless(this, options, ({ gram, losses }) => {
          const G = symmetricGram(gram, T);
          if (normalization === 'loss' || normalization === 'loss+') checkLosses('mgda', losses, T, false);
          const w =
            normalization === 'none'
              ? combinationWeights('mgda', G, T, { rng: NO_RANDOM })
              : scaled(mgdaNormalizedWeights(G, T, losses, normalization).coefficients, T);
          return { shared: w, taskSpecific: ones(T) };
        });
      },
    },
    /**
     * PCGrad (Yu et al., NeurIPS 2020) as Recon's pcgrad_model (see methods.ts).
     */
    {
      name: 'pcgrad',
      title: 'PCGrad',
      source: 'Yu et al., NeurIPS 2020 (Recon pcgrad_model)',
      needs: ['gram'],
      stateful: false,
      options: [],
      create(ctx, options) {
        const T = ctx.tasks;
        return stateless(this, options, ({ gram, rng }) => ({ shared: combinationWeights('pcgrad', gram, T, { rng }), taskSpecific: ones(T) }));
      },
    },
    /**
     * CAGrad (Liu et al., NeurIPS 2021) as Recon's cagrad_model, c = 0.2 (see methods.ts).
     */
    {
      name: 'cagrad',
      title: 'CAGrad',
      source: 'Liu et al., NeurIPS 2021 (Recon cagrad_model)',
      needs: ['gram'],
      stateful: false,
      options: [{ name: 'alpha', kind: 'number', default: DEFAULT_CAGRAD_ALPHA, min: 0, description: 'c, the radius factor (also --cagrad-alpha)' }],
      create(ctx, options) {
        const T = ctx.tasks;
        const alpha = num(options, 'alpha');
        return stateless(this, options, ({ gram }) => ({ shared: cagradSolution(gram, T, alpha).coefficients, taskSpecific: ones(T) }));
      },
    },
    /**
     * IMTL-G (Liu et al., ICLR 2021): closed form from the Gram via unit-vector differences, × T
     * (see gram-methods.ts imtlGWeights).
     */
    {
      name: 'imtl-g',
      title: 'IMTL-G',
      source: 'Liu et al., ICLR 2021 (closed form as LibMTL IMTL; TorchJD IMTLG when singular)',
      needs: ['gram'],
      stateful: false,
      options: [],
      create(ctx, options) {
        const T = ctx.tasks;
        return stateless(this, options, ({ gram }) => ({ shared: scaled(imtlGWeights(symmetricGram(gram, T), T), T), taskSpecific: ones(T) }));
      },
    },
    /**
     * Nash-MTL (Navon et al., ICML 2022; AvivNavon/nash-mtl, LibMTL Nash_MTL): Gα = 1/α solved
     * exactly (see powerBargainingSolution); the weighted-loss backward gives heads α_i·g_i, and the
     * shared gradient is clipped to max_norm = 1 as the reference's clip_grad_norm_.
     */
    {
      name: 'nash-mtl',
      title: 'Nash-MTL',
      source: 'Navon et al., ICML 2022 (AvivNavon/nash-mtl, LibMTL Nash_MTL)',
      needs: ['gram'],
      stateful: true,
      options: [
        MAX_NORM_OPTION(1, 'the reference'),
        { name: 'update_weights_every', kind: 'integer', default: 1, min: 1, description: 'solve for α every N steps, reuse it in between' },
      ],
      create(ctx, options) {
        const spec = this;
        const T = ctx.tasks;
        const maxNorm = num(options, 'max_norm');
        const every = num(options, 'update_weights_every');
        let alpha: Float64Array = ones(T); // the reference's initial prvs_alpha
        let counter = 0;
        return {
          spec,
          options,
          step({ gram }) {
            const G = symmetricGram(gram, T);
            // No solution (0 in the convex hull of the gradients): keep the previous α, as the
            // reference does when its solver fails.
            if (counter % every === 0) alpha = powerBargainingSolution(G, T, 1) ?? alpha;
            counter++;
            // Weighted-loss backward: heads get α_i·g_i; only the shared gradient is clipped.
            return { shared: scaled(alpha, clipFactor(G, alpha, T, maxNorm)), taskSpecific: alpha.slice() };
          },
          state: () => ({ method: 'nash-mtl', version: 1, data: { alpha: Array.from(alpha), counter } }),
          load(state) {
            checkStateMethod(spec, state);
            alpha = Float64Array.from(arrayField(state, 'alpha', T));
            counter = state.data['counter'] as number;
          },
        };
      },
    },
    /**
     * Aligned-MTL (Senushkin et al., CVPR 2023; SamsungLabs/MTL): see alignedMtlWeights.
     */
    {
      name: 'aligned-mtl',
      title: 'Aligned-MTL',
      source: 'Senushkin et al., CVPR 2023 (SamsungLabs/MTL ProcrustesSolver, LibMTL Aligned_MTL)',
      needs: ['gram'],
      stateful: false,
      options: [
        { name: 'scale_mode', kind: 'choice', default: 'min', choices: ALIGNED_SCALE_MODES, description: 'eigenvalue that scales the aligned gradients' },
      ],
      create(ctx, options) {
        const T = ctx.tasks;
        const mode = options['scale_mode'] as AlignedScaleMode;
        return stateless(this, options, ({ gram }) => ({ shared: alignedMtlWeights(symmetricGram(gram, T), T, mode), taskSpecific: ones(T) }));
      },
    },
    /**
     * UPGrad (Quinton & Rey 2024; TorchJD UPGrad, mean preference): see upgradWeights; × T.
     */
    {
      name: 'upgrad',
      title: 'UPGrad',
      source: 'Quinton & Rey, 2024, "Jacobian Descent for Multi-Objective Optimization" (TorchJD UPGrad)',
      needs: ['gram'],
      stateful: false,
      options: DUAL_CONE_OPTIONS,
      create(ctx, options) {
        const T = ctx.tasks;
        return stateless(this, options, ({ gram }) => ({
          shared: scaled(upgradWeights(symmetricGram(gram, T), T, num(options, 'norm_eps'), num(options, 'reg_eps')), T),
          taskSpecific: ones(T),
        }));
      },
    },
    /**
     * DualProj (TorchJD DualProj, mean preference): see dualprojWeights; × T.
     */
    {
      name: 'dualproj',
      title: 'DualProj',
      source: 'Quinton & Rey, 2024 (TorchJD DualProj; GEM projection, Lopez-Paz & Ranzato 2017)',
      needs: ['gram'],
      stateful: false,
      options: DUAL_CONE_OPTIONS,
      create(ctx, options) {
        const T = ctx.tasks;
        return stateless(this, options, ({ gram }) => ({
          shared: scaled(dualprojWeights(symmetricGram(gram, T), T, num(options, 'norm_eps'), num(options, 'reg_eps')), T),
          taskSpecific: ones(T),
        }));
      },
    },
    /**
     * GradVac (Wang et al., ICLR 2021): β = 0.01 from the paper, the algorithm as LibMTL's GradVac
     * with one EMA target per task pair and shared layer; returns per-layer weights (gradvacStep).
     */
    {
      name: 'gradvac',
      title: 'GradVac',
      source: 'Wang et al., ICLR 2021 (β from the paper; algorithm as LibMTL GradVac)',
      needs: ['layer-grams'],
      stateful: true,
      options: [
        { name: 'beta', kind: 'number', default: 0.01, min: 0, description: 'EMA rate of the cosine targets φ̂' },
        {
          name: 'group',
          kind: 'choice',
          default: 'layer',
          choices: ['layer', 'whole'],
          description: 'one target per shared layer, or one for the whole trunk',
        },
      ],
      create(ctx, options) {
        const spec = this;
        const T = ctx.tasks;
        const beta = num(options, 'beta');
        const whole = options['group'] === 'whole';
        const K = whole ? 1 : ctx.groups.length;
        let targets = new Float64Array(T * T * K);
        return {
          spec,
          options,
          step({ gram, groupGrams, rng }) {
            const grams = whole ? [symmetricGram(gram, T)] : groupGrams.map((g) => symmetricGram(g, T));
            if (grams.length !== K) throw new InternalError(`gradvac: ${grams.length} layer Grams for ${K} groups`);
            const perGroup = gradvacStep(grams, T, targets, beta, rng);
            return whole ? { shared: perGroup[0]!, taskSpecific: ones(T) } : { shared: ones(T), perGroup, taskSpecific: ones(T) };
          },
          state: () => ({ method: 'gradvac', version: 1, data: { targets: Array.from(targets) } }),
          load(state) {
            checkStateMethod(spec, state);
            targets = Float64Array.from(arrayField(state, 'targets', T * T * K));
          },
        };
      },
    },
    /**
     * FairGrad (Ban & Ji, ICML 2024; OptMN-Lab/fairgrad): Gw = w^(−1/α), α = 1; as the authors'
     * code the update is n_tasks·Σ w_i g_i clipped to max_norm = 1, heads get their own gradient.
     */
    {
      name: 'fairgrad',
      title: 'FairGrad',
      source: 'Ban & Ji, ICML 2024 (OptMN-Lab/fairgrad)',
      needs: ['gram'],
      stateful: true,
      options: [
        { name: 'alpha', kind: 'number', default: 1, greaterThan: 0, description: 'α of α-fairness (1: proportional fairness)' },
        MAX_NORM_OPTION(1, "the authors' code"),
      ],
      create(ctx, options) {
        const spec = this;
        const T = ctx.tasks;
        const alpha = num(options, 'alpha');
        const maxNorm = num(options, 'max_norm');
        let w: Float64Array = new Float64Array(T).fill(1 / T); // the reference's x_start
        return {
          spec,
          options,
          step({ gram }) {
            const G = symmetricGram(gram, T);
            w = powerBargainingSolution(G, T, alpha) ?? w;
            // The authors' overwrite_grad multiplies Σ w_i g_i by n_tasks, then clips.
            const coef = scaled(w, T);
            return { shared: scaled(coef, clipFactor(G, coef, T, maxNorm)), taskSpecific: ones(T) };
          },
          state: () => ({ method: 'fairgrad', version: 1, data: { w: Array.from(w) } }),
          load(state) {
            checkStateMethod(spec, state);
            w = Float64Array.from(arrayField(state, 'w', T));
          },
        };
      },
    },
  ];
}

/** For Gram methods that draw nothing. */
const NO_RANDOM: MethodRandom = {
  permutation: () => {
    throw new InternalError('this method draws no permutation');
  },
  normal: () => {
    throw new InternalError('this method draws no random number');
  },
};

export const METHOD_SPECS: ReadonlyMap<MethodName, MethodSpec> = new Map(specs().map((s) => [s.name, s]));
export const METHOD_NAMES: readonly MethodName[] = [...METHOD_SPECS.keys()];

/**
 * Methods that are known but out of scope: they need element-wise access to gradients (or stored
 * full gradient vectors), which the per-layer Gram design does not provide.
 */
export const ELEMENTWISE_METHODS: Readonly<Record<string, string>> = {
  graddrop: 'GradDrop needs the element-wise signs of the gradient of the shared representation',
  'db-mtl': 'DB-MTL keeps an EMA of the full log-loss gradient vectors',
  moco: 'MoCo keeps an EMA of the full normalised gradient vectors',
  excessmtl: 'ExcessMTL accumulates element-wise squared gradients',
};

export function isMethodName(name: string): name is MethodName {
  return METHOD_SPECS.has(name as MethodName);
}

export function methodSpec(name: MethodName): MethodSpec {
  const spec = METHOD_SPECS.get(name);
  if (!spec) throw new ReconError(`unknown method "${name}"`);
  return spec;
}

/**
 * Parses and validates `key=value` method options (strings from the command line or numbers from
 * a library caller) against the method's option specs; returns only the given ones, typed.
 * Every error is a one-line ReconError naming the option.
 */
export function parseMethodOptions(name: MethodName, given: Readonly<Record<string, string | number>>): MethodOptionValues {
  const spec = methodSpec(name);
  const out: MethodOptionValues = {};
  for (const [key, raw] of Object.entries(given)) {
    const opt = spec.options.find((o) => o.name === key);
    if (!opt) {
      const known = spec.options.map((o) => o.name);
      throw new ReconError(`--method-opt ${key}: ${name} has ${known.length === 0 ? 'no options' : `no option "${key}" (options: ${known.join(', ')})`}`);
    }
    if (opt.kind === 'choice') {
      const v = String(raw);
      if (!opt.choices!.includes(v)) throw new ReconError(`--method-opt ${key} must be one of ${opt.choices!.join(', ')} for ${name}, got "${v}"`);
      out[key] = v;
    } else if (opt.kind === 'layer') {
      const v = String(raw);
      if (v === '') throw new ReconError(`--method-opt ${key} needs a layer name`);
      out[key] = v;
    } else {
      const v = typeof raw === 'number' ? raw : raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(v)) throw new ReconError(`--method-opt ${key} must be a number for ${name}, got "${raw}"`);
      if (opt.kind === 'integer' && !Number.isInteger(v)) throw new ReconError(`--method-opt ${key} must be an integer for ${name}, got "${raw}"`);
      if (opt.min !== undefined && v < opt.min) throw new ReconError(`--method-opt ${key} must be ≥ ${opt.min} for ${name}, got ${v}`);
      if (opt.greaterThan !== undefined && !(v > opt.greaterThan))
        throw new ReconError(`--method-opt ${key} must be > ${opt.greaterThan} for ${name}, got ${v}`);
      out[key] = v;
    }
  }
  return out;
}

/** Defaults overlaid with the given (already parsed) options. */
export function resolveMethodOptions(name: MethodName, given: MethodOptionValues = {}): MethodOptionValues {
  const out: MethodOptionValues = {};
  for (const o of methodSpec(name).options) if (o.default !== undefined) out[o.name] = o.default;
  return { ...out, ...parseMethodOptions(name, given) };
}

export function createMethod(name: MethodName, ctx: MethodContext, options: MethodOptionValues = {}): MethodInstance {
  if (!Number.isInteger(ctx.tasks) || ctx.tasks < 1) throw new ReconError(`task count must be a positive integer, got ${ctx.tasks}`);
  return methodSpec(name).create(ctx, resolveMethodOptions(name, options));
}

/** Name under which a method's learned scalars live in the optimizer (and its checkpointed state). */
export function learnedParamName(name: MethodName): string {
  return `method:${name}`;
}
