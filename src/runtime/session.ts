import * as ort from 'onnxruntime-node';
import { printable, ReconError } from '../util/errors.js';
import type { HostTensor } from './ort-tensor.js';
import { cudaStatus } from './cuda.js';
import { fromOrtTensor, toOrtTensor } from './ort-tensor.js';

export type DeviceSpec = 'cpu' | 'cuda' | `cuda:${number}` | 'auto';

export interface SessionOptions {
  device?: DeviceSpec;
  /** Threads inside one operator (0 = onnxruntime's default). */
  intraOpThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Called with one-line warnings (e.g. falling back from CUDA to CPU). */
  onWarning?: (message: string) => void;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * Let idle intra-op threads spin-wait for work (default on, as onnxruntime). A gradient step
   * runs thousands of short kernels: on an idle machine spinning saves the wake-up of every one
   * (a few % on ResNet-18, ~20% on the small transformer); on a machine busy with other work the
   * spinning threads take the cores the next kernel needs, and off is ~30% faster
   * (bench/RESULTS.md).
   */
  spinning?: boolean;
  /** onnxruntime's CPU memory arena (default on: buffers are reused from run to run). */
  memoryArena?: boolean;
}

export const CUDA_HELP = 'see README § "CUDA execution provider" (npm run setup:cuda, then recon doctor)';

/** A loaded onnxruntime session plus the device it actually runs on. */
export class RuntimeSession {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly device: string,
  ) {}

  static async create(model: Uint8Array, options: SessionOptions = {}): Promise<RuntimeSession> {
    const device = options.device ?? 'cpu';
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
      // Fatal only: onnxruntime's errors come back as exceptions and are reported once, as one line.
      logSeverityLevel: options.logSeverityLevel ?? 4,
      enableCpuMemArena: options.memoryArena ?? true,
      extra: { session: { intra_op: { allow_spinning: (options.spinning ?? true) ? '1' : '0' } } },
    };
    if (options.intraOpThreads) base.intraOpNumThreads = options.intraOpThreads;
    if (device === 'cpu') {
      return new RuntimeSession(await createOrExplain(model, { ...base, executionProviders: ['cpu'] }), 'cpu');
    }
    const deviceId = device.startsWith('cuda:') ? Number(device.slice(5)) : 0;
    // Checked first: onnxruntime's own failure is a multi-line log on stderr.
    const status = cudaStatus();
    if (status.missingProviderFiles.length > 0 || status.missingLibraries.length > 0) {
      if (device === 'auto') {
        options.onWarning?.(`CUDA execution provider unavailable (${status.fix}); running on CPU`);
        return new RuntimeSession(await createOrExplain(model, { ...base, executionProviders: ['cpu'] }), 'cpu');
      }
      throw new ReconError(`cannot use the CUDA execution provider: ${status.fix}; ${CUDA_HELP}`);
    }
    try {
      const session = await ort.InferenceSession.create(model, {
        ...base,
        executionProviders: [{ name: 'cuda', deviceId }, 'cpu'],
      });
      return new RuntimeSession(session, `cuda:${deviceId}`);
    } catch (e) {
      const reason = firstLine(e);
      if (device === 'auto') {
        options.onWarning?.(`CUDA execution provider unavailable (${reason}); running on CPU`);
        return new RuntimeSession(await createOrExplain(model, { ...base, executionProviders: ['cpu'] }), 'cpu');
      }
      throw new ReconError(`cannot use the CUDA execution provider: ${reason}; ${CUDA_HELP}`);
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, HostTensor>, outputs?: readonly string[]): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrtTensor(v);
    // onnxruntime would also log the failure natively on stderr; it is reported once, below.
    const runOptions: ort.InferenceSession.RunOptions = { logSeverityLevel: 4 };
    let result: ort.InferenceSession.ReturnType;
    try {
      result = outputs ? await this.session.run(ortFeeds, outputs as string[], runOptions) : await this.session.run(ortFeeds, runOptions);
    } catch (e) {
      throw explainRunFailure(e);
    }
    const out: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(result)) out[k] = fromOrtTensor(v);
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

const NODE_FAILURE = /running (\S+) node\. Name:'([^']*)'(?: Status Message: ([\s\S]*))?/;

/** Hints by the failing operator: what in the user's data usually causes it. */
function hintFor(opType: string, nodeName: string): string {
  if (nodeName.startsWith('loss/')) return `check the targets of task "${nodeName.split('/')[1] ?? ''}" (class labels in range, shapes matching the output)`;
  if (/^(Gather|GatherElements|GatherND|Scatter|ScatterElements|ScatterND|OneHot)$/.test(opType)) {
    return 'an index is out of range: check token ids against the embedding size and class labels against the number of classes';
  }
  if (/^(Reshape|Expand|Concat|Add|Sub|Mul|Div|MatMul|Gemm|Conv|Where|Equal)$/.test(opType)) {
    return "shapes do not fit: check the data's shapes against the model's inputs";
  }
  return "check the data's shapes and values against the model's inputs";
}

/**
 * One line for a failed `session.run()`: the failing node (from onnxruntime's message), the
 * reason without C++ source locations, and a hint at the usual cause.
 */
export function explainRunFailure(e: unknown): ReconError {
  if (e instanceof ReconError) return e;
  const text = e instanceof Error ? e.message : String(e);
  const node = NODE_FAILURE.exec(text);
  if (node) {
    const [, opType, nodeName, status] = node;
    const reason = status !== undefined ? firstLine(status.trim()) : '';
    return new ReconError(
      `onnxruntime failed in ${opType} node "${printable(nodeName!)}"${reason ? `: ${printable(reason, 300)}` : ''} (hint: ${hintFor(opType!, nodeName!)})`,
    );
  }
  return new ReconError(`onnxruntime failed: ${printable(firstLine(text), 300)} (hint: check the data's dtypes and shapes against the model's inputs)`);
}

async function createOrExplain(model: Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(model, options);
  } catch (e) {
    throw new ReconError(`onnxruntime rejected the model: ${printable(firstLine(e), 400)}`);
  }
}

/**
 * The first line of an onnxruntime error without its C++ source locations and function signatures
 * (`/onnxruntime_src/…/x.h:46 void onnxruntime::f(…) Message` → `Message`), wherever in the line
 * they appear.
 */
export function firstLine(e: unknown): string {
  let line = ((e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '').trim();
  for (let guard = 0; guard < 16; guard++) {
    const located = SOURCE_LOCATION.exec(line);
    if (!located) break;
    line = `${line.slice(0, located.index)}${withoutSignature(line.slice(located.index + located[0].length))}`.trim();
  }
  return line;
}

const SOURCE_LOCATION = /(?:\/|[A-Za-z]:\\)\S+:\d+ /;

/** Drops a leading C++ function signature: up to the parenthesis that closes its argument list. */
function withoutSignature(rest: string): string {
  const open = rest.indexOf('(');
  // A sentence before any parenthesis is the message itself, not a signature.
  if (open < 0 || /[.!?:]\s/.test(rest.slice(0, open))) return rest;
  let depth = 0;
  for (let i = open; i < rest.length; i++) {
    if (rest[i] === '(') depth++;
    else if (rest[i] === ')' && --depth === 0) return rest.slice(i + 1).trim() || rest;
  }
  return rest;
}
