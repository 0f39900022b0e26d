/**
 * `npm run demo`: Recon end to end on real data in a few minutes on a laptop-class CPU.
 * Builds the ResNet-18 reference model and Multi-Fashion+MNIST if missing, then runs
 * `recon run` (scan → select → rewrite → verify → scan again → compare → report).
 * Extra arguments go to `recon run`, e.g. `npm run demo -- --device cuda --search-epochs 40 --batch-size 256`.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { saveModel } from '../src/onnx/save.js';
import { writeMultiFashionMnist } from '../src/data/multi-fashion-mnist.js';
import { runCli } from '../src/cli/main.js';
import { referenceModel } from '../models/reference-models.js';

const MODEL = join('models', 'resnet18_op17.onnx');
const TASKS = join('models', 'resnet18.tasks.json');
const DATA = join('data', 'multi-fashion-mnist');
const OUT = 'demo-out';

async function main(): Promise<number> {
  const say = (m: string): void => void process.stderr.write(`demo: ${m}\n`);
  if (!existsSync(MODEL) || !existsSync(TASKS)) {
    say(`building the ResNet-18 reference model → ${MODEL}`);
    const ref = referenceModel('resnet18');
    saveModel(ref.build({ opset: 17 }), MODEL);
    writeFileSync(TASKS, `${JSON.stringify(ref.tasks, null, 2)}\n`);
  }
  if (!existsSync(join(DATA, 'train.npz')) || !existsSync(join(DATA, 'test.npz'))) {
    say(`building Multi-Fashion+MNIST (120,000 train / 20,000 test images) → ${DATA}`);
    mkdirSync(DATA, { recursive: true });
    writeMultiFashionMnist(DATA, { seed: 0 });
  }
  const extra = process.argv.slice(2);
  const has = (flag: string): boolean => extra.includes(flag);
  const args = [
    'run',
    MODEL,
    '--tasks',
    TASKS,
    '--data',
    join(DATA, 'train.npz'),
    ...(has('--search-steps') || has('--search-epochs') ? [] : ['--search-steps', '80']),
    ...(has('--batch-size') ? [] : ['--batch-size', '64']),
    ...(has('--S') ? [] : ['--S', '-0.02']),
    ...(has('--top-k') || has('--max-param-increase') || has('--max-flop-increase') ? [] : ['--top-k', '25']),
    // Per-step cosines: the report's graph tooltips then chart each layer's cosine over the scan.
    ...(has('--record-steps') ? [] : ['--record-steps']),
    ...(has('-o') || has('--output') ? [] : ['-o', OUT]),
    ...extra,
  ];
  say(`recon ${args.join(' ')}`);
  const code = await runCli(args, {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    interactive: process.stderr.isTTY === true,
  });
  if (code === 0) say(`open ${join(OUT, 'report.html')} in a browser for the charts and the conflict graph`);
  return code;
}

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
