import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { printable, ReconError } from './errors.js';

/**
 * Creates `dir` and its missing parents, one level at a time, with a one-line error naming the
 * level that failed. Used instead of `mkdirSync(dir, { recursive: true })`, which never returns
 * for a path under /proc (creating there fails with ENOENT, and Node's recursion retries forever).
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  let current = resolve(dir);
  for (;;) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(current).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new ReconError(`${printable(dir)}: cannot use folder ${printable(current)} (${code ?? String(error)})`);
      missing.push(current);
      const parent = dirname(current);
      if (parent === current) throw new ReconError(`${printable(dir)}: no such file system root`);
      current = parent;
      continue;
    }
    if (!isDirectory) throw new ReconError(`${printable(dir)}: ${printable(current)} exists and is not a folder`);
    break;
  }
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Created meanwhile by someone else: fine if it is a folder.
      if (code === 'EEXIST' && statSync(level).isDirectory()) continue;
      throw new ReconError(`${printable(dir)}: cannot create folder ${printable(level)} (${code ?? String(error)})`);
    }
  }
}
