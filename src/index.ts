/**
 * recon-onnx library API. The CLI (`recon`) is a thin layer over these functions.
 *
 * - ONNX I/O and graph IR: loadModel, saveModel, Model, Graph, Node, Tensor, GraphBuilder
 * - Analysis: resolveTasks, analyzeModel, inferShapes
 * - Gradients: createGradientSession, GradientRegistry / createDefaultRegistry (rules)
 * - Search and training: runScan, createOptimizer, evaluateModel, reinitialize, deltaM
 * - Pipeline: runPipeline (scan → select → rewrite → verify → rescan → compare), selectionRule, readRanking
 * - Ablation: runAblation (Recon vs RSL/RSP/first-K/last-K), its table and renderers
 * - Rewrite: reconRewrite, rewrite, verify, selectLayers, CostModel
 * - Reports: ConflictReportBuilder, read/write, HTML/CSV/table/Markdown renderers, the graph view, compareReports, mergeReports
 * - Training elsewhere: branchMapping (PyTorch module → per-task copies), checkTrainingReadiness, inferenceForm/trainingForm
 * - Data: loadDataset, makeDataset, readNpz/writeNpz, Multi-Fashion+MNIST
 */
export { loadModel, type LoadOptions } from './onnx/load.js';
export { saveModel, serializeModel, type SaveOptions } from './onnx/save.js';
export { Model, type OpsetImport, type MetadataEntry } from './onnx/model.js';
export { Graph } from './onnx/graph.js';
export { Node } from './onnx/node.js';
export { Tensor } from './onnx/tensor.js';
export { GraphBuilder, float, floats } from './onnx/builder.js';
export { ReconError, InternalError, isReconError } from './util/errors.js';
export { VERSION } from './util/version.js';
export type { DType } from './onnx/dtype.js';

export { resolveTasks, parseTaskSpec, readTaskSpecFile, LOSS_KINDS, type TaskSpec, type LossKind, type TaskSelection } from './analysis/task-spec.js';
export { analyzeModel, type ModelAnalysis } from './analysis/analyze.js';
export type { Layer } from './analysis/layers.js';
export { inferShapes, type ShapeInfo } from './analysis/shapes.js';
export { buildInspectReport, formatInspectReport, type InspectReport } from './analysis/inspect.js';

export { createGradientSession, GradientSession, type GradientSessionOptions, type GradientStep } from './conflict/gradient-session.js';
export { RuntimeSession, type DeviceSpec, type SessionOptions } from './runtime/session.js';
export type { HostTensor } from './data/host-tensor.js';
export { loadDataset, type Dataset } from './data/dataset.js';
export { readNpz, writeNpz } from './data/npz.js';
export { readNpy, writeNpy } from './data/npy.js';
export { cosineFromGram, normsFromGram, taskPairs } from './conflict/gram.js';
export { buildGradsReport, type GradsReport } from './conflict/grads-report.js';

// Rewrite: Recon's branching by layer name, the general rewrite, verification, selection and cost.
export { reconRewrite, CostModel, type ReconCost, type ReconRewriteResult } from './rewrite/recon.js';
export { rewrite, carryShapes } from './rewrite/rewrite.js';
export { verify, randomFeeds, type VerifyOptions, type VerifyResult } from './rewrite/verify.js';
export { selectLayers, rankByScore, parseLayerList, resolveLayerNames, type SelectionRule, type LayerSelection, type RankedLayer } from './rewrite/select.js';
export { countMacs, countParameters, type ModelCost } from './rewrite/cost.js';
export { readProvenance, PROVENANCE_KEY } from './rewrite/provenance.js';
export type { RewriteSelection, RewriteResult, RewriteSummary, RewriteOptions, LayerRef, TaskRef } from './rewrite/types.js';
export { branchMapping, type BranchMapping, type MappedInitializer, type TaskCopy } from './rewrite/mapping.js';
export { checkTrainingReadiness, type ReadinessCheck, type TrainingReadiness } from './rewrite/training-readiness.js';

// Search and training: the scan (Recon's search phase), optimizers, combination methods, evaluation.
export { runScan, withWeights, type ScanConfig, type ScanHooks, type ScanResult, type ScanCheckpoint } from './conflict/scan.js';
export { createOptimizer, type Optimizer } from './conflict/optimizer.js';
export { evaluateModel, formatMetrics, type TaskMetrics } from './train/evaluate.js';
export { reinitialize } from './train/reinit.js';
export { inferenceForm, trainingForm, type ModelForm, type FormChange } from './train/model-forms.js';
export { deltaM, meanMetrics, METRIC_DIRECTIONS, type DeltaM, type MetricDirection, type MetricName } from './train/delta-m.js';

// The pipeline: Recon end to end as one call, and the layer chooser `rewrite` and `run` share.
export { runPipeline, type PipelineInput, type PipelineHooks, type PipelineResult } from './pipeline/run.js';
export {
  selectionRule,
  readRanking,
  chooseRankedLayers,
  chooseNamedLayers,
  type SelectionRequest,
  type Ranking,
  type LayerChoice,
} from './pipeline/choose-layers.js';
export { writeScanOutputs } from './pipeline/scan-outputs.js';

// Ablation: Recon's selection against its controls (RSL, RSP, first-K, last-K), trained and tabulated.
export {
  runAblation,
  planAblation,
  buildAblationVariants,
  remainingConflict,
  renderAblationCsv,
  renderAblationText,
  readAblationTable,
  CONTROL_KINDS,
  type AblationOptions,
  type AblationHooks,
  type AblationBudget,
  type AblationVariant,
  type AblationTable,
  type AblationRow,
  type AblationSummaryRow,
  type ControlKind,
} from './ablate/index.js';

// Reports: build, read, write, render, compare, merge.
export {
  ConflictReportBuilder,
  readConflictReport,
  writeConflictReport,
  renderHtmlReport,
  renderConflictCsv,
  renderRankingTable,
  compareReports,
  renderCompareText,
  mergeReports,
  renderMarkdownSummary,
  buildGraphView,
  layoutGraph,
  paintGraph,
  renderGraphSvgFile,
  loadReportGraph,
  readStepCosines,
  type ConflictReport,
  type MarkdownOptions,
  type ModelGraphView,
  type GraphViewNode,
  type GraphLayout,
  type GraphPaint,
  type StepCosines,
} from './report/index.js';

// Data sets.
export { makeDataset, takeRows, batchIndices } from './data/dataset.js';
export { buildMultiFashionMnist, writeMultiFashionMnist } from './data/multi-fashion-mnist.js';

// Gradient rules: the registry users extend with their own rules.
export { GradientRegistry } from './autodiff/registry.js';
export { createDefaultRegistry } from './autodiff/register-all.js';
export type { GradientRule, GradientContext, InputGradients } from './autodiff/types.js';
export type { Emitter } from './autodiff/emitter.js';
// Formulations chosen per device (`GradientSessionOptions.lowering` overrides them).
export { loweringFor } from './autodiff/lowering.js';
export type {
  Lowering,
  LoweringOverrides,
  LoweringDevice,
  ConvLowering,
  ConvWeightGradient,
  ConvInputGradient,
  ConvBorderSplit,
} from './autodiff/lowering.js';
