/**
 * Opens the HTML report in a real headless Chromium from disk and checks that it renders
 * offline: no console errors, no request but the file itself, every chart laid out.
 */
import { describe, expect, it } from 'vitest';
import { compareReports } from '../../src/report/compare.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { CHROMIUM, hasChromium, withReportPage } from './chromium.js';
import { buildReport, makeScan } from './fixtures.js';

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

      await withReportPage('report.html', html, ['error'], async ({ page, problems, requests, fileUrl }) => {
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

        expect(problems).toEqual([]);
        expect(requests).toEqual([fileUrl]);
      });
    },
    90_000,
  );
});
