/**
 * Peak RSS of building a training-step gradient graph (what a training scan builds before its
 * first step), in a fresh process: `npx tsx bench/build-memory.ts resnet18 128 [--probe all|heads] [--session]`.
 * Prints one JSON line: RSS after loading the model, peak RSS after building the graph, after
 * creating the onnxruntime session (`--session`), and the build time. `--probe all` is the earlier
 * shape probe (every intermediate an output), for the A/B.
 */
import { buildGradientGraph } from '../src/autodiff/gradient-graph.js';
import { createDefaultRegistry } from '../src/autodiff/register-all.js';
import { analyzeModel } from '../src/analysis/analyze.js';
import { shapeProbeSettings } from '../src/analysis/shapes.js';
import { serializeModel } from '../src/onnx/save.js';
import { RuntimeSession } from '../src/runtime/session.js';
import { benchModel, type BenchModelName } from './bench-util.js';

const args = process.argv.slice(2);
const [name = 'resnet18', batch = '128'] = args.filter((a) => !a.startsWith('--'));
const probe = args.includes('--probe') ? args[args.indexOf('--probe') + 1] : 'heads';
shapeProbeSettings.mode = probe === 'all' ? 'all' : 'heads';
const mb = (): number => process.resourceUsage().maxRSS / 1024;

const { model, tasks, feeds } = benchModel(name as BenchModelName, Number(batch));
const analysis = analyzeModel(model, tasks);
const trainable = [...analysis.paramTasks].filter(([, t]) => t.length > 0).map(([p]) => p);
const gramParams = [...new Set(analysis.sharedLayers.flatMap((l) => l.params))];
const loaded = mb();
const t0 = performance.now();
const graph = await buildGradientGraph(model, {
  tasks,
  gramParams,
  trainableParams: trainable,
  batchNorm: 'train',
  registry: createDefaultRegistry(),
  feeds,
  lowerConvolutions: true,
});
const buildMs = performance.now() - t0;
const built = mb();
let session: number | undefined;
if (args.includes('--session')) {
  const s = await RuntimeSession.create(serializeModel(graph.model), { intraOpThreads: 2 });
  session = mb();
  await s.release();
}
console.log(JSON.stringify({ model: name, batch: Number(batch), probe, loaded_mb: loaded, built_peak_mb: built, session_peak_mb: session, build_ms: buildMs }));
