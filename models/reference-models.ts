import type { Model } from '../src/onnx/index.js';
import { buildCnn, buildCnnTrainBn } from './cnn.js';
import { buildEncDec } from './encdec.js';
import { buildMlp } from './mlp.js';
import type { ModelBuildOptions } from './net-builder.js';
import { buildResnet18 } from './resnet18.js';
import { classificationTask, regressionTask, type TaskSpec } from './task-spec.js';
import { buildTransformer, TRANSFORMER_VOCAB } from './transformer.js';

/** Opsets every reference model is written at. */
export const REFERENCE_OPSETS = [13, 17] as const;

/** A dimension of a reference model's interface; `'N'` is the symbolic batch. */
export type InterfaceDim = number | 'N';

export interface ReferenceInput {
  name: string;
  dtype: 'float32' | 'int64';
  dims: readonly InterfaceDim[];
  /** For token inputs: values lie in [0, vocabSize). */
  vocabSize?: number;
}

/** Parameter counts the tests check (BN running statistics are buffers, not parameters). */
export interface ExpectedCounts {
  parameters: number;
  sharedParameters: number;
  /** Layers (parameter-owning modules) outside the task heads. */
  sharedLayers: number;
  /** Parameters of each task's head, by task name. */
  taskParameters: Readonly<Record<string, number>>;
}

export interface ReferenceModel {
  name: string;
  summary: string;
  build: (options: ModelBuildOptions) => Model;
  tasks: TaskSpec;
  input: ReferenceInput;
  /** Graph outputs and their shapes. */
  outputs: Readonly<Record<string, readonly InterfaceDim[]>>;
  /** Module prefix (ending in '.') of each task's head, by task name: its task-specific layers. */
  heads: Readonly<Record<string, string>>;
  expected: ExpectedCounts;
}

const CLASSIFY_T1_T2: TaskSpec = { tasks: [classificationTask('T1'), classificationTask('T2')] };

export const REFERENCE_MODELS: readonly ReferenceModel[] = [
  {
    name: 'mlp',
    summary: 'fc1 16→32, fc2 32→32 (ReLU); heads head1 32→5, head2 32→3; Gemm at opset 13, MatMul+Add at 17',
    build: buildMlp,
    tasks: CLASSIFY_T1_T2,
    input: { name: 'input', dtype: 'float32', dims: ['N', 16] },
    outputs: { T1: ['N', 5], T2: ['N', 3] },
    heads: { T1: 'head1.', T2: 'head2.' },
    expected: { parameters: 1864, sharedParameters: 1600, sharedLayers: 2, taskParameters: { T1: 165, T2: 99 } },
  },
  {
    name: 'cnn',
    summary: 'conv1+bn1, maxpool, residual block conv2/bn2/conv3/bn3, GAP, fc 8→16; heads 16→10',
    build: buildCnn,
    tasks: CLASSIFY_T1_T2,
    input: { name: 'input', dtype: 'float32', dims: ['N', 1, 36, 36] },
    outputs: { T1: ['N', 10], T2: ['N', 10] },
    heads: { T1: 'head1.', T2: 'head2.' },
    expected: { parameters: 1764, sharedParameters: 1424, sharedLayers: 7, taskParameters: { T1: 170, T2: 170 } },
  },
  {
    name: 'cnn_trainbn',
    summary: 'cnn with BatchNormalization in PyTorch training-mode export form',
    build: buildCnnTrainBn,
    tasks: CLASSIFY_T1_T2,
    input: { name: 'input', dtype: 'float32', dims: ['N', 1, 36, 36] },
    outputs: { T1: ['N', 10], T2: ['N', 10] },
    heads: { T1: 'head1.', T2: 'head2.' },
    expected: { parameters: 1764, sharedParameters: 1424, sharedLayers: 7, taskParameters: { T1: 170, T2: 170 } },
  },
  {
    name: 'resnet18',
    summary: "Recon's MnistResNet: ResNet-18 (1-channel conv1), fc 512→100; per task ReLU → Linear 100→10",
    build: buildResnet18,
    tasks: CLASSIFY_T1_T2,
    input: { name: 'input', dtype: 'float32', dims: ['N', 1, 36, 36] },
    outputs: { T1: ['N', 10], T2: ['N', 10] },
    heads: { T1: 'task1.', T2: 'task2.' },
    expected: { parameters: 11_223_560, sharedParameters: 11_221_540, sharedLayers: 41, taskParameters: { T1: 1010, T2: 1010 } },
  },
  {
    name: 'encdec',
    summary: 'U-Net-like encoder–decoder (bilinear Resize, skip Concat); per-pixel seg (7 classes) and depth',
    build: buildEncDec,
    tasks: { tasks: [classificationTask('seg'), regressionTask('depth', 'l1')] },
    input: { name: 'input', dtype: 'float32', dims: ['N', 3, 32, 32] },
    outputs: { seg: ['N', 7, 32, 32], depth: ['N', 1, 32, 32] },
    heads: { seg: 'seg.', depth: 'depth.' },
    expected: { parameters: 10_272, sharedParameters: 10_200, sharedLayers: 10, taskParameters: { seg: 63, depth: 9 } },
  },
  {
    name: 'transformer',
    summary: '2-layer pre-norm encoder (dim 32, 4 heads, GELU MLP 64) over 12 tokens, mean pool; cls 32→4, reg 32→1',
    build: buildTransformer,
    tasks: { tasks: [classificationTask('T1'), regressionTask('T2', 'mse')] },
    input: { name: 'tokens', dtype: 'int64', dims: ['N', 12], vocabSize: TRANSFORMER_VOCAB },
    outputs: { T1: ['N', 4], T2: ['N', 1] },
    heads: { T1: 'cls.', T2: 'reg.' },
    expected: { parameters: 19_301, sharedParameters: 19_136, sharedLayers: 19, taskParameters: { T1: 132, T2: 33 } },
  },
];

export function referenceModel(name: string): ReferenceModel {
  const found = REFERENCE_MODELS.find((m) => m.name === name);
  if (!found) throw new Error(`unknown reference model "${name}" (known: ${REFERENCE_MODELS.map((m) => m.name).join(', ')})`);
  return found;
}
