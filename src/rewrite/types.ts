import type { Graph } from '../onnx/graph.js';
import type { Model } from '../onnx/model.js';
import type { Node } from '../onnx/node.js';

/** A rankable layer: a named group of top-level nodes and the parameter initializers it owns. */
export interface LayerRef {
  name: string;
  /** Node names (top-level graph). */
  nodes: string[];
  /** Initializer names of its trainable parameters. */
  params: string[];
}

/** A task and the graph output that carries its prediction. */
export interface TaskRef {
  name: string;
  output: string;
}

export interface RewriteSelection {
  layers: LayerRef[];
  tasks: TaskRef[];
}

/** For every top-level node, the names of the tasks whose output it reaches. */
export type TaskReach = ReadonlyMap<Node, ReadonlySet<string>>;

/** Computes task reachability; swappable so the analysis module's version can be plugged in. */
export type TaskReachFn = (graph: Graph, tasks: readonly TaskRef[]) => TaskReach;

export interface RewriteOptions {
  /** Merged into the `recon.rewrite` metadata record (scores, S, selection rule, ...). */
  provenance?: Record<string, unknown>;
  /** Version of the tool that produced the rewrite, recorded in the provenance. */
  toolVersion?: string;
  /** Defaults to `computeTaskReach`. */
  reach?: TaskReachFn;
}

export interface ParamCopy {
  original: string;
  /** Task name → initializer name of that task's copy. */
  copies: Record<string, string>;
}

export interface BranchedLayer {
  name: string;
  /** Names of the layer's nodes in the original graph. */
  nodes: string[];
  /** Tasks that got a copy, in task order. */
  tasks: string[];
  params: ParamCopy[];
}

export interface SkippedLayer {
  name: string;
  /** Tasks the layer reaches (0 or 1 of them). */
  tasks: string[];
  reason: 'task-specific' | 'unreachable';
}

export interface RewriteSummary {
  tasks: string[];
  branched: BranchedLayer[];
  skipped: SkippedLayer[];
  nodesBefore: number;
  nodesAfter: number;
  /** Dead nodes (reaching no graph output) downstream of a branch, removed rather than branched. */
  droppedNodes: string[];
  initializersBefore: number;
  initializersAfter: number;
  /** New value name → the original value it is a per-task version of (to carry shapes over). */
  valueOrigins: Record<string, string>;
}

export interface RewriteResult {
  model: Model;
  summary: RewriteSummary;
}
