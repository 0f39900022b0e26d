/**
 * Expected graph colours computed independently of the renderer: scores and mean cosines counted
 * from a synthetic scan's raw cosines, mapped through the ramps' stops by a separate interpolation.
 */
import type { SyntheticScan } from './fixtures.js';

/** The conflict ramp (light to dark red) and the diverging ramp (red, white, blue), as documented in palette.ts. */
const CONFLICT_STOPS = ['#fff5f0', '#fcbba1', '#fb6a4a', '#cb181d', '#67000d'];
const DIVERGING_STOPS = ['#b2182b', '#ef8a62', '#fddbc7', '#f7f7f7', '#d1e5f0', '#67a9cf', '#2166ac'];

export function rampColor(stops: readonly string[], t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const parse = (h: string): number[] => [1, 3, 5].map((k) => Number.parseInt(h.slice(k, k + 2), 16));
  const a = parse(stops[i]!);
  const b = parse(stops[i + 1]!);
  return `#${a
    .map((v, k) =>
      Math.round(v + (b[k]! - v) * f)
        .toString(16)
        .padStart(2, '0'),
    )
    .join('')}`;
}

/** Score (cosines below S over all steps and pairs) and mean cosine of each layer, from the raw scan. */
export function rawLayerNumbers(scan: SyntheticScan, S: number): { score: number[]; mean: number[] } {
  const L = scan.layers.length;
  const score = new Array<number>(L).fill(0);
  const sum = new Array<number>(L).fill(0);
  for (const step of scan.steps) {
    for (let l = 0; l < L; l++) {
      for (let p = 0; p < scan.pairCount; p++) {
        const c = step.cosines[l * scan.pairCount + p]!;
        if (c < S) score[l]!++;
        sum[l]! += c;
      }
    }
  }
  return { score, mean: sum.map((s) => s / (scan.steps.length * scan.pairCount)) };
}

export function expectedFills(scan: SyntheticScan, S: number): { score: Map<string, string>; cosine: Map<string, string> } {
  const { score, mean } = rawLayerNumbers(scan, S);
  const maxScore = Math.max(...score);
  const minScore = Math.min(...score);
  const maxAbs = Math.max(...mean.map(Math.abs));
  return {
    score: new Map(scan.layers.map((l, i) => [l.name, rampColor(CONFLICT_STOPS, (score[i]! - minScore) / (maxScore - minScore))])),
    cosine: new Map(scan.layers.map((l, i) => [l.name, rampColor(DIVERGING_STOPS, (mean[i]! / maxAbs + 1) / 2)])),
  };
}
