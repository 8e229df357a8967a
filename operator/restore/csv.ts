// `gochive cat -o csv --fields a,b.c`: documents as RFC 4180 CSV rows (CRLF line ends, a header row,
// fields quoted when they hold a comma, a quote, CR or LF). Cells render BSON values so a spreadsheet
// reads them: dates as ISO 8601, ObjectIds as hex, numbers as plain decimal text (never 1e+21), booleans as
// true/false, strings as they are; sub-documents, arrays and every other type as relaxed Extended JSON.
// A missing field, or null, is an empty cell.
import { BSON, type Document } from 'mongodb';
import { UsageError } from './args.js';

/** Parses `--fields a,b.c`: field paths, dot-separated, none empty. */
export function parseFields(text: string): string[] {
  const fields = text.split(',').map((f) => f.trim());
  const bad = fields.find((f) => f === '' || f.split('.').some((p) => p === ''));
  if (bad !== undefined)
    throw new UsageError(
      `--fields ${JSON.stringify(text)}: field paths are comma-separated names such as a,b.c`,
    );
  return fields;
}

/** The value at a dotted path: through sub-documents, and into arrays by index (`items.0.sku`). */
export function valueAt(doc: Document, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(part)) return undefined;
      cur = cur[Number(part)];
    } else if (cur !== null && typeof cur === 'object' && !(cur as { _bsontype?: unknown })._bsontype) {
      cur = Object.prototype.hasOwnProperty.call(cur, part)
        ? (cur as Record<string, unknown>)[part]
        : undefined;
    } else {
      return undefined;
    }
  }
  return cur;
}

/** One cell's text, before quoting. */
export function cellText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return numberText(v);
  if (v instanceof BSON.Int32 || v instanceof BSON.Double) return numberText(v.value);
  if (v instanceof BSON.Timestamp) return relaxed(v); // a Long subclass: keep it out of the next line
  if (v instanceof BSON.Long) return v.toString();
  if (v instanceof BSON.Decimal128) return plainDecimal(v.toString());
  if (v instanceof BSON.ObjectId) return v.toHexString();
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? relaxed(v) : v.toISOString();
  if (v instanceof BSON.BSONSymbol) return v.value;
  return relaxed(v);
}

function numberText(n: number): string {
  return plainDecimal(String(n)); // the shortest decimal that reads back as the same double
}

/** `1.5E+3` → `1500`, `1e-7` → `0.0000001`: no exponent form in a cell (NaN and Infinity stay). */
export function plainDecimal(text: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?[eE]([+-]?\d+)$/.exec(text);
  if (!m) return text;
  const [, sign, int, frac = '', exp] = m;
  const digits = int! + frac;
  const point = int!.length + Number(exp);
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  out = out.replace(/^0+(?=\d)/, '');
  return `${sign}${out}`;
}

function relaxed(v: unknown): string {
  return BSON.EJSON.stringify(v as Document, { relaxed: true });
}

/** RFC 4180 quoting: only fields holding a comma, a double quote, CR or LF are quoted. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(cells: string[]): string {
  return `${cells.map(csvField).join(',')}\r\n`;
}

export function csvRow(doc: Document, fields: string[]): string {
  return csvLine(fields.map((f) => cellText(valueAt(doc, f))));
}
