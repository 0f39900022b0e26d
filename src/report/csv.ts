/**
 * CSV export in long ("tidy") form: one row per layer × S, so a new S adds rows, not columns,
 * and spreadsheets or data frames can filter on S directly. Layer-level columns (cosine
 * statistics pooled over all task pairs) repeat on each S row of the layer. Rows follow network
 * order, S in settings order. RFC 4180: CRLF line ends, fields quoted when they contain a comma,
 * quote, CR or LF, quotes doubled.
 *
 * Columns: layer_index is 0-based network order; nodes joins the ONNX node names with ";";
 * observations counts the layer's (step, pair) cosines; conflict_rate is the fraction < 0;
 * paper_bin_0..4 are counts in the paper bins (bins.ts gives the exact intervals).
 */
import { PAPER_BIN_COUNT } from './bins.js';
import { conflictFraction } from './cosine-stats.js';
import type { ConflictReport } from './schema.js';
import { pooledLayerStats } from './summary.js';

export const CSV_COLUMNS = [
  'layer_index',
  'layer',
  'op',
  'params',
  'nodes',
  'S',
  'score',
  'rank',
  'observations',
  'conflict_rate',
  'mean_cos',
  'std_cos',
  'min_cos',
  'max_cos',
  'p05',
  'p25',
  'p50',
  'p75',
  'p95',
  'quantiles_exact',
  ...Array.from({ length: PAPER_BIN_COUNT }, (_, b) => `paper_bin_${b}`),
] as const;

export function renderConflictCsv(report: ConflictReport): string {
  const lines = [CSV_COLUMNS.map(csvField).join(',')];
  report.layers.forEach((layer, index) => {
    const stats = pooledLayerStats(layer);
    const q = stats.quantiles;
    for (const score of layer.scores) {
      const row: (string | number | boolean)[] = [
        index,
        layer.name,
        layer.op,
        layer.params,
        layer.nodes.join(';'),
        score.S,
        score.score,
        score.rank,
        stats.count,
        conflictFraction(stats),
        stats.mean,
        stats.std,
        stats.min,
        stats.max,
        q.p05,
        q.p25,
        q.p50,
        q.p75,
        q.p95,
        stats.quantilesExact,
        ...stats.histogram,
      ];
      lines.push(row.map((value) => csvField(String(value))).join(','));
    }
  });
  return `${lines.join('\r\n')}\r\n`;
}

/** Quotes a field when RFC 4180 requires it. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
