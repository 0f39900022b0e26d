/**
 * Reading and writing report files. Writes go through a temporary sibling and a rename, so a
 * crash never leaves a half-written report.
 */
import { printable, ReconError } from '../util/errors.js';
import { readFileSync } from 'node:fs';
import { writeTextFileAtomic } from '../util/atomic-write.js';
import { parseConflictReport, type ConflictReport } from './schema.js';

/** Reads and validates a report; errors name the file. */
export function readConflictReport(path: string): ConflictReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ReconError(`${path}: cannot read conflict report: ${printable((error as Error).message)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // V8 quotes the text around the error, which may hold newlines or binary: escaped here.
    throw new ReconError(`${path}: not valid JSON: ${printable((error as Error).message, 200)}`);
  }
  return parseConflictReport(json, path);
}

export function writeConflictReport(path: string, report: ConflictReport): void {
  writeTextFileAtomic(path, `${formatReportJson(report)}\n`);
}

/**
 * Indented JSON that keeps arrays of numbers and strings on one line: readable and diffable,
 * without one line per histogram count.
 */
export function formatReportJson(value: unknown, indent = ''): string {
  if (Array.isArray(value)) {
    if (value.every((item) => typeof item !== 'object' || item === null)) return `[${value.map((item) => JSON.stringify(item) ?? 'null').join(', ')}]`;
    const inner = `${indent}  `;
    return `[\n${value.map((item) => inner + formatReportJson(item, inner)).join(',\n')}\n${indent}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatReportJson(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export { writeTextFileAtomic } from '../util/atomic-write.js';
