/**
 * Seeded mutation fuzzing of the CLI (models, external data, data files, task specs, reports and
 * flags). Usage: npx tsx scripts/fuzz.ts [--cases 10000] [--seed N] [--first I] [--timeout-ms T]
 * Prints progress on stderr, then the counts and every failing case (replay one with
 * --first <index> --cases 1).
 */
import { runFuzz } from '../test/fuzz/engine.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer`);
  return value;
}

const cases = option('cases', 10_000);
const seed = option('seed', 1);
const first = option('first', 0);
const timeoutMs = option('timeout-ms', 60_000);
const started = Date.now();
const summary = await runFuzz({
  cases,
  seed,
  first,
  timeoutMs,
  onCase: (result, done) => {
    if (result.outcome !== 'success' && result.outcome !== 'clean-error') {
      process.stderr.write(
        `\ncase ${result.index} (${result.kind}: ${result.description}): ${result.outcome}\n  argv: ${result.argv.join(' ')}\n  ${result.stderr.trim().split('\n').join('\n  ')}\n`,
      );
    }
    if (result.modified.length > 0) process.stderr.write(`\ncase ${result.index}: modified inputs ${result.modified.join(', ')}\n`);
    if (done % 50 === 0 || done === cases) {
      const elapsed = (Date.now() - started) / 1000;
      process.stderr.write(`fuzz ${done}/${cases} cases, ${elapsed.toFixed(0)} s elapsed, ETA ${((elapsed / done) * (cases - done)).toFixed(0)} s\n`);
    }
  },
});
const { failures, ...counts } = summary;
process.stdout.write(`${JSON.stringify({ seed, first, ...counts, seconds: Math.round((Date.now() - started) / 1000) }, null, 2)}\n`);
for (const f of failures)
  process.stdout.write(
    `FAIL case ${f.index} ${f.outcome}${f.modified.length ? ` modified=${f.modified.join(',')}` : ''}: ${f.description} | ${f.argv.join(' ')} | ${f.stderr.trim().split('\n').at(-1)}\n`,
  );
process.exitCode = failures.length > 0 ? 1 : 0;
