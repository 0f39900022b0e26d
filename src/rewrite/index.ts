export * from './types.js';
export { rewrite, carryShapes } from './rewrite.js';
export { computeTaskReach, sinkReach } from '../analysis/reach.js';
export { PROVENANCE_KEY, readProvenance } from './provenance.js';
export * from './cost.js';
export * from './select.js';
export * from './verify.js';
export { branchMapping, type BranchMapping, type MappedInitializer, type TaskCopy } from './mapping.js';
export { checkTrainingReadiness, type ReadinessCheck, type TrainingReadiness } from './training-readiness.js';
