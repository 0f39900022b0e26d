import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { ReconError } from './errors.js';

/** Who holds an output: written into `<output>.lock` so a second writer can say who it waits for. */
export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? (h as LockHolder) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One writer per output: creates `<output>.lock` exclusively (naming this process) or fails with
 * one line naming the holder. A lock left by a process that no longer runs on this host is stale:
 * it is taken over, with a warning. Returns the release function (idempotent; also run at exit).
 */
export function acquireOutputLock(output: string, command: string, onWarning: (m: string) => void = () => {}): () => void {
  const path = `${output}.lock`;
  const me: LockHolder = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, `${JSON.stringify(me)}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      const holder = readHolder(path);
      if (holder && (holder.host !== me.host || alive(holder.pid))) {
        throw new ReconError(
          `${output} is being written by ${holder.command} (pid ${holder.pid} on ${holder.host}, since ${holder.since}); wait for it, or remove ${path} if that process is gone`,
        );
      }
      onWarning(`taking over the stale lock ${path}${holder ? ` (pid ${holder.pid} is no longer running)` : ' (unreadable)'}`);
      rmSync(path, { force: true });
    }
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    // Only our own lock: a stale-lock takeover by another process must not be undone.
    if (readHolder(path)?.pid === me.pid) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return release;
}
