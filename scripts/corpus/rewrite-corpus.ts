/**
 * Writes the rewrites that test/conformance/corpus-rewrite.test.ts checks (same seeded selection)
 * to a folder, so scripts/corpus/check-rewritten.sh can run onnx.checker on them.
 *
 *   npx tsx scripts/corpus/rewrite-corpus.ts OUT_DIR
 */
import { mkdirSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, saveModel } from '../../src/onnx/index.js';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { analyzeModel } from '../../src/analysis/analyze.js';
import { reconRewrite } from '../../src/rewrite/recon.js';
import { Random } from '../../src/util/random.js';
import { corpusSelection } from '../../test/conformance/corpus-selection.js';

const out = process.argv[2];
if (!out) throw new Error('usage: rewrite-corpus.ts OUT_DIR');
mkdirSync(out, { recursive: true });
const root = 'test/fixtures/corpus';
for (const arch of readdirSync(root).sort()) {
  const refPath = join(root, arch, 'reference.json');
  if (!existsSync(refPath)) continue;
  const ref = JSON.parse(readFileSync(refPath, 'utf8')) as { tasksFile: string; exports: { file: string; opset: number; duplicateOf?: string }[] };
  const tasks = parseTaskSpec(JSON.parse(readFileSync(join(root, arch, ref.tasksFile), 'utf8')), ref.tasksFile);
  for (const e of ref.exports.filter((x) => x.opset === 17 && x.duplicateOf === undefined)) {
    const model = loadModel(join(root, arch, e.file));
    const analysis = analyzeModel(model, tasks);
    const chosen = corpusSelection(
      analysis.sharedLayers.map((l) => l.name),
      new Random(e.file.length * 7919 + e.opset),
    );
    const r = await reconRewrite(model, tasks, chosen, { analysis });
    saveModel(r.model, join(out, e.file.replace(/\.onnx$/, '.recon.onnx')));
    console.log(`${e.file}: ${chosen.join(', ')}`);
  }
}
