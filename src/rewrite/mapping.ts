import type { Model } from '../onnx/model.js';
import { isExporterName } from '../analysis/parameters.js';
import { modulePathOf } from '../analysis/layers.js';
import type { RewriteSummary, TaskRef } from './types.js';

/** One initializer of a branched layer and its per-task copies. */
export interface MappedInitializer {
  /** Initializer name in the original model. */
  original: string;
  /** `parameter`: trained; `running-statistic`: a BatchNormalization running mean or variance (a PyTorch buffer). */
  kind: 'parameter' | 'running-statistic';
  /**
   * The PyTorch state-dict key the initializer holds, when the exporter kept it (`layer1.0.conv1.weight`);
   * null for tensors the exporter made itself (folded or fused: `onnx::Conv_123`), which have no key.
   */
  stateDictKey: string | null;
  /** Task name → initializer name of that task's copy in the rewritten model. */
  copies: Record<string, string>;
}

/** What one task's copy of a branched layer is made of. */
export interface TaskCopy {
  task: string;
  /** The graph output of the task this copy serves. */
  output: string;
  /** Original initializer name → this task's copy. */
  initializers: Record<string, string>;
}

/** A branched layer, described for someone who branches the same module in their own PyTorch code. */
export interface BranchMapping {
  /** Layer name, as `recon inspect` and the conflict reports name it. */
  name: string;
  /** The PyTorch module path (`layer1.0.conv1`), or null when the export names no module for it. */
  module: string | null;
  /** Where the module path comes from: state-dict names of its parameters, or the ONNX nodes' scope. */
  moduleSource: 'state-dict' | 'node-scope' | null;
  /** Names of the layer's nodes in the original model. */
  nodes: string[];
  /** Tasks that got a copy, in task order. */
  tasks: string[];
  params: MappedInitializer[];
  copies: TaskCopy[];
}

/**
 * The per-layer mapping between a rewrite and PyTorch: for every branched layer its module path,
 * and for every task the initializers of that task's copy. `original` is the model before the
 * rewrite (initializer kinds and node scopes are read from it).
 */
export function branchMapping(original: Model, tasks: readonly TaskRef[], summary: Pick<RewriteSummary, 'branched'>): BranchMapping[] {
  const runningStats = new Set<string>();
  for (const n of original.graph.nodes) {
    if (n.opType === 'BatchNormalization' && n.domain === '') for (const i of n.inputs.slice(3, 5)) if (i) runningStats.add(i);
  }
  const outputOf = new Map(tasks.map((t) => [t.name, t.output]));
  return summary.branched.map((layer) => {
    const { module, moduleSource } = moduleOf(
      layer.name,
      layer.params.map((p) => p.original),
      layer.nodes,
    );
    const params: MappedInitializer[] = layer.params.map((p) => ({
      original: p.original,
      kind: runningStats.has(p.original) ? 'running-statistic' : 'parameter',
      stateDictKey: isExporterName(p.original) ? null : p.original,
      copies: { ...p.copies },
    }));
    return {
      name: layer.name,
      module,
      moduleSource,
      nodes: [...layer.nodes],
      tasks: [...layer.tasks],
      params,
      copies: layer.tasks.map((task) => ({
        task,
        output: outputOf.get(task) ?? '',
        initializers: Object.fromEntries(layer.params.map((p) => [p.original, p.copies[task]!])),
      })),
    };
  });
}

/**
 * A layer's name is its PyTorch module path when it was derived from one (see `layerName`): from
 * the state-dict names of its parameters (`<module>.weight`) or from its nodes' scope
 * (`/layer1/layer1.0/conv1/Conv`). Anything else (a lone parameter such as `cls_token`, a node
 * name, a `#2` disambiguation) is not a module.
 */
function moduleOf(name: string, params: readonly string[], nodes: readonly string[]): Pick<BranchMapping, 'module' | 'moduleSource'> {
  const stateDict = params.filter((p) => !isExporterName(p));
  // A lone parameter (`cls_token`) names itself, not a module: its state-dict key is in `params`.
  if (stateDict.length > 0 && stateDict.every((p) => p.startsWith(`${name}.`))) return { module: name, moduleSource: 'state-dict' };
  if (nodes.some((n) => modulePathOf(n) === name)) return { module: name, moduleSource: 'node-scope' };
  return { module: null, moduleSource: null };
}
