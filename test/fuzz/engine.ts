/**
 * Runs fuzz cases and judges each one: the CLI must either succeed or exit non-zero with exactly
 * one clean error line (no "internal error", no stack trace, no native log, nothing unprintable);
 * it must never hang (cases run in a child process that is killed after a timeout), never crash
 * the process, and never change an input (every input file is hashed before and after).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFixtures, type FileSet } from './fixtures.js';
import { type FuzzCase, makeCase } from './mutate.js';
import { END_MARKER, type WorkerReply, type WorkerRequest } from './protocol.js';

export type Outcome = 'success' | 'clean-error' | 'internal-error' | 'unclean-error' | 'hang' | 'crash';

export interface CaseResult {
  index: number;
  kind: string;
  description: string;
  argv: string[];
  outcome: Outcome;
  /** Input files whose bytes or type changed. */
  modified: string[];
  code: number | undefined;
  stderr: string;
}

export interface FuzzSummary {
  cases: number;
  successes: number;
  cleanErrors: number;
  internalErrors: number;
  uncleanErrors: number;
  hangs: number;
  crashes: number;
  modifiedInputs: number;
  /** Every case that is not a success or a clean error, or that changed an input. */
  failures: CaseResult[];
  /** Cases per kind of mutation. */
  kinds: Record<string, number>;
}

export interface FuzzOptions {
  cases: number;
  seed: number;
  /** Index of the first case (to split a run or replay one case). */
  first?: number;
  /** A case running longer than this is a hang (default 60 s). */
  timeoutMs?: number;
  /** Called after every case (progress). */
  onCase?: (result: CaseResult, done: number) => void;
}

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'worker.ts');

/** One child process that runs cases one at a time. */
class Worker {
  private child: ChildProcess | undefined;
  private nativeStderr = '';
  private caseStderr = '';
  private pending: { id: number; resolve: (r: WorkerReply | 'hang' | 'crash') => void; timer: NodeJS.Timeout; reply?: WorkerReply } | undefined;
  private nextId = 0;

  private async start(): Promise<ChildProcess> {
    // tsx resolved here, so that the worker can start in any folder.
    const child = fork(WORKER, [], { execArgv: ['--import', import.meta.resolve('tsx')], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    child.stderr!.on('data', (chunk: Buffer) => (this.nativeStderr += chunk.toString('utf8')));
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`fuzz worker exited at start (code ${code}): ${this.nativeStderr}`)));
    });
    // A case is finished when both its reply and its end marker on stderr have arrived.
    child.on('message', (reply: WorkerReply) => {
      if (this.pending && reply.id === this.pending.id) {
        this.pending.reply = reply;
        this.settle();
      }
    });
    child.stderr!.on('data', () => this.settle());
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
      if (this.pending) {
        clearTimeout(this.pending.timer);
        const done = this.pending.resolve;
        this.pending = undefined;
        done('crash');
      }
    });
    this.child = child;
    return child;
  }

  private settle(): void {
    const pending = this.pending;
    const marker = pending ? `${END_MARKER}${pending.id}\n` : '';
    if (!pending?.reply || !this.nativeStderr.includes(marker)) return;
    clearTimeout(pending.timer);
    this.pending = undefined;
    this.caseStderr = this.nativeStderr.replace(marker, '');
    this.nativeStderr = '';
    pending.resolve(pending.reply);
  }

  /** Runs argv; also returns what the process wrote to its own stderr (native logs) meanwhile. */
  async run(argv: string[], cwd: string, timeoutMs: number): Promise<{ reply: WorkerReply | 'hang' | 'crash'; native: string }> {
    const child = this.child ?? (await this.start());
    this.caseStderr = '';
    const id = this.nextId++;
    const reply = await new Promise<WorkerReply | 'hang' | 'crash'>((resolve) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        child.kill('SIGKILL');
        this.child = undefined;
        resolve('hang');
      }, timeoutMs);
      this.pending = { id, resolve, timer };
      child.send({ id, argv, cwd } satisfies WorkerRequest);
    });
    return { reply, native: typeof reply === 'string' ? this.nativeStderr : this.caseStderr };
  }

  stop(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }
}

function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Type and content of every input, without opening pipes (reading one would block). */
function fingerprint(folder: string, c: FuzzCase): Map<string, string> {
  const out = new Map<string, string>();
  const paths = [...c.files.keys(), ...(c.special.dirs ?? []), ...(c.special.fifo ?? []), ...(c.special.symlinks ?? []).map(([link]) => link)];
  for (const rel of paths) {
    const path = join(folder, rel);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(path);
    } catch {
      out.set(rel, 'missing');
      continue;
    }
    if (st.isFile()) out.set(rel, `file:${sha(readFileSync(path))}`);
    else if (st.isSymbolicLink()) out.set(rel, 'symlink');
    else if (st.isDirectory()) out.set(rel, 'dir');
    else out.set(rel, 'other');
  }
  return out;
}

function materialize(folder: string, c: FuzzCase): boolean {
  for (const [rel, bytes] of c.files) {
    mkdirSync(dirname(join(folder, rel)), { recursive: true });
    writeFileSync(join(folder, rel), bytes);
  }
  for (const rel of c.special.dirs ?? []) mkdirSync(join(folder, rel), { recursive: true });
  for (const [link, target] of c.special.symlinks ?? []) symlinkSync(target, join(folder, link));
  let fifos = true;
  for (const rel of c.special.fifo ?? []) {
    if (process.platform !== 'linux') {
      fifos = false;
      continue;
    }
    execFileSync('mkfifo', [join(folder, rel)]);
  }
  mkdirSync(join(folder, 'out'), { recursive: true });
  return fifos;
}

// What a clean failure may print besides its one error line: warnings and progress lines.
const STACK_LINE = /^\s+at /;
const NATIVE_LOG = /\[[EWIV]:onnxruntime|^\S+\.(cc|h|cpp):\d+/;

/** Judges what the CLI printed; `native` is what the process wrote to stderr itself. */
export function judge(code: number, stderr: string, native: string): Outcome {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  if (code === -1) return 'crash';
  if (lines.some((l) => /internal error/.test(l))) return 'internal-error';
  if (code === 0) return 'success';
  // A usage line (exit 2) is the CLI's answer to a malformed command line.
  const errorLines = lines.filter((l) => /^recon( [a-z-]+)?: /.test(l) || (code === 2 && /^usage: /.test(l)));
  const unprintable = [...stderr].some((ch) => {
    const cp = ch.charCodeAt(0);
    return (cp < 0x20 && ch !== '\n') || (cp >= 0x7f && cp < 0xa0);
  });
  if (errorLines.length !== 1 || lines.at(-1) !== errorLines[0] || lines.some((l) => STACK_LINE.test(l)) || NATIVE_LOG.test(native) || unprintable) {
    return 'unclean-error';
  }
  return 'clean-error';
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const root = mkdtempSync(join(tmpdir(), 'recon-fuzz-'));
  const worker = new Worker();
  const summary: FuzzSummary = {
    cases: 0,
    successes: 0,
    cleanErrors: 0,
    internalErrors: 0,
    uncleanErrors: 0,
    hangs: 0,
    crashes: 0,
    modifiedInputs: 0,
    failures: [],
    kinds: {},
  };
  try {
    const fixtures: FileSet = await buildFixtures(join(root, 'fixtures'));
    const first = options.first ?? 0;
    for (let index = first; index < first + options.cases; index++) {
      const c = makeCase(options.seed, index, fixtures);
      const folder = join(root, `case${index}`);
      mkdirSync(folder);
      materialize(folder, c);
      const before = fingerprint(folder, c);
      const argv = c.argv.map((a) => (a.startsWith('@/') ? join(folder, a.slice(2)) : a));
      const { reply, native } = await worker.run(argv, join(folder, 'out'), options.timeoutMs ?? 60_000);
      const after = fingerprint(folder, c);
      const inputs = inputsOf(c.argv);
      const modified = [...before].filter(([rel, print]) => after.get(rel) !== print && inputs(rel)).map(([rel]) => rel);
      const outcome: Outcome = reply === 'hang' ? 'hang' : reply === 'crash' ? 'crash' : judge(reply.code, reply.stderr, native);
      const result: CaseResult = {
        index,
        kind: c.kind,
        description: c.description,
        argv: c.argv,
        outcome,
        modified,
        code: typeof reply === 'string' ? undefined : reply.code,
        stderr: typeof reply === 'string' ? native : reply.stderr + (native ? `[native stderr] ${native}` : ''),
      };
      summary.cases++;
      summary.kinds[c.kind] = (summary.kinds[c.kind] ?? 0) + 1;
      if (outcome === 'success') summary.successes++;
      else if (outcome === 'clean-error') summary.cleanErrors++;
      else if (outcome === 'internal-error') summary.internalErrors++;
      else if (outcome === 'unclean-error') summary.uncleanErrors++;
      else if (outcome === 'hang') summary.hangs++;
      else summary.crashes++;
      if (modified.length > 0) summary.modifiedInputs++;
      if ((outcome !== 'success' && outcome !== 'clean-error') || modified.length > 0) summary.failures.push(result);
      options.onCase?.(result, summary.cases);
      rmSync(folder, { recursive: true, force: true });
    }
  } finally {
    worker.stop();
    rmSync(root, { recursive: true, force: true });
  }
  return summary;
}

/** Flags whose value is a file or folder the command writes (the user asked for it there). */
const OUTPUT_FLAGS = new Set([
  '-o',
  '--output',
  '--json',
  '--json-out',
  '--csv',
  '--html',
  '--graph-svg',
  '--save-trained',
  '--dump-grads',
  '--metrics',
  '--report',
  '--training-output',
]);

/**
 * Which case files are inputs of the command: every `@/` path on the command line except the value
 * of an output flag, each model's external data (`<model>.<…>` beside it, or the ext/ folder's data
 * for a model there), and the model and data a report names (the fixture report names mlp.onnx and
 * d.npz). A command may overwrite a file that is none of these when asked to: that is an output.
 */
function inputsOf(argv: readonly string[]): (rel: string) => boolean {
  const named = new Set<string>();
  argv.forEach((a, i) => {
    if (!a.startsWith('@/')) return;
    const flag = argv[i - 1] ?? '';
    if (OUTPUT_FLAGS.has(flag)) return;
    named.add(a.slice(2));
  });
  // `recon report` reads the model the report names (for the graph view) and refuses its data too.
  const reportNamed = argv[0] === 'report';
  return (rel) =>
    named.has(rel) ||
    [...named].some(
      (n) =>
        (n.endsWith('.onnx') && rel.startsWith(`${n}.`)) ||
        (n.endsWith('.onnx') && n.includes('/') && rel.startsWith(n.slice(0, n.lastIndexOf('/') + 1)) && rel.endsWith('.data')),
    ) ||
    (reportNamed && (rel === 'mlp.onnx' || rel === 'd.npz'));
}
