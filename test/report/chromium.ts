/** Shared set-up of the headless-Chromium report tests: the browser, the page, what it complained about. */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { writeTextFileAtomic } from '../../src/util/atomic-write.js';

export const CHROMIUM = '/usr/bin/chromium';
// In CI the browser is installed by .ci/run: a missing one must fail there, not skip.
export const hasChromium = existsSync(CHROMIUM) || process.env.CI === 'true';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

export interface OpenedPage {
  page: Page;
  /** Console messages of the given levels and page errors, as they happen. */
  problems: string[];
  /** Every URL the page asked for (the file itself included). */
  requests: string[];
  fileUrl: string;
}

/**
 * Writes `html` to test/artifacts/`name` (kept for a look after a failure), opens it from disk in
 * a fresh headless Chromium profile and runs `use`; the browser and profile are removed after.
 */
export async function withReportPage(
  name: string,
  html: string,
  consoleLevels: readonly string[],
  use: (opened: OpenedPage) => Promise<void>,
  viewport = { width: 1200, height: 900 },
): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const htmlPath = join(ARTIFACTS, name);
  writeTextFileAtomic(htmlPath, html);
  const fileUrl = pathToFileURL(htmlPath).href;
  const userDataDir = mkdtempSync(join(tmpdir(), 'recon-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport,
  });
  try {
    const problems: string[] = [];
    const requests: string[] = [];
    context.on('request', (request) => requests.push(request.url()));
    const page = await context.newPage();
    page.on('console', (message) => {
      if (consoleLevels.includes(message.type())) problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
    await page.goto(fileUrl, { waitUntil: 'load' });
    await use({ page, problems, requests, fileUrl });
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}
