/** Inline stylesheet of the HTML report; chart colours that matter for meaning live in charts/palette.ts. */
export const REPORT_STYLES = `
:root { --ink: #1d2330; --muted: #5b6475; --line: #e3e6ec; --bg: #f4f5f8; --card: #ffffff; --accent: #d1495b; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 48px; }
header h1 { margin: 0 0 4px; font-size: 26px; letter-spacing: -0.01em; }
header .model { margin: 0; font-size: 15px; }
header .meta { margin: 6px 0 0; color: var(--muted); }
.task { display: inline-block; padding: 1px 8px; margin: 0 2px; border-radius: 10px; background: #e6ebf5; color: #2d3a58; font-weight: 600; font-size: 13px; }
.partial { margin: 12px 0 0; padding: 8px 12px; border-radius: 6px; background: #fff4e0; border: 1px solid #f0c36d; color: #7a4b00; }
code { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #eceef3; padding: 1px 5px; border-radius: 4px; word-break: break-all; }
.cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 12px; margin: 20px 0 4px; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.stat .value { font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }
.stat .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px 20px; margin: 18px 0; }
.card h2 { margin: 0 0 4px; font-size: 18px; }
.card .intro { margin: 0 0 12px; color: var(--muted); max-width: 80ch; }
.empty { color: var(--muted); font-style: italic; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 6px 0 14px; overflow: visible; }
svg.chart text { font-family: inherit; fill: var(--ink); }
svg.chart .tick { font-size: 10.5px; fill: #4a5263; }
svg.chart .layer-label { font-size: 10px; }
svg.chart .top { fill: var(--accent); font-weight: 600; }
svg.chart .severe, svg.chart .marker-label { fill: var(--accent); }
svg.chart .axis-title { font-size: 12px; fill: var(--muted); }
svg.chart .legend { font-size: 11px; fill: #394152; }
svg.chart .panel-title { font-size: 13px; font-weight: 600; }
svg.chart .value-label { font-size: 10px; fill: #394152; }
svg.chart .cell-label { font-size: 11px; font-variant-numeric: tabular-nums; }
svg.chart .grid { stroke: #edf0f4; stroke-width: 1; }
svg.chart .axis { stroke: #9aa3b2; stroke-width: 1; }
svg.chart .zero { stroke: var(--ink); stroke-width: 1.2; }
svg.chart .threshold { stroke: var(--accent); stroke-width: 1; stroke-dasharray: 4 3; }
svg.chart .bar:hover, svg.chart .hover-row:hover { opacity: 0.75; }
svg.chart .hover-row:hover { fill: rgba(29, 35, 48, 0.08); }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-weight: 600; color: #394152; background: #f7f8fa; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.name { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; white-space: nowrap; }
.table-wrap { overflow-x: auto; }
table.ranking { width: 100%; }
table.ranking tbody tr:nth-child(even) { background: #fafbfc; }
table.occurrence td, table.occurrence th { min-width: 90px; }
table.occurrence tr.severe td:first-child { color: var(--accent); }
table.occurrence tr.total td { font-weight: 600; border-top: 2px solid var(--line); }
.side-by-side { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.side-by-side svg.chart { flex: 0 1 560px; margin-top: 0; }
.notes { color: var(--muted); margin: 8px 0 0; }
.settings th { width: 190px; background: none; }
.settings td { word-break: break-word; }
@media (max-width: 800px) { .cards { grid-template-columns: repeat(2, 1fr); } }
`;
