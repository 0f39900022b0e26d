import type { Model } from '../onnx/model.js';
import type { TaskSpec } from './task-spec.js';
import { computeReachability, type Reachability } from './reach.js';
import { findLayers, sharedInitializers, type Layer } from './layers.js';
import type { FrozenInitializer } from './parameters.js';

/** Tasks, reachability and layers of one model: the input every later stage starts from. */
export interface ModelAnalysis {
  tasks: TaskSpec[];
  reach: Reachability;
  layers: Layer[];
  sharedLayers: Layer[];
  /** Parameter initializer → task indices it reaches. */
  paramTasks: Map<string, number[]>;
  sharedInitializers: { name: string; layers: string[] }[];
  /** Float initializers that reach a task but are not trained (running statistics, scales, exporter constants). */
  frozen: FrozenInitializer[];
}

export function analyzeModel(model: Model, tasks: TaskSpec[]): ModelAnalysis {
  const reach = computeReachability(
    model.graph,
    tasks.map((t) => t.output),
  );
  const { layers, frozen } = findLayers(
    model.graph,
    reach,
    tasks.map((t) => t.output),
  );
  const paramTasks = new Map<string, Set<number>>();
  for (const l of layers) {
    for (const p of l.params) {
      const s = paramTasks.get(p) ?? new Set<number>();
      for (const t of l.tasks) s.add(t);
      paramTasks.set(p, s);
    }
  }
  return {
    tasks,
    reach,
    layers,
    sharedLayers: layers.filter((l) => l.shared),
    paramTasks: new Map([...paramTasks].map(([k, v]) => [k, [...v].sort((a, b) => a - b)])),
    sharedInitializers: sharedInitializers(layers),
    frozen,
  };
}
