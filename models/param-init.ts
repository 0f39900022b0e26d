import { Random } from '../src/util/random.js';

/** How a parameter or buffer is filled; mirrors the PyTorch initialisers the models use. */
export type ParamInit = { kind: 'constant'; value: number } | { kind: 'normal'; std: number } | { kind: 'uniform'; bound: number };

/** torchvision ResNet's `kaiming_normal_(mode='fan_out', nonlinearity='relu')`: std = √(2 / fan_out). */
export function kaimingNormalFanOut(outChannels: number, kernelElements: number): ParamInit {
  return { kind: 'normal', std: Math.sqrt(2 / (outChannels * kernelElements)) };
}

/**
 * PyTorch's default for Linear and Conv: kaiming_uniform(a=√5) on the weight and the bias bound
 * used by reset_parameters both come out as U(±1/√fan_in).
 */
export function pytorchDefaultUniform(fanIn: number): ParamInit {
  return { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) };
}

/**
 * Each parameter draws from its own stream keyed by (seed, name), so its values depend only on
 * the seed and its name: building at another opset, or adding layers, changes no other weights.
 */
export function initValues(seed: number, name: string, count: number, init: ParamInit): Float32Array {
  const out = new Float32Array(count);
  switch (init.kind) {
    case 'constant':
      return out.fill(init.value);
    case 'normal':
      return new Random(streamSeed(seed, name)).fillNormal(out, init.std);
    case 'uniform':
      return new Random(streamSeed(seed, name)).fillUniform(out, -init.bound, init.bound);
  }
}

/** FNV-1a over `seed/name`. */
function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}/${name}`) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Row-major [rows, cols] → [cols, rows]: the layout exporters store for MatMul-form Linear weights. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}
