/**
 * Writes the reference models: `<out>/<name>_op13.onnx`, `<out>/<name>_op17.onnx` and
 * `<out>/<name>.tasks.json` for each model.
 *
 *   tsx models/build.ts [--out models] [--only name[,name...]] [--seed 0]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { saveModel } from '../src/onnx/index.js';
import { writeTextFileAtomic } from '../src/util/atomic-write.js';
import { REFERENCE_MODELS, REFERENCE_OPSETS, referenceModel, type ReferenceModel } from './reference-models.js';

function main(): void {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'models' },
      only: { type: 'string' },
      seed: { type: 'string', default: '0' },
    },
    strict: true,
  });
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got "${values.seed}"`);
  const selected: readonly ReferenceModel[] = values.only ? values.only.split(',').map((n) => referenceModel(n.trim())) : REFERENCE_MODELS;
  mkdirSync(values.out, { recursive: true });
  for (const reference of selected) {
    for (const opset of REFERENCE_OPSETS) {
      const path = join(values.out, `${reference.name}_op${opset}.onnx`);
      saveModel(reference.build({ opset, seed }), path);
      console.log(path);
    }
    const specPath = join(values.out, `${reference.name}.tasks.json`);
    writeTextFileAtomic(specPath, `${JSON.stringify(reference.tasks, null, 2)}\n`);
    console.log(specPath);
  }
}

try {
  main();
} catch (e) {
  console.error(`build: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
