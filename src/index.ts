/**
 * recon-onnx library API. The CLI (`recon`) is a thin layer over these functions.
 *
 * - ONNX I/O and graph IR: loadModel, saveModel, Model, Graph, Node, Tensor, GraphBuilder
 * - Analysis: resolveTasks, analyzeModel, inferShapes
 * - Gradients: createGradientSession
 */
export { loadModel, type LoadOptions } from './onnx/load.js';
export { saveModel, serializeModel, type SaveOptions } from './onnx/save.js';
export { Model, type OpsetImport, type MetadataEntry } from './onnx/model.js';
export { Graph } from './onnx/graph.js';
export { Node } from './onnx/node.js';
export { Tensor } from './onnx/tensor.js';
export { GraphBuilder, float, floats } from './onnx/builder.js';
export { ReconError, isReconError } from './onnx/errors.js';
export type { DType } from './onnx/dtype.js';

export { resolveTasks, parseTaskSpec, readTaskSpecFile, LOSS_KINDS, type TaskSpec, type LossKind, type TaskSelection } from './analysis/task-spec.js';
export { analyzeModel, type ModelAnalysis } from './analysis/analyze.js';
export type { Layer } from './analysis/layers.js';
export { inferShapes, type ShapeInfo } from './analysis/shapes.js';
export { buildInspectReport, formatInspectReport, type InspectReport } from './analysis/inspect.js';

export { createGradientSession, GradientSession, type GradientSessionOptions, type GradientStep } from './runtime/gradient-session.js';
export { RuntimeSession, type DeviceSpec, type SessionOptions } from './runtime/session.js';
export type { HostTensor } from './data/host-tensor.js';
export { loadDataset, type Dataset } from './data/dataset.js';
export { readNpz, writeNpz } from './data/npz.js';
export { readNpy, writeNpy } from './data/npy.js';
export { cosineFromGram, normsFromGram, taskPairs } from './conflict/gram.js';
export { buildGradsReport, type GradsReport } from './conflict/grads-report.js';
