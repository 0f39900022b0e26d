import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirectory } from '../../src/util/make-directory.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-mkdir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('makeDirectory', () => {
  it('creates missing levels and accepts an existing folder', () => {
    const deep = join(dir, 'a', 'b', 'c');
    makeDirectory(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
    expect(() => makeDirectory(deep)).not.toThrow();
  });

  it('a file in the way is a one-line error naming it', () => {
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => makeDirectory(join(dir, 'file', 'sub'))).toThrow(/file\/sub: .*file exists and is not a folder|cannot use folder/);
    expect(existsSync(join(dir, 'file', 'sub'))).toBe(false);
  });

  it.skipIf(process.platform !== 'linux')('a folder under /proc fails at once (mkdirSync recursive never returns there)', () => {
    expect(() => makeDirectory('/proc/recon-no-such/x')).toThrow(/\/proc\/recon-no-such\/x: cannot create folder \/proc\/recon-no-such \(ENOENT\)/);
  });
});
