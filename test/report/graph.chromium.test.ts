/**
 * The graph view of the HTML report in a real headless Chromium: every layer drawn, fills equal to
 * colours computed here from the raw cosines, the mode switch, the tooltip, zoom, and no console
 * error or request beyond the file itself.
 */
import { describe, expect, it } from 'vitest';
import { referenceModel } from '../../models/reference-models.js';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { buildGraphView } from '../../src/report/graph/view.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { CHROMIUM, hasChromium, withReportPage } from './chromium.js';
import { buildReport, makeScan } from './fixtures.js';
import { expectedFills, rawLayerNumbers } from './graph-expect.js';

interface DrawnNode {
  label: string;
  kind: string;
  fill: string;
  selected: boolean;
}

/** "#rrggbb" → "rgb(r, g, b)", as getComputedStyle reports fills. */
function cssRgb(hex: string): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgb(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255})`;
}

// Runs in the page (a string: the test project is type-checked without the DOM library).
const READ_NODES = `[...document.querySelectorAll('.graph-view[data-graph="original"] g.gnode')].map((g) => ({
  label: JSON.parse(g.getAttribute('data-info')).label,
  kind: JSON.parse(g.getAttribute('data-info')).kind,
  fill: getComputedStyle(g.querySelector('rect.gbox')).fill,
  selected: g.classList.contains('selected'),
}))`;

describe('graph view in Chromium', () => {
  it.skipIf(!hasChromium)(
    `draws ResNet-18 coloured by conflict, with tooltips and zoom (skipped outside CI when ${CHROMIUM} is absent)`,
    async () => {
      const ref = referenceModel('resnet18');
      const tasks = parseTaskSpec(ref.tasks, 'resnet18');
      // The report's tasks (digit, fashion) read the model's outputs T1 and T2.
      const model = ref.build({ opset: 17 });
      const view = buildGraphView(
        model,
        ['digit', 'fashion'].map((name, i) => ({ name, output: tasks[i]!.output })),
      );
      const S = [-0.02, 0];
      const scan = makeScan({ taskCount: 2, epochs: 3, stepsPerEpoch: 30, S });
      const report = buildReport(scan);
      const top = 10;
      const html = renderHtmlReport(report, { top, graph: view });

      // Independently: scores from the raw cosines, their colours, and the top 10 (ties: network order).
      const expected = expectedFills(scan, S[0]!);
      const expectedCosine = expectedFills(scan, S[0]!).cosine;
      const raw = rawLayerNumbers(scan, S[0]!);
      const topLayers = scan.layers
        .map((l, i) => ({ name: l.name, score: raw.score[i]!, i }))
        .sort((a, b) => b.score - a.score || a.i - b.i)
        .slice(0, top)
        .map((l) => l.name);
      const first = topLayers[0]!;

      await withReportPage('report-graph.html', html, ['error', 'warning'], async ({ page, problems, requests, fileUrl }) => {
        await page.waitForSelector('.graph-view[data-ready="true"]');

        // Nodes present: every node of the view, each shared layer once, filled by its score.
        let drawn = await page.evaluate<DrawnNode[]>(READ_NODES);
        expect(drawn).toHaveLength(view.nodes.length);
        const layers = drawn.filter((n) => n.kind === 'layer' && expected.score.has(n.label));
        expect(layers.map((n) => n.label).sort()).toEqual(scan.layers.map((l) => l.name).sort());
        for (const n of layers) expect(n.fill, n.label).toBe(cssRgb(expected.score.get(n.label)!));
        expect(
          drawn
            .filter((n) => n.selected)
            .map((n) => n.label)
            .sort(),
        ).toEqual([...topLayers].sort());

        const viewport = page.locator('.graph-view[data-graph="original"] .graph-viewport');
        const box = await viewport.boundingBox();
        expect(box!.width).toBeGreaterThan(800);
        expect(box!.height).toBeGreaterThan(200);

        // Hover: the tooltip names the layer, its score at each S and its per-pair mean cosine.
        const tip = page.locator('.graph-view[data-graph="original"] .graph-tip');
        await expect.poll(() => tip.isHidden()).toBe(true);
        const node = page.locator('.graph-view[data-graph="original"] g.gnode.layer.scored', { hasText: first }).first();
        await node.hover();
        await expect.poll(() => tip.isVisible()).toBe(true);
        const text = (await tip.textContent()) ?? '';
        const index = scan.layers.findIndex((l) => l.name === first);
        expect(text).toContain(first);
        expect(text).toContain(`score at S = -0.02${raw.score[index]!.toLocaleString('en-US')}`);
        expect(text).toContain('mean cos digit / fashion');
        expect(await tip.locator('svg.graph-series path').count()).toBe(1);

        // Click pins the tooltip; its node list expands to the ONNX nodes compacted into the box.
        const boxed = view.nodes.find((n) => n.kind === 'layer' && n.members.length > 1)!;
        await page.locator('.graph-view[data-graph="original"] g.gnode', { hasText: boxed.label }).first().click();
        const members = tip.locator('details.graph-tip-members');
        await members.locator('summary').click();
        await expect.poll(() => members.getAttribute('open')).not.toBeNull();
        const listed = await members.locator('li').allTextContents();
        const drawnNode = boxed;
        expect(listed).toEqual(drawnNode.members.slice(0, 48));
        const onnxLabels = new Set(model.graph.nodes.map((n) => n.label));
        for (const name of listed) expect(onnxLabels.has(name), name).toBe(true);
        await page.keyboard.press('Escape');

        // Mean-cosine mode: fills follow the mean cosine (red below 0, blue above).
        await page.selectOption('.graph-view[data-graph="original"] select.graph-mode', { label: 'mean cosine' });
        drawn = await page.evaluate<DrawnNode[]>(READ_NODES);
        for (const n of drawn.filter((d) => expectedCosine.has(d.label) && d.kind === 'layer')) {
          expect(n.fill, n.label).toBe(cssRgb(expectedCosine.get(n.label)!));
        }
        expect(await page.locator('.graph-view[data-graph="original"] svg.graph-legend:not([hidden])').count()).toBe(1);

        // Zoom with the wheel, then back to the whole graph.
        const svg = page.locator('.graph-view[data-graph="original"] svg.graph');
        const whole = await svg.getAttribute('viewBox');
        await page.mouse.move(box!.x + box!.width / 2, box!.y + box!.height / 2);
        await page.mouse.wheel(0, -600);
        const zoomed = (await svg.getAttribute('viewBox'))!.split(' ').map(Number);
        expect(zoomed[2]!).toBeLessThan(Number(whole!.split(' ')[2]));
        await page.click('.graph-view[data-graph="original"] button[data-zoom="fit"]');
        expect(await svg.getAttribute('viewBox')).toBe(whole);

        expect(problems).toEqual([]);
        expect(requests).toEqual([fileUrl]);
      });
    },
    120_000,
  );
});
