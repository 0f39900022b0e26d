import { describe, expect, it } from 'vitest';
import { judge, runFuzz } from './engine.js';

// About 20–60 s on two cores (15–40 ms a case); scripts/fuzz.ts runs the same generator for 10,000+ cases.
const CASES = 1500;
const SEED = 20_240;

describe('judging one case', () => {
  it('tells clean errors from internal errors, stack traces, native logs and binary output', () => {
    expect(judge(0, 'warning: something\n', '')).toBe('success');
    expect(judge(1, 'recon grads: tensor "w": bad offset\n', '')).toBe('clean-error');
    expect(judge(1, 'warning: x\nrecon scan: task "A": bad\n', '')).toBe('clean-error');
    expect(judge(2, 'usage: recon inspect model.onnx\n', '')).toBe('clean-error');
    expect(judge(1, 'recon grads: internal error: boom (run with --debug for details)\n', '')).toBe('internal-error');
    expect(judge(1, 'recon grads: one\nrecon grads: two\n', '')).toBe('unclean-error');
    expect(judge(1, 'recon grads: bad\n    at f (x.ts:1:1)\n', '')).toBe('unclean-error');
    expect(judge(1, 'recon grads: bad\n', '2026-01-01 [E:onnxruntime:, x.cc:12 f] failed\n')).toBe('unclean-error');
    expect(judge(1, 'recon grads: name "\u001b[31m"\n', '')).toBe('unclean-error');
    expect(judge(1, 'recon grads: bad\nmore text after the error\n', '')).toBe('unclean-error');
    expect(judge(-1, 'runCli rejected\n', '')).toBe('crash');
  });
});

describe(`fault injection: ${CASES} seeded mutations of models, data, specs, reports and flags`, () => {
  it('every case succeeds or fails with one clean line; none hangs, crashes or changes an input', async () => {
    const summary = await runFuzz({ cases: CASES, seed: SEED });
    const failures = summary.failures.map(
      (f) =>
        `case ${f.index} ${f.outcome}${f.modified.length > 0 ? ` (modified ${f.modified.join(', ')})` : ''}: ${f.description} | ${f.argv.join(' ')} | ${f.stderr.trim().split('\n').at(-1)}`,
    );
    expect(failures).toEqual([]);
    expect(summary.cases).toBe(CASES);
    // The mix covers every kind of mutation and both outcomes.
    expect(Object.keys(summary.kinds).sort()).toEqual(['data', 'external', 'flags', 'model-bytes', 'model-structure', 'report', 'spec']);
    expect(summary.cleanErrors).toBeGreaterThan(CASES / 2);
    expect(summary.successes).toBeGreaterThan(0);
    // A hang costs the 60 s per-case timeout before it is reported.
  }, 900_000);
});
