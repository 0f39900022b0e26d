/** Losses the reference models' tasks use. */
export type TaskLoss = 'cross_entropy' | 'l1' | 'mse';

/** One task of a multi-task model: which graph output it reads and how its loss is computed. */
export interface TaskEntry {
  name: string;
  output: string;
  loss: TaskLoss;
  /** Name of the target tensor fed when training or measuring gradients. */
  target: string;
  weight: number;
  /** Target value whose elements are left out of the loss (classification losses only). */
  ignoreIndex?: number;
}

/** Contents of a `<model>.tasks.json` file. */
export interface TaskSpec {
  tasks: TaskEntry[];
}

export function classificationTask(name: string, output: string = name): TaskEntry {
  return { name, output, loss: 'cross_entropy', target: `${name}_target`, weight: 1, ignoreIndex: -1 };
}

export function regressionTask(name: string, loss: 'l1' | 'mse', output: string = name): TaskEntry {
  return { name, output, loss, target: `${name}_target`, weight: 1 };
}
