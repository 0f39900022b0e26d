/**
 * Opens the HTML report in a real headless Chromium from disk and checks that it renders
 * offline: no console errors, no request but the file itself, every chart laid out.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/report/compare.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { writeTextFileAtomic } from '../../src/report/io.js';
import { buildReport, makeScan } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
// In CI the browser is installed by .ci/run: a missing one must fail there, not skip.
const hasChromium = existsSync(CHROMIUM) || process.env.CI === 'true';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

describe('HTML report in Chromium', () => {
  it.skipIf(!hasChromium)(
    `renders offline with every chart visible (skipped outside CI when ${CHROMIUM} is absent)`,
    async () => {
      const scan = makeScan({ taskCount: 3, epochs: 8, stepsPerEpoch: 40, hostileName: true, S: [-0.02, 0] });
      const before = buildReport(scan, { withCost: true });
      const keep = before.layers.map((_, i) => i).filter((i) => before.layers[i]!.scores[0]!.rank > 10);
      const after = buildReport(makeScan({ taskCount: 3, epochs: 8, stepsPerEpoch: 40, hostileName: true, keepLayers: keep, cosineShift: 0.01 }));
      // The original scan with the comparison against the rewritten model: every chart kind at once.
      const html = renderHtmlReport(before, { top: 10, compare: compareReports(before, after) });
      // 2 score charts (one per S), distribution, conflict rate, losses, pairs, cost, occurrence.
      const expectedCharts = 8;

      mkdirSync(ARTIFACTS, { recursive: true });
      const htmlPath = join(ARTIFACTS, 'report.html');
      writeTextFileAtomic(htmlPath, html);
      const fileUrl = pathToFileURL(htmlPath).href;

      const userDataDir = mkdtempSync(join(tmpdir(), 'recon-report-chromium-'));
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
        viewport: { width: 1200, height: 900 },
      });
      try {
        const problems: string[] = [];
        const requests: string[] = [];
        context.on('request', (request) => requests.push(request.url()));
        const page = await context.newPage();
        page.on('console', (message) => {
          if (message.type() === 'error') problems.push(`console: ${message.text()}`);
        });
        page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
        await page.goto(fileUrl, { waitUntil: 'load' });

        const charts = await page.locator('svg.chart').all();
        expect(charts).toHaveLength(expectedCharts);
        for (const chart of charts) {
          const box = await chart.boundingBox();
          expect(box, (await chart.getAttribute('data-chart')) ?? 'chart').not.toBeNull();
          expect(box!.width).toBeGreaterThan(100);
          expect(box!.height).toBeGreaterThan(100);
        }
        // Nothing sticks out sideways at a laptop-sized window.
        // A string expression: the test project is type-checked without the DOM library.
        const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
        expect(overflow).toBeLessThanOrEqual(0);
        expect(await page.title()).toContain('Recon conflict report');

        await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
        expect(problems).toEqual([]);
        expect(requests).toEqual([fileUrl]);
      } finally {
        await context.close();
        rmSync(userDataDir, { recursive: true, force: true });
      }
    },
    90_000,
  );
});
