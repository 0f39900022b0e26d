/** protobufjs decodes int64 fields as Long objects (or numbers); these helpers normalise them. */
export interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
  toString(): string;
}

export type Int64Field = number | LongLike | null | undefined;

export function int64ToBigInt(v: Int64Field): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(v);
  return BigInt(v.toString());
}

export function int64ToNumber(v: Int64Field): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  const b = int64ToBigInt(v);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    // Clamp rather than lose the sign: such values (INT64_MAX as "to the end") only matter as bounds.
    return b > 0n ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  }
  return Number(b);
}
