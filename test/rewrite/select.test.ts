import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReconError } from '../../src/util/errors.js';
import { closestNames, editDistance } from '../../src/rewrite/edit-distance.js';
import { parseLayerList, rankByScore, resolveLayerNames, selectLayers, type RankedLayer, type SelectionCostFn } from '../../src/rewrite/select.js';

const RANKED: RankedLayer[] = [
  { name: 'conv1', score: 50, params: 3000 },
  { name: 'bn1', score: 90, params: 100 },
  { name: 'fc', score: 50, params: 50000 },
  { name: 'bn2', score: 70, params: 200 },
  { name: 'head', score: 99, params: 10, tasks: 1 },
  { name: 'conv2', score: 10, params: 1000 },
];
const TOTAL = 100000;
/** Two tasks: branching a layer adds its parameters once; MACs grow by 5% per layer. */
const cost: SelectionCostFn = (layers) => ({
  paramIncreasePct: (100 * layers.reduce((n, l) => n + RANKED.find((r) => r.name === l)!.params, 0)) / TOTAL,
  macIncreasePct: 5 * layers.length,
});

describe('selectLayers', () => {
  it('ranks by descending score, ties in given order, task-specific layers excluded', () => {
    expect(rankByScore(RANKED).map((l) => l.name)).toEqual(['head', 'bn1', 'bn2', 'conv1', 'fc', 'conv2']);
    expect(selectLayers(RANKED, { topK: 3 }).layers).toEqual(['bn1', 'bn2', 'conv1']);
    expect(selectLayers(RANKED, { topK: 99 }).layers).toEqual(['bn1', 'bn2', 'conv1', 'fc', 'conv2']);
  });

  it('fills a parameter budget greedily in score order, passing over layers that do not fit', () => {
    const s = selectLayers(RANKED, { maxParamIncreasePct: 4.3 }, cost);
    expect(s.layers).toEqual(['bn1', 'bn2', 'conv1', 'conv2']);
    expect(s.rejected).toEqual(['fc']);
    expect(s.cost!.paramIncreasePct).toBeCloseTo(4.3, 10);
  });

  it('fills a MAC budget', () => {
    expect(selectLayers(RANKED, { maxMacIncreasePct: 10 }, cost).layers).toEqual(['bn1', 'bn2']);
  });

  it('refuses budgets no layer fits, bad K and empty candidate lists', () => {
    expect(() => selectLayers(RANKED, { maxParamIncreasePct: 0.01 }, cost)).toThrow(
      /no layer fits a parameter budget of 0.01%; the cheapest, "bn1", adds 0.100%/,
    );
    expect(() => selectLayers(RANKED, { topK: 0 })).toThrow(ReconError);
    expect(() => selectLayers(RANKED, { maxMacIncreasePct: -1 }, cost)).toThrow(/non-negative/);
    expect(() => selectLayers([{ name: 'h', score: 1, params: 1, tasks: 1 }], { topK: 1 })).toThrow(/no shared layer/);
    expect(() => selectLayers(RANKED, { maxParamIncreasePct: 5 })).toThrow(/needs a cost function/);
  });
});

describe('resolveLayerNames', () => {
  const available = ['conv1', 'bn1', 'layer1.0.conv1', 'layer1.0.bn1', 'layer1.1.conv1', 'fc', 'head'];

  it('keeps known names in order without duplicates', () => {
    expect(resolveLayerNames(['fc', 'bn1', 'fc'], available)).toEqual(['fc', 'bn1']);
  });

  it('lists the closest names for unknown ones', () => {
    expect(() => resolveLayerNames(['layer1.0.con1'], available)).toThrow(
      'unknown layer: "layer1.0.con1" (closest: layer1.0.conv1, layer1.0.bn1, layer1.1.conv1, conv1, bn1)',
    );
    expect(() => resolveLayerNames(['bn9', 'x'], available)).toThrow(/unknown layers: "bn9" \(closest: bn1,.*; "x"/);
  });

  it('refuses task-specific layers and empty selections', () => {
    expect(() => resolveLayerNames(['head', 'fc'], available, { taskSpecific: ['head'] })).toThrow('not shared (already task-specific): head');
    expect(() => resolveLayerNames([], available)).toThrow('empty layer selection');
  });

  it('edit distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(closestNames('fx', ['fc', 'fcc', 'x'], 2)).toEqual(['fc', 'x']);
  });
});

describe('parseLayerList', () => {
  it('reads comma lists and @files with comments', () => {
    expect(parseLayerList('a, b,,c')).toEqual(['a', 'b', 'c']);
    const dir = mkdtempSync(join(tmpdir(), 'recon-layers-'));
    const file = join(dir, 'layers.txt');
    writeFileSync(file, '# selected\nbn1\nlayer1.0.bn1, conv1  # top\n\n');
    expect(parseLayerList(`@${file}`)).toEqual(['bn1', 'layer1.0.bn1', 'conv1']);
  });

  it('refuses empty lists and unreadable files', () => {
    expect(() => parseLayerList(' , ')).toThrow('empty layer list');
    expect(() => parseLayerList('@/nonexistent/layers.txt')).toThrow(/cannot read layer list \/nonexistent\/layers.txt \(ENOENT\)/);
  });
});
