/**
 * A progress bar with ETA on stderr. On a terminal it redraws one line in place; elsewhere (CI,
 * log files) it prints a line at most every few seconds so logs stay readable.
 */
export class ProgressBar {
  private readonly started = Date.now();
  private lastPrint = 0;
  private lastLength = 0;

  constructor(
    private readonly write: (text: string) => void,
    private readonly interactive: boolean,
    private readonly label: string,
    private readonly logIntervalMs = 5000,
  ) {}

  update(done: number, total: number, detail = ''): void {
    const now = Date.now();
    const finished = done >= total;
    if (!this.interactive && !finished && now - this.lastPrint < this.logIntervalMs) return;
    if (this.interactive && !finished && now - this.lastPrint < 100) return;
    this.lastPrint = now;
    const elapsed = (now - this.started) / 1000;
    const rate = done > 0 ? elapsed / done : 0;
    const eta = rate * (total - done);
    const width = 24;
    const filled = total > 0 ? Math.round((width * done) / total) : width;
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const line = `${this.label} ${bar} ${done}/${total} ${formatDuration(elapsed)} elapsed, ETA ${finished ? '0s' : formatDuration(eta)}${detail ? `  ${detail}` : ''}`;
    if (this.interactive) {
      this.write(`\r${line}${' '.repeat(Math.max(0, this.lastLength - line.length))}${finished ? '\n' : ''}`);
      this.lastLength = line.length;
    } else {
      this.write(`${line}\n`);
    }
  }

  /** Ends an interactive line early (e.g. on interruption) so later messages start on their own line. */
  finish(): void {
    if (this.interactive && this.lastLength > 0) this.write('\n');
    this.lastLength = 0;
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
