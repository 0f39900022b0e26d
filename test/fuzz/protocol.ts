/** Messages between the fuzzer and its worker process. */
export interface WorkerRequest {
  id: number;
  argv: string[];
  /** Working directory of the case (relative output paths land in the case folder). */
  cwd: string;
}

export interface WorkerReply {
  id: number;
  code: number;
  stdoutLength: number;
  stderr: string;
}

/** Written by the worker to its stderr after each case. */
export const END_MARKER = '--recon-fuzz-case-end ';
