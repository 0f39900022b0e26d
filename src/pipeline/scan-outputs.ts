import { basename, dirname, join } from 'node:path';
import { writePartsAtomic } from '../util/atomic-write.js';
import { saveModel } from '../onnx/save.js';
import type { ScanResult } from '../conflict/scan.js';
import { removeCheckpoint } from '../conflict/checkpoint.js';
import { writeConflictReport } from '../report/io.js';
import type { ConflictReport } from '../report/schema.js';

/** Report (and sidecars) written atomically; the checkpoint is dropped once a scan completes. */
export function writeScanOutputs(result: ScanResult, reportPath: string, trainedPath: string | undefined): void {
  const report: ConflictReport = result.report;
  if (result.recorded) {
    const file = `${basename(reportPath)}.cosines.f32`;
    writePartsAtomic(join(dirname(reportPath), file), [new Uint8Array(result.recorded.buffer, result.recorded.byteOffset, result.recorded.byteLength)]);
    report.recordedSteps = { file, dtype: 'float32', shape: [report.progress.stepsDone, report.layers.length, report.pairs.length] };
  }
  writeConflictReport(reportPath, report);
  if (trainedPath && result.trainedModel) saveModel(result.trainedModel, trainedPath);
  if (!report.partial) removeCheckpoint(reportPath);
}
