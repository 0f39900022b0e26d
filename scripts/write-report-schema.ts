/**
 * Writes docs/report.schema.json, the JSON Schema of the conflict report, from its one declaration
 * in src/report/schema.ts (`npm run report-schema`). Run it after changing the report format:
 * test/report/json-schema.test.ts fails while the committed file differs from what this writes.
 */
import { fileURLToPath } from 'node:url';
import { conflictReportJsonSchema } from '../src/report/schema.js';
import { writeTextFileAtomic } from '../src/util/atomic-write.js';

const target = fileURLToPath(new URL('../docs/report.schema.json', import.meta.url));
writeTextFileAtomic(target, `${JSON.stringify(conflictReportJsonSchema(), null, 2)}\n`);
process.stderr.write(`wrote ${target}\n`);
