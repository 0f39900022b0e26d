/** Recon's ablation: selections and controls, the training loop over variants and seeds, and its table. */
export * from './selections.js';
export * from './run.js';
export * from './table.js';
