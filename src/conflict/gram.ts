/** Task-pair keys "A|B" for i < j, in task order (Recon's pair order). */
export function taskPairs(tasks: readonly string[]): { key: string; i: number; j: number }[] {
  const out = [];
  for (let i = 0; i < tasks.length; i++) for (let j = i + 1; j < tasks.length; j++) out.push({ key: `${tasks[i]}|${tasks[j]}`, i, j });
  return out;
}

/** Recon normalises with eps 1e-12 (F.normalize), so a zero gradient has cosine 0 with anything. */
const NORMALIZE_EPS = 1e-12;

/** Cosine between task gradients i and j from a row-major T×T Gram matrix. */
export function cosineFromGram(gram: ArrayLike<number>, tasks: number, i: number, j: number): number {
  const ni = Math.sqrt(Math.max(gram[i * tasks + i]!, 0));
  const nj = Math.sqrt(Math.max(gram[j * tasks + j]!, 0));
  return gram[i * tasks + j]! / (Math.max(ni, NORMALIZE_EPS) * Math.max(nj, NORMALIZE_EPS));
}

export function normsFromGram(gram: ArrayLike<number>, tasks: number): number[] {
  return Array.from({ length: tasks }, (_, t) => Math.sqrt(Math.max(gram[t * tasks + t]!, 0)));
}

/** Sum of Gram matrices (a layer's Gram is the sum of its parameters' Grams: weight and bias concatenated). */
export function sumGrams(grams: readonly ArrayLike<number>[], tasks: number): Float64Array {
  const out = new Float64Array(tasks * tasks);
  for (const g of grams) for (let k = 0; k < out.length; k++) out[k]! += g[k]!;
  return out;
}
