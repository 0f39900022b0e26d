import { expect } from 'vitest';
import { ReconError } from '../../src/util/errors.js';

/** The ReconError thrown by `f`, checked to be one line with nothing a terminal would interpret. */
export function oneLineError(f: () => unknown): string {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ReconError);
  const message = (caught as Error).message;
  expect(message).not.toContain('\n');
  expect([...message].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)).toBe(false);
  return message;
}
