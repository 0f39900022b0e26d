/**
 * An error caused by the user's input (a model, a task spec, data, a flag). The CLI prints its
 * one-line message without a stack trace; anything else is a bug and keeps its stack.
 */
export class ReconError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReconError';
  }
}

export function isReconError(e: unknown): e is ReconError {
  return e instanceof ReconError;
}
