import type { InspectReport } from './inspect.js';

/**
 * Checks a document against the `recon inspect --json` schema (version 1); returns the problems
 * found, each naming the JSON path. Kept by hand rather than generated: the schema is small and
 * its description lives in the README.
 */
export function validateInspectReport(doc: unknown): string[] {
  const errors: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const need = (cond: boolean, path: string, what: string): void => {
    if (!cond) errors.push(`${path}: ${what}`);
  };
  const isInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (!isObj(doc)) return ['$: not an object'];
  need(doc['schemaVersion'] === 1, '$.schemaVersion', 'must be 1');
  need(typeof doc['model'] === 'string', '$.model', 'string');
  need(isInt(doc['opset']), '$.opset', 'integer');
  need(Array.isArray(doc['tasks']), '$.tasks', 'array');
  for (const [i, t] of ((doc['tasks'] as unknown[]) ?? []).entries()) {
    need(isObj(t) && typeof t['name'] === 'string' && typeof t['output'] === 'string', `$.tasks[${i}]`, '{name, output} strings');
  }
  need(Array.isArray(doc['layers']), '$.layers', 'array');
  for (const [i, l] of ((doc['layers'] as unknown[]) ?? []).entries()) {
    const p = `$.layers[${i}]`;
    if (!isObj(l)) {
      errors.push(`${p}: object`);
      continue;
    }
    need(typeof l['name'] === 'string', `${p}.name`, 'string');
    need(typeof l['op'] === 'string', `${p}.op`, 'string');
    need(Array.isArray(l['nodes']) && (l['nodes'] as unknown[]).every((n) => typeof n === 'string'), `${p}.nodes`, 'string array');
    need(Array.isArray(l['params']), `${p}.params`, 'array');
    let sum = 0;
    for (const [j, q] of ((l['params'] as unknown[]) ?? []).entries()) {
      const ok = isObj(q) && typeof q['name'] === 'string' && Array.isArray(q['shape']) && isInt(q['numel']);
      need(ok, `${p}.params[${j}]`, '{name, shape, numel}');
      if (ok) {
        sum += q['numel'] as number;
        need((q['shape'] as number[]).reduce((a, b) => a * b, 1) === q['numel'], `${p}.params[${j}].numel`, 'product of shape');
      }
    }
    need(l['numel'] === sum, `${p}.numel`, 'sum of its params');
    need(Array.isArray(l['tasks']), `${p}.tasks`, 'array');
    need(
      typeof l['shared'] === 'boolean' && l['shared'] === (l['tasks'] as unknown[]).length >= 2,
      `${p}.shared`,
      'true exactly when it reaches two or more tasks',
    );
  }
  const totals = doc['totals'];
  need(isObj(totals) && isInt(totals['params']) && isInt(totals['shared']) && isObj(totals['taskSpecific']), '$.totals', '{params, shared, taskSpecific}');
  return errors;
}

export type { InspectReport };
