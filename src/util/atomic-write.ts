import { closeSync, openSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

// A single write() call may write less than asked for large buffers; keep each call well below 2 GiB.
const MAX_WRITE_CHUNK = 1 << 30;

/**
 * Fault injection for tests: called before every rename and removal that commits an output, so a
 * test can stop a multi-file write at each step (as a kill would) and check what is on disk.
 */
export const commitHooks: { beforeCommit?: (step: 'rename' | 'remove', path: string) => void } = {};

/** Renames a finished temporary file into place (the commit point of an output). */
export function commitRename(from: string, to: string): void {
  commitHooks.beforeCommit?.('rename', to);
  renameSync(from, to);
}

/** Removes a file an output no longer needs (e.g. a replaced model's old external data). */
export function commitRemove(path: string): void {
  commitHooks.beforeCommit?.('remove', path);
  rmSync(path, { force: true });
}

/** A temporary name next to `path`, so the final rename stays on one file system. */
export function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes all of `buffer` at the file's current position. */
export function writeAll(fd: number, buffer: Uint8Array): void {
  let done = 0;
  while (done < buffer.byteLength) {
    const length = Math.min(MAX_WRITE_CHUNK, buffer.byteLength - done);
    done += writeSync(fd, buffer, done, length);
  }
}

/**
 * Writes the file through a temporary sibling and renames it into place, so readers never see a
 * half-written file and a failure leaves any previous file untouched.
 */
export function writeFileAtomic(path: string, write: (fd: number) => void): void {
  const temporary = temporaryPathFor(path);
  const fd = openSync(temporary, 'w');
  try {
    try {
      write(fd);
    } finally {
      closeSync(fd);
    }
    commitRename(temporary, path);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // The temporary file may already be gone; the original error is the one worth reporting.
    }
    throw error;
  }
}

/** Atomically writes the concatenation of `parts` without joining them in memory. */
export function writePartsAtomic(path: string, parts: readonly Uint8Array[]): void {
  writeFileAtomic(path, (fd) => {
    for (const part of parts) writeAll(fd, part);
  });
}

/** Atomically replaces `path` with `text` (UTF-8): every JSON, CSV and HTML output goes through here. */
export function writeTextFileAtomic(path: string, text: string): void {
  writePartsAtomic(path, [Buffer.from(text, 'utf8')]);
}
