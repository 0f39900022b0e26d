import { renderTextTable, type Align } from '../util/text-table.js';
/**
 * Plain-text ranking table for the terminal.
 */
import { conflictFraction } from './cosine-stats.js';
import { ellipsize, formatInteger, formatPercent, formatSigned, formatThreshold } from './format.js';
import type { ConflictReport } from './schema.js';
import { layersByRank, pooledLayerStats, thresholdIndex, totalParams } from './summary.js';

export interface RankingTableOptions {
  /** Rows to show (default: all layers). */
  top?: number;
  /** Threshold whose ranking orders the rows (default: settings.S[0]). */
  S?: number;
  /** Longer layer names are shortened in the middle (default 48). */
  maxNameWidth?: number;
}

/** Header lines plus the top-N layers by rank: rank, layer, op, params, score per S, mean cos, conflict %. */
export function renderRankingTable(report: ConflictReport, options: RankingTableOptions = {}): string {
  const sIndex = thresholdIndex(report, options.S);
  const order = layersByRank(report, sIndex);
  const top = Math.max(0, Math.min(order.length, options.top ?? order.length));
  const nameWidth = options.maxNameWidth ?? 48;
  const S = report.settings.S;

  const headers = ['rank', 'layer', 'op', 'params', ...S.map((s) => `score@${formatThreshold(s)}`), 'mean cos', 'conflict'];
  const align: Align[] = ['right', 'left', 'left', 'right', ...S.map((): Align => 'right'), 'right', 'right'];
  const rows = order.slice(0, top).map((index) => {
    const layer = report.layers[index]!;
    const stats = pooledLayerStats(layer);
    return [
      String(layer.scores[sIndex]!.rank),
      ellipsize(layer.name, nameWidth),
      layer.op,
      formatInteger(layer.params),
      ...layer.scores.map((s) => formatInteger(s.score)),
      stats.count > 0 ? formatSigned(stats.mean, 4) : '-',
      stats.count > 0 ? formatPercent(conflictFraction(stats)) : '-',
    ];
  });

  const lines = [...headerLines(report), '', ...renderTextTable([headers, ...rows], { align })];
  lines.push('', `showing ${top} of ${report.layers.length} layers, ranked at S = ${formatThreshold(S[sIndex]!)} (rank 1 = most conflicting)`);
  return `${lines.join('\n')}\n`;
}

function headerLines(report: ConflictReport): string[] {
  const { settings, progress } = report;
  const pairCount = report.pairs.length;
  const lines = [
    `Recon conflict report: ${report.model.path} (opset ${report.model.opset})`,
    `tasks: ${report.tasks.map((t) => t.name).join(', ')} (${pairCount} pair${pairCount === 1 ? '' : 's'}) | method ${settings.method} | S = ${settings.S.map(formatThreshold).join(', ')}`,
    `steps: ${formatInteger(progress.stepsDone)} / ${formatInteger(progress.totalSteps)} over ${progress.epochStepsDone.length} epoch(s) | ${report.layers.length} shared layers, ${formatInteger(totalParams(report))} params`,
  ];
  if (settings.shard) lines.push(`shard ${settings.shard.index}/${settings.shard.count} (0-based index)`);
  if (report.partial)
    lines.push(
      `PARTIAL: ${report.partialReason ?? 'the scan stopped early'} (${formatInteger(progress.stepsDone)} of ${formatInteger(progress.totalSteps)} steps)`,
    );
  return lines;
}
