/**
 * Learning-rate schedules used by Recon's training scripts (torch.optim.lr_scheduler.MultiStepLR).
 */
import { ReconError } from '../util/errors.js';

export interface MultiStepSchedule {
  /** Initial learning rate. */
  lr: number;
  /** Epochs at which the rate is multiplied by gamma. Repeats count twice, as torch's Counter does. */
  milestones: readonly number[];
  /** Decay factor. Default 0.1 (torch's default). */
  gamma?: number;
}

/**
 * MultiStepLR: lr·gamma^(number of milestones ≤ epoch), where `epoch` counts completed
 * `scheduler.step()` calls. Recon steps the scheduler once at the end of each epoch, so this is
 * the rate used DURING 0-based epoch `epoch` (e.g. MNIST: lr 0.1, milestones [60, 90] gives 0.1
 * for epochs 0–59, 0.01 for 60–89, 0.001 from 90).
 *
 * The factor is applied by repeated multiplication, as torch's chainable form does, so values are
 * the same doubles torch prints (0.1·0.1·0.1 = 0.00010000000000000002-style rounding included).
 */
export function learningRateAt(epoch: number, schedule: MultiStepSchedule): number {
  if (!Number.isInteger(epoch) || epoch < 0) throw new ReconError(`epoch must be a non-negative integer, got ${epoch}`);
  const gamma = schedule.gamma ?? 0.1;
  if (!Number.isFinite(schedule.lr) || schedule.lr < 0) throw new ReconError(`learning rate must be finite and non-negative, got ${schedule.lr}`);
  if (!Number.isFinite(gamma) || gamma < 0) throw new ReconError(`gamma must be finite and non-negative, got ${gamma}`);
  let lr = schedule.lr;
  for (const m of [...schedule.milestones].sort((a, b) => a - b)) {
    if (!Number.isInteger(m) || m < 0) throw new ReconError(`milestones must be non-negative integers, got ${m}`);
    if (m <= epoch) lr *= gamma;
  }
  return lr;
}
