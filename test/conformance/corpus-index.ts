import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTaskSpec, type TaskSpec } from '../../src/analysis/task-spec.js';

/** What every corpus test reads of an architecture's reference.json (corpus.test.ts reads more). */
export interface CorpusArch {
  arch: string;
  tasksFile: string;
  batch: string;
  exports: { file: string; opset: number; duplicateOf?: string; bnMode: 'train' | 'eval' | null }[];
}

export const CORPUS_ROOT = 'test/fixtures/corpus';

/** The corpus architectures in name order, each with its folder and reference. */
export function corpusArchs(): { dir: string; ref: CorpusArch }[] {
  if (!existsSync(CORPUS_ROOT)) return [];
  return readdirSync(CORPUS_ROOT)
    .filter((d) => existsSync(join(CORPUS_ROOT, d, 'reference.json')))
    .sort()
    .map((d) => ({ dir: join(CORPUS_ROOT, d), ref: JSON.parse(readFileSync(join(CORPUS_ROOT, d, 'reference.json'), 'utf8')) as CorpusArch }));
}

export function corpusTasks(dir: string, ref: CorpusArch): TaskSpec[] {
  const file = join(dir, ref.tasksFile);
  return parseTaskSpec(JSON.parse(readFileSync(file, 'utf8')), file);
}
