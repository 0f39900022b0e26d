/**
 * Lowerings: which standard-op formulation a gradient rule emits where several compute the same
 * values (in the spirit of JAX's per-platform lowerings). One rule per op, the formulation chosen
 * per graph from the device the graph will run on, so a CPU choice never leaks into a CUDA graph
 * and tests or benchmarks pick one without touching process-wide state.
 */

/** The Conv weight-gradient (dW) formulations of B.3, kept side by side so each device gets its fastest. */
export type ConvWeightGradient = 'swapped-conv' | 'per-tap-matmul' | 'im2col-gemm';

/** The Conv input-gradient (dX) formulations: onnxruntime's ConvTranspose, or Gather + GEMM per block of positions. */
export type ConvInputGradient = 'conv-transpose' | 'im2col-gemm';

/**
 * im2col forms: whether spatial axes are split into exact border classes so that no GEMM
 * multiplies padding, chosen by an estimate of each plan's cost ('auto'), or never / always.
 */
export type ConvBorderSplit = 'auto' | 'never' | 'always';

export interface ConvLowering {
  weightGradient: ConvWeightGradient;
  inputGradient: ConvInputGradient;
  split: ConvBorderSplit;
}

/** Every formulation choice a graph is built with. */
export interface Lowering {
  conv: ConvLowering;
}

/** Per-field overrides of a device's defaults (`GradientSessionOptions.lowering`). */
export interface LoweringOverrides {
  conv?: Partial<ConvLowering>;
}

export type LoweringDevice = 'cpu' | 'cuda';

/**
 * The fastest formulations measured per device (bench/RESULTS.md). On onnxruntime's CPU EP the
 * Conv and ConvTranspose kernels run one small GEMM per image, which starves the GEMM when the
 * spatial extent is small, while the im2col forms contract batch and positions in one large GEMM.
 * On CUDA (H200, batch 256) cuDNN's forms win only on dense convolutions (ResNet-18 grads 0.79×)
 * and lose by 1.15–1.85× on depthwise convolutions and on a U-Net, so im2col stays the default.
 */
const DEVICE_LOWERING: Record<LoweringDevice, Lowering> = {
  cpu: { conv: { weightGradient: 'im2col-gemm', inputGradient: 'im2col-gemm', split: 'auto' } },
  cuda: { conv: { weightGradient: 'im2col-gemm', inputGradient: 'im2col-gemm', split: 'auto' } },
};

/** The lowering for graphs run on `device`, with `overrides` applied field by field. */
export function loweringFor(device: LoweringDevice, overrides: LoweringOverrides = {}): Lowering {
  return { conv: { ...DEVICE_LOWERING[device].conv, ...overrides.conv } };
}
