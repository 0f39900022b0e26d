/** Public surface of the report module: schema, producer helpers, renderers and combiners. */
export * from './schema.js';
export * from './bins.js';
export { CosineAccumulator, DEFAULT_EXACT_QUANTILE_LIMIT, mergeCosineStats, conflictFraction } from './cosine-stats.js';
export { rankScores, orderByRank } from './rank.js';
export { downsampleLosses } from './loss-curves.js';
export { ConflictReportBuilder, type LayerDescriptor, type ReportBuilderInit, type ReportHeader } from './report-builder.js';
export { renderRankingTable, type RankingTableOptions } from './table.js';
export { renderConflictCsv, csvField, CSV_COLUMNS } from './csv.js';
export { renderHtmlReport, type HtmlReportOptions } from './html.js';
export { compareReports, renderCompareText, type CompareOptions, type CompareResult, type OccurrenceBasis, type OccurrenceColumn } from './compare.js';
export { mergeReports, type MergeOptions } from './merge.js';
export { readConflictReport, writeConflictReport, writeTextFileAtomic, formatReportJson } from './io.js';
export { renderMarkdownSummary, markdownText, type MarkdownOptions } from './markdown.js';
export {
  buildGraphView,
  layoutGraph,
  paintGraph,
  renderGraphSvgFile,
  type ModelGraphView,
  type GraphViewNode,
  type GraphLayout,
  type GraphPaint,
  type StepCosines,
} from './graph/index.js';
export { loadReportGraph, readStepCosines, graphViewOf } from './graph/load.js';
