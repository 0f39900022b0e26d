/**
 * A Markdown summary of a conflict report for pull-request comments: the headline numbers, the
 * top layers, the conflict-occurrence table (before/after when compared) and a link to the HTML.
 */
import { PAPER_BINS } from './bins.js';
import type { CompareResult } from './compare.js';
import { conflictFraction } from './cosine-stats.js';
import { formatInteger, formatPercent, formatSigned, formatThreshold } from './format.js';
import type { ConflictReport } from './schema.js';
import { layersByRank, pooledLayerStats, thresholdIndex } from './summary.js';

export interface MarkdownOptions {
  /** Rows of the top-layers table (default 10). */
  top?: number;
  S?: number;
  compare?: CompareResult;
  /** Link target of the full HTML report (relative or absolute URL). */
  htmlLink?: string;
}

/**
 * Text from user models (layer names, paths) inside Markdown (never at a line start): escapes
 * the characters that make emphasis, code, links or table cells, and writes HTML metacharacters as
 * entities, so a name can neither break the table nor inject markup or links.
 */
export function markdownText(text: string): string {
  return text
    .replace(/[\r\n]+/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_[\]|~]/g, '\\$&');
}

/** A link target: spaces and parentheses percent-encoded so the link cannot end early. */
function linkTarget(url: string): string {
  return url.replace(/[\s()<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export function renderMarkdownSummary(report: ConflictReport, options: MarkdownOptions = {}): string {
  const sIndex = thresholdIndex(report, options.S);
  const S = report.settings.S;
  const top = Math.max(0, Math.min(report.layers.length, options.top ?? 10));
  const { observations, histogram } = report.trunk;
  const lines: string[] = [];
  lines.push(`### Recon conflict report: ${markdownText(report.model.path)}`);
  lines.push('');
  const negative = observations > 0 ? formatPercent((observations - histogram[0]!) / observations) : '–';
  const steps = `${formatInteger(report.progress.stepsDone)} of ${formatInteger(report.progress.totalSteps)} steps`;
  lines.push(
    `Tasks ${report.tasks.map((t) => `**${markdownText(t.name)}**`).join(', ')} · ${formatInteger(report.layers.length)} shared layers · ${steps} · method ${markdownText(report.settings.method)} · cosines < 0: ${negative}${report.partial ? ' · **partial scan**' : ''}`,
  );
  lines.push('');
  lines.push(`#### Top ${top} layers at S = ${formatThreshold(S[sIndex]!)}`);
  lines.push('');
  lines.push(`| rank | layer | op | params | ${S.map((s) => `score @ ${formatThreshold(s)}`).join(' | ')} | mean cos | cos < 0 |`);
  lines.push(`|---:|---|---|---:|${S.map(() => '---:').join('|')}|---:|---:|`);
  for (const index of layersByRank(report, sIndex).slice(0, top)) {
    const layer = report.layers[index]!;
    const stats = pooledLayerStats(layer);
    const cells = [
      String(layer.scores[sIndex]!.rank),
      markdownText(layer.name),
      markdownText(layer.op),
      formatInteger(layer.params),
      ...layer.scores.map((s) => formatInteger(s.score)),
      stats.count > 0 ? formatSigned(stats.mean, 4) : '–',
      stats.count > 0 ? formatPercent(conflictFraction(stats)) : '–',
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push('');
  const c = options.compare;
  if (c) {
    lines.push('#### Conflict occurrence before and after Recon (%)');
    lines.push('');
    lines.push('| bin | before | after |');
    lines.push('|---|---:|---:|');
    c.binLabels.forEach((label, b) => lines.push(`| ${markdownText(label)} | ${c.before.percent[b]!.toFixed(2)} | ${c.after.percent[b]!.toFixed(2)} |`));
    lines.push(`| **severe (cos < ${formatThreshold(c.severeThreshold)})** | ${c.before.severePercent.toFixed(2)} | ${c.after.severePercent.toFixed(2)} |`);
    lines.push('');
    lines.push(`Severe conflicts reduced by ${c.severeReductionPct === null ? 'n/a' : `${c.severeReductionPct.toFixed(2)}%`}.`);
  } else {
    lines.push('#### Conflict occurrence (%)');
    lines.push('');
    lines.push('| bin | % |');
    lines.push('|---|---:|');
    PAPER_BINS.labels.forEach((label, b) =>
      lines.push(`| ${markdownText(label)} | ${observations > 0 ? ((100 * histogram[b]!) / observations).toFixed(2) : '–'} |`),
    );
  }
  lines.push('');
  if (options.htmlLink !== undefined) lines.push(`[Full report with the conflict graph](${linkTarget(options.htmlLink)})`);
  else lines.push('Render with `recon report --html report.html` for the charts and the conflict graph.');
  return `${lines.join('\n')}\n`;
}
