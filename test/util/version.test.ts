import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/util/version.js';
import { cli } from '../cli/helpers.js';

describe('one version', () => {
  it("is package.json's, and recon --version prints it", async () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
    expect((await cli('--version')).stdout.trim()).toBe(pkg.version);
  });
});
