/**
 * Finding what the graph view needs next to a report on disk: the model it scanned and the
 * per-step cosines recorded with it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { ReconError } from '../../util/errors.js';
import { loadModel } from '../../onnx/load.js';
import type { Model } from '../../onnx/model.js';
import { serializeModel } from '../../onnx/save.js';
import type { ConflictReport } from '../schema.js';
import type { StepCosines } from './paint.js';
import { buildGraphView, type ModelGraphView } from './view.js';

/** The per-step cosines of `scan --record-steps`, or undefined when the report has none. */
export function readStepCosines(report: ConflictReport, reportPath: string): StepCosines | undefined {
  const rec = report.recordedSteps;
  if (!rec) return undefined;
  const path = join(dirname(reportPath), rec.file);
  if (!existsSync(path)) throw new ReconError(`${path}: recorded cosines named by ${reportPath} not found`);
  const bytes = readFileSync(path);
  const [steps, layers, pairs] = rec.shape;
  if (bytes.byteLength !== steps * layers * pairs * 4)
    throw new ReconError(`${rec.file}: expected ${steps * layers * pairs * 4} bytes, found ${bytes.byteLength}`);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { steps, layers, pairs, data };
}

export function modelSha256(model: Model): string {
  return createHash('sha256').update(serializeModel(model)).digest('hex');
}

/** The graph view of a report's model, or why there is none (a sentence for the page). */
export type ReportGraphSource = { view: ModelGraphView; path: string } | { missing: string };

/**
 * The existing files a path recorded in a report may name: as written (relative to the directory
 * the scan ran in), else relative to the report's own folder; an absolute path only as written.
 */
export function recordedFileCandidates(recorded: string, reportPath: string): string[] {
  const candidates = isAbsolute(recorded) ? [recorded] : [recorded, join(dirname(reportPath), recorded)];
  return candidates.filter((p) => existsSync(p));
}

/**
 * Loads the model of `report`: `explicitPath` when given (an error when missing), else the path
 * the report records, tried as given and next to the report. A model whose hash differs from the
 * scanned one is still drawn, with a warning: its layer names may not match the report's.
 */
export function loadReportGraph(
  report: ConflictReport,
  reportPath: string,
  explicitPath: string | undefined,
  warn: (message: string) => void,
): ReportGraphSource {
  let path: string | undefined;
  if (explicitPath !== undefined) {
    if (!existsSync(explicitPath)) throw new ReconError(`--model ${explicitPath}: file not found`);
    path = explicitPath;
  } else {
    const recorded = report.model.path;
    path = recordedFileCandidates(recorded, reportPath)[0];
    if (path === undefined) {
      const why = `the model file ${recorded} named by the report was not found (pass --model model.onnx)`;
      return { missing: why };
    }
  }
  const model = loadModel(path);
  if (report.model.sha256 !== undefined && modelSha256(model) !== report.model.sha256) {
    warn(`${path} differs from the model the report scanned (sha256 mismatch): the graph view matches layers by name`);
  }
  return { view: graphViewOf(model, report), path };
}

/** The graph view of `model` with the report's tasks. */
export function graphViewOf(model: Model, report: ConflictReport): ModelGraphView {
  return buildGraphView(
    model,
    report.tasks.map((t) => ({ name: t.name, output: t.output })),
  );
}
