/**
 * A/B timing of engine variants on a loaded machine: runs the `bench/grads.ts` worker for each
 * variant in turn, several rounds, so that background load hits all variants alike; prints per
 * variant the median and the minimum over rounds of the per-round medians.
 * Usage: npx tsx bench/ab.ts MODEL BATCH ROUNDS 'NAME:ENV=V,ENV=V' 'NAME:…' [--train]
 *   e.g. npx tsx bench/ab.ts resnet18 128 3 'nosplit:RECON_BENCH_SPLIT=0' 'split:RECON_BENCH_SPLIT=1'
 */
import { spawnSync } from 'node:child_process';
import { median } from './bench-util.js';

const args = process.argv.slice(2);
const train = args.includes('--train');
const [model, batch, rounds, ...variants] = args.filter((a) => a !== '--train');
const parsed = variants.map((v) => {
  const [name, env = ''] = v.split(':');
  return {
    name: name!,
    env: Object.fromEntries(
      env
        .split(',')
        .filter(Boolean)
        .map((kv) => kv.split('=') as [string, string]),
    ),
  };
});
const results = new Map<string, { ms: number[]; rss: number[] }>(parsed.map((p) => [p.name, { ms: [], rss: [] }]));
for (let r = 0; r < Number(rounds); r++) {
  for (const p of parsed) {
    const out = spawnSync(process.execPath, [...process.execArgv, 'bench/grads.ts', '--worker', train ? 'train' : 'grads', model!, batch!, '--steps', '5'], {
      encoding: 'utf8',
      env: { ...process.env, ...p.env },
    });
    if (out.status !== 0) throw new Error(`${p.name}: ${out.stderr}`);
    const m = JSON.parse(out.stdout.trim().split('\n').pop()!) as { ms_median: number; peak_rss_mb: number };
    results.get(p.name)!.ms.push(m.ms_median);
    results.get(p.name)!.rss.push(m.peak_rss_mb);
    console.log(`round ${r} ${p.name}: ${m.ms_median.toFixed(1)} ms, ${m.peak_rss_mb.toFixed(0)} MB`);
  }
}
for (const [name, { ms, rss }] of results) {
  console.log(`${name.padEnd(16)} median ${median(ms).toFixed(1)} ms  min ${Math.min(...ms).toFixed(1)} ms  rss ${median(rss).toFixed(0)} MB`);
}
