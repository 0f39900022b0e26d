/** How a text-table column is aligned: labels left, numbers right. */
export type Align = 'left' | 'right';

export interface TextTableOptions {
  /** Per column (default: first column left, the others right). */
  align?: readonly Align[];
  /** Put before every line (e.g. an indent). */
  indent?: string;
  /** A rule of dashes under the first row. */
  headerRule?: boolean;
}

/**
 * The one plain-text table renderer of the CLI's outputs: columns as wide as their widest cell,
 * separated by two spaces, trailing blanks trimmed.
 */
export function renderTextTable(rows: readonly (readonly string[])[], options: TextTableOptions = {}): string[] {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, c) => Math.max(0, ...rows.map((r) => (r[c] ?? '').length)));
  const align = (c: number): Align => options.align?.[c] ?? (c === 0 ? 'left' : 'right');
  const line = (row: readonly string[]): string =>
    `${options.indent ?? ''}${widths
      .map((w, c) => {
        const cell = row[c] ?? '';
        return align(c) === 'right' ? cell.padStart(w) : cell.padEnd(w);
      })
      .join('  ')}`.trimEnd();
  const lines = rows.map(line);
  if (options.headerRule && rows.length > 0) lines.splice(1, 0, line(widths.map((w) => '-'.repeat(w))));
  return lines;
}
