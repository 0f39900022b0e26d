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

// C0/C1 controls, the replacement character left by undecodable bytes, lone surrogates and the
// bidirectional overrides that could make a message read differently from what it says.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the purpose
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\ufffd\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A name or other text from an input file, made safe to print inside a one-line message: control
 * and undecodable characters become \xNN / \uNNNN escapes, and text longer than `max` characters
 * is cut (with its length said), so a binary or huge name cannot flood the terminal.
 */
export function printable(text: string, max = 200): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  const escaped = cut.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return text.length > max ? `${escaped}… (${text.length} characters)` : escaped;
}

/** Longest name (of a tensor, node, value, task or array) accepted from an input file. */
export const MAX_NAME_LENGTH = 4096;

/** Refuses a name longer than MAX_NAME_LENGTH, before anything is built from it. */
export function checkNameLength(name: string, what: string): void {
  if (name.length > MAX_NAME_LENGTH) {
    throw new ReconError(`${what} "${printable(name, 60)}" is ${name.length} characters long; names longer than ${MAX_NAME_LENGTH} are refused`);
  }
}

/**
 * A broken internal invariant: a bug in recon-onnx, never the user's input. The CLI reports it as
 * an internal error with a pointer to --debug; tests assert it is never reached from input.
 */
export class InternalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InternalError';
  }
}
