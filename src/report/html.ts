/**
 * One self-contained HTML page for a conflict report: inline CSS, inline SVG and one inline
 * script (the graph view's zoom, pan and tooltips), no external resources, so it opens offline,
 * from e-mail or from a CI artifact alike. Without the script every chart and the whole graph
 * still show.
 */
import { PAPER_BINS } from './bins.js';
import { occurrenceChart } from './charts/occurrence.js';
import { costChart } from './charts/cost.js';
import { distributionHeatmap } from './charts/distribution.js';
import { pairMatrixChart } from './charts/pair-matrix.js';
import { scoreBarChart } from './charts/score-bars.js';
import { conflictRateChart, lossChart } from './charts/training.js';
import { compareReports, type CompareResult } from './compare.js';
import { conflictFraction } from './cosine-stats.js';
import { escapeHtml } from './escape.js';
import { formatCompact, formatInteger, formatPercent, formatSigned, formatThreshold } from './format.js';
import type { ConflictReport } from './schema.js';
import { layersByRank, pooledLayerStats, thresholdIndex, totalParams } from './summary.js';
import { REPORT_STYLES } from './html-styles.js';
import { graphPanel } from './graph/index.js';
import type { StepCosines } from './graph/paint.js';
import { GRAPH_SCRIPT } from './graph/script.js';
import { GRAPH_STYLES, graphPanelHtml } from './graph/section.js';
import type { ModelGraphView } from './graph/view.js';

export interface HtmlReportOptions {
  /** K: layers highlighted and listed in the ranking (default 10, at most the layer count). */
  top?: number;
  /** Threshold whose ranking drives highlighting, the table and the cost marker (default settings.S[0]). */
  S?: number;
  /** Scan of the original model when `report` is the rewritten one; compared unless `compare` is given. */
  before?: ConflictReport;
  /** Precomputed comparison (wins over `before`). */
  compare?: CompareResult;
  /** Graph of the scanned model (buildGraphView); without it the graph section says why. */
  graph?: ModelGraphView;
  /** Why `graph` is missing, shown in its place (default: the report was rendered without the model). */
  graphMissing?: string;
  /** Graph of the rewritten model (`recon run`), drawn below the original's and coloured by this report. */
  rewrittenGraph?: ModelGraphView;
  /** Where the rewritten model is, for the caption. */
  rewrittenPath?: string;
  /** Per-step cosines of `report` (scan --record-steps): the tooltips then chart the cosine per step. */
  stepCosines?: StepCosines;
  /** Same for `before`. */
  beforeStepCosines?: StepCosines;
}

export function renderHtmlReport(report: ConflictReport, options: HtmlReportOptions = {}): string {
  const sIndex = thresholdIndex(report, options.S);
  const topK = Math.max(0, Math.min(report.layers.length, options.top ?? 10));
  const comparison = options.compare ?? (options.before ? compareReports(options.before, report) : undefined);
  const taskNames = report.tasks.map((t) => t.name).join(', ');
  const title = `Recon conflict report: ${report.model.path} (${taskNames})`;

  const sections = [
    header(report),
    summaryCards(report),
    graphSection(report, options, topK),
    section(
      'Conflict score per layer',
      `Number of (step, task pair) cosines below S, summed over the scan, for every shared layer in network order. The top ${topK} layers at S = ${formatThreshold(report.settings.S[sIndex]!)} are highlighted: these are the layers Recon makes task-specific.`,
      report.settings.S.map((_, s) => scoreBarChart(report, s, topK)).join(''),
    ),
    section(
      'Top layers',
      `Ranking at S = ${formatThreshold(report.settings.S[sIndex]!)}; rank 1 is the most conflicting layer, ties keep network order.`,
      rankingTable(report, sIndex, topK),
    ),
    section(
      'Cosine distribution per layer',
      'Each row is a shared layer (network order, task pairs pooled); darker cells hold more of its cosines. Hover a row for its statistics.',
      distributionHeatmap(report, sIndex, topK),
    ),
    section(
      'Over training',
      'Share of cosines below 0 per epoch, over all shared layers and for the five most conflicting layers; then the per-task losses.',
      conflictRateChart(report, sIndex) + (report.losses.steps.length > 0 ? lossChart(report) : '<p class="empty">No losses were recorded.</p>'),
    ),
  ];
  if (report.tasks.length > 2) {
    sections.push(
      section('Task pairs', 'Mean cosine and conflict rate of each pair of tasks, pooled over all shared layers and steps.', pairMatrixChart(report)),
    );
  }
  if (report.cost && report.cost.length > 0) {
    sections.push(
      section(
        'Cost of each K',
        'Parameter and MAC increase when the top-K layers become task-specific. Every layer after the first branched one runs once per task, so MACs can grow much faster than parameters.',
        costChart(report, report.cost, topK),
      ),
    );
  }
  sections.push(occurrenceSection(report, comparison), settingsSection(report));

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${REPORT_STYLES}${GRAPH_STYLES}</style>
</head>
<body>
<main>
${sections.join('\n')}
</main>
<script>${GRAPH_SCRIPT}</script>
</body>
</html>
`;
}

function graphSection(report: ConflictReport, options: HtmlReportOptions, topK: number): string {
  const heading = 'Where the conflict sits';
  const intro =
    'The model drawn as a graph: each box is a layer (the op applying its parameters, with activations and layout ops folded in) or an op without parameters (dashed); shape arithmetic is hidden. Shared layers are filled by their conflict; hover or click a box for its numbers, scroll to zoom, drag to pan.';
  if (!options.graph) {
    const why = options.graphMissing ?? 'this report was rendered without its model (recon report --model model.onnx draws it)';
    return `<section class="card graph-section"><h2>${escapeHtml(heading)}</h2><p class="graph-missing">No model graph: ${escapeHtml(why)}.</p></section>`;
  }
  const S = options.S;
  const common = { top: topK, ...(S !== undefined ? { S } : {}) };
  const rewritten = options.graph.rewrite !== undefined;
  const outline = rewritten ? 'outlined: copies of the layers the rewrite branched' : `outlined: the top ${topK} layers, the ones Recon makes task-specific`;
  const panels = [
    graphPanelHtml(
      graphPanel(report, options.graph, {
        ...common,
        ...(options.before ? { before: options.before } : {}),
        ...(options.stepCosines ? { stepCosines: options.stepCosines } : {}),
        ...(options.beforeStepCosines ? { beforeStepCosines: options.beforeStepCosines } : {}),
        kind: rewritten ? 'rewritten' : 'original',
        caption: `${rewritten ? 'Rewritten model' : 'Model'} ${report.model.path}; ${outline}.${rewritten ? ' Per-task copies carry a thick stripe in their task’s colour; a copy no longer shared is filled by its original layer’s scores from the before scan.' : ''}`,
      }),
    ),
  ];
  if (options.rewrittenGraph) {
    panels.push(
      graphPanelHtml(
        graphPanel(report, options.rewrittenGraph, {
          ...common,
          ...(options.stepCosines ? { stepCosines: options.stepCosines } : {}),
          kind: 'rewritten',
          caption: `Rewritten model ${options.rewrittenPath ?? ''}: the branched layers and everything after them run once per task; per-task copies carry a thick stripe in their task’s colour and are filled by the scores of the layer they copy (this scan).`,
        }),
      ),
    );
  }
  return `<section class="card graph-section"><h2>${escapeHtml(heading)}</h2><p class="intro">${escapeHtml(intro)}</p>${panels.join('\n')}</section>`;
}

function section(heading: string, intro: string, content: string): string {
  return `<section class="card"><h2>${escapeHtml(heading)}</h2><p class="intro">${escapeHtml(intro)}</p>${content}</section>`;
}

function header(report: ConflictReport): string {
  const { progress, settings } = report;
  const tasks = report.tasks.map((t) => `<span class="task">${escapeHtml(t.name)}</span>`).join(' ');
  const partial = report.partial
    ? `<p class="partial"><strong>Partial scan</strong>: ${escapeHtml(report.partialReason ?? 'the scan stopped early')}. Numbers cover ${escapeHtml(formatInteger(progress.stepsDone))} of ${escapeHtml(formatInteger(progress.totalSteps))} steps.</p>`
    : '';
  const shard = settings.shard ? ` · shard ${settings.shard.index}/${settings.shard.count}` : '';
  return `<header>
<h1>Recon conflict report</h1>
<p class="model"><code>${escapeHtml(report.model.path)}</code></p>
<p class="meta">tasks ${tasks} · method ${escapeHtml(settings.method)} · S = ${escapeHtml(settings.S.map(formatThreshold).join(', '))}${escapeHtml(shard)}</p>
${partial}
</header>`;
}

function summaryCards(report: ConflictReport): string {
  const trunk = report.trunk;
  const observations = trunk.observations;
  const conflicts = observations - trunk.histogram[0]!;
  const severe = trunk.histogram.slice(2).reduce((a, b) => a + b, 0);
  const cards: [string, string][] = [
    ['shared layers', formatInteger(report.layers.length)],
    ['shared parameters', formatCompact(totalParams(report))],
    ['steps scanned', `${formatInteger(report.progress.stepsDone)} / ${formatInteger(report.progress.totalSteps)}`],
    ['task pairs', formatInteger(report.pairs.length)],
    ['cosines < 0', observations > 0 ? formatPercent(conflicts / observations) : '–'],
    ['cosines < -0.01', observations > 0 ? formatPercent(severe / observations) : '–'],
  ];
  return `<section class="cards">${cards.map(([label, value]) => `<div class="stat"><div class="value">${escapeHtml(value)}</div><div class="label">${escapeHtml(label)}</div></div>`).join('')}</section>`;
}

function rankingTable(report: ConflictReport, sIndex: number, topK: number): string {
  const S = report.settings.S;
  const head = ['rank', 'layer', 'op', 'params', ...S.map((s) => `score @ ${formatThreshold(s)}`), 'mean cos', 'median', 'cos < 0'];
  const numeric = [true, false, false, true, ...S.map(() => true), true, true, true];
  const rows = layersByRank(report, sIndex)
    .slice(0, topK)
    .map((index) => {
      const layer = report.layers[index]!;
      const stats = pooledLayerStats(layer);
      const cells = [
        String(layer.scores[sIndex]!.rank),
        layer.name,
        layer.op,
        formatInteger(layer.params),
        ...layer.scores.map((s) => formatInteger(s.score)),
        stats.count > 0 ? formatSigned(stats.mean, 4) : '–',
        stats.count > 0 ? formatSigned(stats.quantiles.p50, 4) : '–',
        stats.count > 0 ? formatPercent(conflictFraction(stats)) : '–',
      ];
      return `<tr>${cells.map((c, i) => `<td${numeric[i] ? ' class="num"' : i === 1 ? ' class="name"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`;
    });
  const headRow = head.map((h, i) => `<th${numeric[i] ? ' class="num"' : ''}>${escapeHtml(h)}</th>`).join('');
  return `<div class="table-wrap"><table class="ranking"><thead><tr>${headRow}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function occurrenceSection(report: ConflictReport, comparison: CompareResult | undefined): string {
  if (!comparison) {
    const { histogram, observations } = report.trunk;
    const cells = PAPER_BINS.labels
      .map(
        (label, b) =>
          `<tr><td>${escapeHtml(label)}</td><td class="num">${escapeHtml(observations > 0 ? ((100 * histogram[b]!) / observations).toFixed(2) : '–')}</td></tr>`,
      )
      .join('');
    return section(
      'Conflict occurrence',
      "Percent of (layer, step, pair) cosines of the shared layers in each of the paper's bins (Recon, ICLR 2023, Table 6). Render with a before report to compare against the original model.",
      `<table class="occurrence"><thead><tr><th>bin</th><th class="num">%</th></tr></thead><tbody>${cells}</tbody></table>`,
    );
  }
  const rows = comparison.binLabels
    .map((label, b) => {
      const severe = comparison.severeBins.includes(b) ? ' class="severe"' : '';
      return `<tr${severe}><td>${escapeHtml(label)}</td><td class="num">${comparison.before.percent[b]!.toFixed(2)}</td><td class="num">${comparison.after.percent[b]!.toFixed(2)}</td></tr>`;
    })
    .join('');
  const reduction = comparison.severeReductionPct === null ? 'n/a' : `${comparison.severeReductionPct.toFixed(2)}%`;
  const basis = comparison.basis === 'layers' ? '(layer, step, pair) cosines of the shared layers' : '(step, pair) cosines of the whole shared trunk';
  const notes = comparison.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('');
  const table = `<table class="occurrence"><thead><tr><th>bin</th><th class="num">before</th><th class="num">after</th></tr></thead><tbody>${rows}
<tr class="total"><td>severe (cos &lt; ${escapeHtml(formatThreshold(comparison.severeThreshold))})</td><td class="num">${comparison.before.severePercent.toFixed(2)}</td><td class="num">${comparison.after.severePercent.toFixed(2)}</td></tr>
<tr class="total"><td>reduction of severe conflicts</td><td></td><td class="num">${escapeHtml(reduction)}</td></tr></tbody></table>`;
  return section(
    'Conflict occurrence before and after Recon',
    `Percent of ${basis} per paper bin: the original model (${comparison.before.model}, ${comparison.before.sharedLayers} shared layers) against the rewritten one (${comparison.after.model}, ${comparison.after.sharedLayers} layers still shared).`,
    `<div class="side-by-side">${table}${occurrenceChart(comparison)}</div>${notes ? `<ul class="notes">${notes}</ul>` : ''}`,
  );
}

function settingsSection(report: ConflictReport): string {
  const s = report.settings;
  const o = s.optimizer;
  const rows: [string, string][] = [
    ['model', `${report.model.path} (opset ${report.model.opset})${report.model.sha256 ? `, sha256 ${report.model.sha256}` : ''}`],
    ['tasks', report.tasks.map((t) => `${t.name}: output ${t.output}, loss ${t.loss}, weight ${t.weight}`).join('; ')],
    ['data', s.data],
    ['schedule', `${s.epochs} epoch(s), step limit ${s.steps}, batch ${s.batchSize}, shuffle ${s.shuffle ? 'on' : 'off'}, seed ${s.seed}`],
    [
      'optimizer',
      o.name === 'none'
        ? 'none (static scan)'
        : `${o.name}, lr ${o.lr}, momentum ${o.momentum}, weight decay ${o.weightDecay}, ×${o.gamma} at epochs [${o.milestones.join(', ')}]`,
    ],
    ['method / BN / device', `${s.method} / ${s.bn} / ${s.device}`],
    ['produced by', `${report.tool.name} ${report.tool.version}, ${report.createdAt}, schema v${report.schemaVersion}`],
  ];
  const body = rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('');
  return `<section class="card settings"><h2>Scan settings</h2><table>${body}</table></section>`;
}
