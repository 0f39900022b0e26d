import type { Model } from '../src/onnx/index.js';
import { NetBuilder, type ModelBuildOptions } from './net-builder.js';
import { gelu, layerNorm, multiHeadSelfAttention } from './transformer-layers.js';

export const TRANSFORMER_VOCAB = 50;
export const TRANSFORMER_SEQ_LEN = 12;
export const TRANSFORMER_DIM = 32;
export const TRANSFORMER_CLASSES = 4;
const HEADS = 4;
const MLP_HIDDEN = 64;
const LAYERS = 2;

/**
 * A pre-norm transformer encoder over int64 tokens [N,12]: `embed` (Gather) + `pos_embed`, two
 * `layers.i` (norm1 → 4-head attention → residual, norm2 → MLP 32→64→32 with GELU → residual),
 * final `norm`, mean over tokens, then `cls` (32→4) = T1 and `reg` (32→1) = T2.
 */
export function buildTransformer(options: ModelBuildOptions): Model {
  const net = new NetBuilder(options);
  const root = net.root;
  const tokens = net.input('tokens', 'int64', ['N', TRANSFORMER_SEQ_LEN]);
  const embed = root.child('embed');
  // nn.Embedding draws N(0, 1); a ViT-style positional table uses std 0.02.
  const table = net.parameter(embed, 'weight', [TRANSFORMER_VOCAB, TRANSFORMER_DIM], { kind: 'normal', std: 1 });
  const positions = net.parameter(root, 'pos_embed', [1, TRANSFORMER_SEQ_LEN, TRANSFORMER_DIM], { kind: 'normal', std: 0.02 });
  let x = net.add(net.node1(net.call(embed), 'Gather', [table, tokens], { axis: 0 }), positions, root);
  for (let i = 0; i < LAYERS; i++) {
    const layer = root.listItem('layers', i);
    const attended = multiHeadSelfAttention(net, layerNorm(net, x, layer.child('norm1'), TRANSFORMER_DIM), layer.child('attn'), {
      dim: TRANSFORMER_DIM,
      heads: HEADS,
      seqLen: TRANSFORMER_SEQ_LEN,
    });
    x = net.add(x, attended, layer);
    const mlp = layer.child('mlp');
    let h = layerNorm(net, x, layer.child('norm2'), TRANSFORMER_DIM);
    h = gelu(net, net.linear(h, mlp.child('fc1'), TRANSFORMER_DIM, MLP_HIDDEN, 'matmul'), mlp.child('act'));
    x = net.add(x, net.linear(h, mlp.child('fc2'), MLP_HIDDEN, TRANSFORMER_DIM, 'matmul'), layer);
  }
  x = layerNorm(net, x, root.child('norm'), TRANSFORMER_DIM);
  // ReduceMean takes its axes as an attribute up to opset 17.
  const pooled = net.node1(root, 'ReduceMean', [x], { axes: [1], keepdims: 0 });
  net.output(net.linear(pooled, root.child('cls'), TRANSFORMER_DIM, TRANSFORMER_CLASSES), 'T1', ['N', TRANSFORMER_CLASSES]);
  net.output(net.linear(pooled, root.child('reg'), TRANSFORMER_DIM, 1), 'T2', ['N', 1]);
  return net.model();
}
