import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { conflictReportJsonSchema, type ConflictReport } from '../../src/report/schema.js';
import { buildReport, makeScan } from './fixtures.js';

const COMMITTED = 'docs/report.schema.json';

type JsonSchema = { [keyword: string]: unknown };

/**
 * Where `value` breaks `schema`, for the keywords docs/report.schema.json uses; any other keyword
 * is reported too, so that a schema growing new keywords cannot pass here unchecked.
 */
function violations(schema: JsonSchema | boolean, value: unknown, path = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${path}: not allowed`];
  const found: string[] = [];
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  for (const [keyword, rule] of Object.entries(schema)) {
    switch (keyword) {
      case '$schema':
      case 'title':
      case 'description':
        break;
      case 'type': {
        const actual = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
        const ok = rule === 'integer' ? Number.isInteger(value) : actual === rule;
        if (!ok) found.push(`${path}: not of type ${String(rule)}`);
        break;
      }
      case 'const':
        if (value !== rule) found.push(`${path}: not ${JSON.stringify(rule)}`);
        break;
      case 'enum':
        if (!(rule as unknown[]).includes(value)) found.push(`${path}: not one of the enum`);
        break;
      case 'minimum':
        if (typeof value === 'number' && value < (rule as number)) found.push(`${path}: below ${String(rule)}`);
        break;
      case 'maximum':
        if (typeof value === 'number' && value > (rule as number)) found.push(`${path}: above ${String(rule)}`);
        break;
      case 'pattern':
        if (typeof value === 'string' && !new RegExp(rule as string, 'u').test(value)) found.push(`${path}: does not match ${String(rule)}`);
        break;
      case 'minItems':
        if (Array.isArray(value) && value.length < (rule as number)) found.push(`${path}: fewer than ${String(rule)} items`);
        break;
      case 'maxItems':
        if (Array.isArray(value) && value.length > (rule as number)) found.push(`${path}: more than ${String(rule)} items`);
        break;
      case 'uniqueItems':
        if (rule === true && Array.isArray(value) && new Set(value).size !== value.length) found.push(`${path}: items repeat`);
        break;
      case 'prefixItems':
        if (Array.isArray(value)) (rule as JsonSchema[]).forEach((item, i) => found.push(...violations(item, value[i], `${path}[${i}]`)));
        break;
      case 'items': {
        const skip = Array.isArray(schema['prefixItems']) ? schema['prefixItems'].length : 0;
        if (Array.isArray(value)) value.slice(skip).forEach((item, i) => found.push(...violations(rule as JsonSchema, item, `${path}[${skip + i}]`)));
        break;
      }
      case 'required':
        if (isObject) for (const key of rule as string[]) if (!(key in value)) found.push(`${path}.${key}: missing`);
        break;
      case 'properties':
        if (isObject) {
          for (const [key, sub] of Object.entries(rule as Record<string, JsonSchema>)) {
            if (key in value) found.push(...violations(sub, (value as Record<string, unknown>)[key], `${path}.${key}`));
          }
        }
        break;
      case 'propertyNames':
        if (isObject) for (const key of Object.keys(value)) found.push(...violations(rule as JsonSchema, key, `${path} key ${key}`));
        break;
      case 'additionalProperties':
        if (isObject) {
          const declared = Object.keys((schema['properties'] as object | undefined) ?? {});
          for (const [key, sub] of Object.entries(value)) {
            if (!declared.includes(key)) found.push(...violations(rule as JsonSchema, sub, `${path}.${key}`));
          }
        }
        break;
      default:
        found.push(`${path}: keyword ${keyword} is not checked by this test`);
    }
  }
  return found;
}

function asJson(report: ConflictReport): Record<string, unknown> {
  return JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
}

describe('the JSON Schema of the conflict report', () => {
  const schema = conflictReportJsonSchema();

  it('is committed as docs/report.schema.json, up to date (regenerate: npm run report-schema)', () => {
    const text = readFileSync(COMMITTED, 'utf8');
    expect(JSON.parse(text)).toEqual(schema);
    expect(text).toBe(`${JSON.stringify(schema, null, 2)}\n`);
  });

  it('pins the kind and version and lists the required sections', () => {
    const properties = schema['properties'] as Record<string, JsonSchema>;
    expect(schema['$schema']).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(properties['kind']).toMatchObject({ const: 'recon-conflict-report' });
    expect(properties['schemaVersion']).toMatchObject({ type: 'integer', const: 1 });
    expect(schema['required']).toEqual([
      'schemaVersion',
      'kind',
      'tool',
      'createdAt',
      'partial',
      'model',
      'tasks',
      'pairs',
      'settings',
      'layers',
      'trunk',
      'losses',
      'progress',
    ]);
    expect(Object.keys(properties)).toEqual([
      'schemaVersion',
      'kind',
      'tool',
      'createdAt',
      'partial',
      'partialReason',
      'model',
      'tasks',
      'pairs',
      'settings',
      'layers',
      'trunk',
      'losses',
      'cost',
      'progress',
      'recordedSteps',
      'conflictRateSteps',
    ]);
  });

  it('carries the field documentation and the bin counts', () => {
    const stats = (((schema['properties'] as Record<string, JsonSchema>)['layers']!['items'] as JsonSchema)['properties'] as Record<string, JsonSchema>)[
      'pairs'
    ]!['additionalProperties'] as JsonSchema;
    const fields = stats['properties'] as Record<string, JsonSchema>;
    expect(fields['histogram']).toMatchObject({ minItems: 5, maxItems: 5, description: 'Counts in the 5 paper bins (bins.ts).' });
    expect(fields['fineHistogram']).toMatchObject({ minItems: 200, maxItems: 200 });
    expect(fields['std']).toMatchObject({ minimum: 0 });
    expect(stats['description']).toMatch(/^Summary of a set of cosines\./);
  });

  it('accepts the reports the builder writes, with and without the optional sections', () => {
    const full = buildReport(makeScan({ taskCount: 3, epochs: 2, stepsPerEpoch: 6, wholeTrunk: true }), { withCost: true, partialReason: 'interrupted' });
    full.settings.shard = { index: 1, count: 2 };
    full.recordedSteps = { file: 'scan.json.cosines.f32', dtype: 'float32', shape: [12, 41, 3] };
    const bare = buildReport(makeScan({ epochs: 1, stepsPerEpoch: 4 }));
    expect(violations(schema, asJson(full))).toEqual([]);
    expect(violations(schema, asJson(bare))).toEqual([]);
  });

  it('rejects what the structure alone rules out', () => {
    const report = asJson(buildReport(makeScan({ epochs: 1, stepsPerEpoch: 4 })));
    const layers = report['layers'] as { pairs: Record<string, { histogram: number[] }> }[];
    layers[0]!.pairs['digit|fashion']!.histogram.pop();
    (report['settings'] as { S: number[] }).S = [0, 0];
    report['kind'] = 'recon-ablation-table';
    delete report['trunk'];
    expect(violations(schema, report)).toEqual([
      '$.kind: not "recon-conflict-report"',
      '$.settings.S: items repeat',
      '$.layers[0].pairs.digit|fashion.histogram: fewer than 5 items',
      '$.trunk: missing',
    ]);
  });
});
