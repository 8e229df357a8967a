// BSON element types and how long each value is: one table for both walkers, the one over whole
// documents in memory (archiver/raw-bson.ts) and the one over streamed bundle entries (reader.ts).

/** BSON element type codes. */
export const T = {
  double: 0x01,
  string: 0x02,
  object: 0x03,
  array: 0x04,
  binary: 0x05,
  undefined: 0x06,
  objectId: 0x07,
  bool: 0x08,
  date: 0x09,
  null: 0x0a,
  regex: 0x0b,
  dbPointer: 0x0c,
  code: 0x0d,
  symbol: 0x0e,
  codeWithScope: 0x0f,
  int32: 0x10,
  timestamp: 0x11,
  int64: 0x12,
  decimal128: 0x13,
  minKey: 0xff,
  maxKey: 0x7f,
} as const;

/**
 * How a value is laid out: a fixed size; an int32 length prefix plus `extra` bytes (the size is
 * `extra + prefix`); or two C strings (a regex: pattern and options).
 */
export type ValueLayout = { fixed: number } | { extra: number } | 'cstrings';

const LAYOUTS = new Map<number, ValueLayout>([
  [T.double, { fixed: 8 }],
  [T.date, { fixed: 8 }],
  [T.timestamp, { fixed: 8 }],
  [T.int64, { fixed: 8 }],
  [T.int32, { fixed: 4 }],
  [T.decimal128, { fixed: 16 }],
  [T.objectId, { fixed: 12 }],
  [T.bool, { fixed: 1 }],
  [T.undefined, { fixed: 0 }],
  [T.null, { fixed: 0 }],
  [T.minKey, { fixed: 0 }],
  [T.maxKey, { fixed: 0 }],
  [T.string, { extra: 4 }],
  [T.code, { extra: 4 }],
  [T.symbol, { extra: 4 }],
  [T.object, { extra: 0 }],
  [T.array, { extra: 0 }],
  [T.codeWithScope, { extra: 0 }],
  [T.binary, { extra: 5 }],
  [T.dbPointer, { extra: 4 + 12 }],
  [T.regex, 'cstrings'],
]);

/** The layout of a value of `type`; undefined for a type BSON does not define. */
export function valueLayout(type: number): ValueLayout | undefined {
  return LAYOUTS.get(type);
}
