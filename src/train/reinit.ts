import type { Model } from '../onnx/model.js';
import { Tensor } from '../onnx/tensor.js';
import type { ModelAnalysis } from '../analysis/analyze.js';
import { Random } from '../util/random.js';

/**
 * Fresh PyTorch-style initial values for every parameter, as Recon retrains from scratch:
 * convolutions Kaiming-normal (fan_out, ReLU gain, as torchvision's ResNet), Linear weights and
 * biases U(±1/√fan_in), normalisation scales 1 and shifts 0 (running mean 0, variance 1),
 * embeddings N(0, 1). Values depend only on the seed and the parameter's name. Parameters applied
 * by elementwise ops keep their values.
 */
export function reinitialize(model: Model, analysis: ModelAnalysis, seed: number): Model {
  const g = model.graph;
  for (const layer of analysis.layers) {
    // Parameters applied by elementwise ops (decomposed norms, learned embeddings) have no
    // initialisation rule we could infer from the graph; they keep their values.
    if (/^(Add|Sub|Mul|Div)(\+|$)/.test(layer.op)) continue;
    const node = layer.nodes.find((n) => n.opType !== 'Identity')!;
    layer.params.forEach((p, k) => {
      const t = g.initializers.get(p)!;
      const rng = new Random(seed ^ hash(p));
      const data = new Float32Array(t.numel);
      switch (layer.op) {
        case 'Conv':
        case 'ConvTranspose': {
          if (k === 0) {
            const receptive = t.dims.slice(2).reduce((a, b) => a * b, 1);
            const fanOut = t.dims[0]! * receptive;
            rng.fillNormal(data, Math.sqrt(2 / fanOut));
          } else {
            const w = g.initializers.get(layer.params[0]!)!;
            const bound = 1 / Math.sqrt(w.dims.slice(1).reduce((a, b) => a * b, 1));
            rng.fillUniform(data, -bound, bound);
          }
          break;
        }
        case 'BatchNormalization':
        case 'LayerNormalization':
        case 'InstanceNormalization':
          data.fill(k === 0 ? 1 : 0);
          if (layer.op === 'BatchNormalization') {
            const mean = node.inputs[3];
            const variance = node.inputs[4];
            for (const [name, value] of [
              [mean, 0],
              [variance, 1],
            ] as const) {
              const s = name ? g.initializers.get(name) : undefined;
              if (s) g.initializers.set(name!, Tensor.fromArray(name!, 'float32', s.dims, new Float32Array(s.numel).fill(value)));
            }
          }
          break;
        case 'Gather':
          rng.fillNormal(data, 1);
          break;
        default: {
          // Linear (Gemm / MatMul+Add) and elementwise parameters: U(±1/√fan_in) like nn.Linear.
          const weight = g.initializers.get(layer.params[0]!)!;
          const fanIn =
            weight.dims.length >= 2
              ? layer.op === 'Gemm' && node.attrs.int('transB', 0) === 0
                ? weight.dims[0]!
                : layer.op === 'MatMul' || layer.op.startsWith('MatMul')
                  ? weight.dims[0]!
                  : weight.dims[1]!
              : weight.numel;
          const bound = 1 / Math.sqrt(Math.max(fanIn, 1));
          rng.fillUniform(data, -bound, bound);
        }
      }
      g.initializers.set(p, Tensor.fromArray(p, 'float32', t.dims, data));
    });
  }
  return model;
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
