import { BUNDLED_SCHEMA, LATER_FIELDS, type FieldTable } from './schema-fields.js';
import { ReconError } from '../util/errors.js';

export interface UnknownField {
  message: string;
  field: number;
  /** The field's name in newer ONNX versions, when we know it. */
  knownAs: string | undefined;
  count: number;
}

/**
 * Walks the protobuf wire format of a serialized ModelProto and lists fields the bundled schema
 * does not know. Tensor payloads are skipped without being copied, so this is cheap even for
 * large models.
 */
export function findUnknownFields(bytes: Uint8Array, schema: FieldTable = BUNDLED_SCHEMA): UnknownField[] {
  const found = new Map<string, UnknownField>();
  const walk = (start: number, end: number, message: string): void => {
    const fields = schema[message];
    if (!fields) return;
    let pos = start;
    while (pos < end) {
      const [key, afterKey] = readVarint(bytes, pos);
      pos = afterKey;
      const field = Math.floor(key / 8);
      const wire = key & 7;
      let payloadStart = pos;
      let payloadEnd = pos;
      switch (wire) {
        case 0:
          payloadEnd = readVarint(bytes, pos)[1];
          break;
        case 1:
          payloadEnd = pos + 8;
          break;
        case 2: {
          const [len, after] = readVarint(bytes, pos);
          payloadStart = after;
          payloadEnd = after + len;
          break;
        }
        case 5:
          payloadEnd = pos + 4;
          break;
        default:
          throw new ReconError(`corrupt protobuf: wire type ${wire} at byte ${pos}`);
      }
      if (payloadEnd > end) throw new ReconError(`corrupt protobuf: field ${field} runs past its message at byte ${pos}`);
      if (!(field in fields)) {
        const id = `${message}.${field}`;
        const entry = found.get(id);
        if (entry) entry.count++;
        else found.set(id, { message, field, knownAs: LATER_FIELDS[message]?.[field], count: 1 });
      } else {
        const nested = fields[field];
        if (nested && wire === 2) walk(payloadStart, payloadEnd, nested);
      }
      pos = payloadEnd;
    }
  };
  walk(0, bytes.length, 'ModelProto');
  return [...found.values()];
}

function readVarint(bytes: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= bytes.length) throw new ReconError('corrupt protobuf: truncated varint');
    const b = bytes[pos++]!;
    result += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [result, pos];
    scale *= 128;
  }
  throw new ReconError('corrupt protobuf: varint too long');
}

export function describeUnknownFields(fields: readonly UnknownField[]): string {
  return fields.map((f) => `${f.message} field ${f.field}${f.knownAs ? ` (${f.knownAs})` : ''} ×${f.count}`).join(', ');
}
