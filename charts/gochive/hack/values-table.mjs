#!/usr/bin/env node
// Regenerates the two reference tables in docs/chart-values.md (the chart's values page):
//  - chart values, from values.yaml (`# --` comments document the key below them; a commented-out
//    `key: example` right after a `# -- (type)` block documents a key that is unset by default);
//  - policy entry fields, from values.schema.json (generated from the zod schema, so descriptions,
//    types and defaults are the API's own).
// Usage: node charts/gochive/hack/values-table.mjs [--check]   (--check: exit 1 if the page is stale)
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isPair, isScalar, parseDocument } from 'yaml';

const chartDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pagePath = path.resolve(chartDir, '..', '..', 'docs', 'chart-values.md');
const pageName = 'docs/chart-values.md';

// Fields of the original go-chive values entry (SPEC §2): marked in the policy table.
const ORIGINAL_FIELDS = new Set([
  'name',
  'hostAddress',
  'ageLimit',
  'queryLimit',
  'archiveCheckInterval',
  'collection',
  'database',
  'archiveField',
  's3',
  's3.bucket',
  's3.uploadInterval',
]);

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n+/g, ' ').trim();
const code = (s) => (s === '' ? '' : `\`${cell(s)}\``);

// ---- chart values (values.yaml) ------------------------------------------------------------------

/** Splits a comment block into `-- ` documented chunks: [{ type?, text, unsetKey?, example? }]. */
function docChunks(comment) {
  if (!comment) return [];
  const chunks = [];
  let cur;
  for (const raw of comment.split('\n')) {
    const line = raw.replace(/^ ?/, '');
    const start = /^-- (?:\(([^)]+)\) )?(.*)$/.exec(line);
    if (start) {
      cur = { type: start[1], lines: [start[2]] };
      chunks.push(cur);
    } else if (cur) {
      const unset = /^([A-Za-z][A-Za-z0-9]*): (.+)$/.exec(line);
      if (unset && cur.type) {
        cur.unsetKey = unset[1];
        cur.example = unset[2];
        cur = undefined;
      } else {
        cur.lines.push(line);
      }
    }
  }
  return chunks.map((c) => ({ ...c, text: c.lines.join(' ').replace(/\s+/g, ' ').trim() }));
}

function typeOf(v) {
  if (Array.isArray(v)) return 'list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'object';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'number';
  return typeof v;
}

function defaultText(v) {
  if (typeof v === 'string') return v === '' ? '`""`' : code(JSON.stringify(v));
  return code(JSON.stringify(v));
}

function collectValues(map, prefix, rows) {
  for (const pair of map.items) {
    if (!isPair(pair) || !isScalar(pair.key)) continue;
    const key = `${prefix}${pair.key.value}`;
    const chunks = docChunks(
      pair.key.commentBefore ?? (pair === map.items[0] ? map.commentBefore : undefined),
    );
    for (const c of chunks.filter((x) => x.unsetKey)) {
      rows.push({
        key: `${prefix}${c.unsetKey}`,
        type: c.type,
        def: `unset (e.g. ${code(c.example.replace(/^"|"$/g, ''))})`,
        desc: c.text,
      });
    }
    const own = chunks.filter((x) => !x.unsetKey).at(-1);
    if (own) {
      const value = pair.value?.toJSON ? pair.value.toJSON() : pair.value?.value;
      rows.push({ key, type: own.type ?? typeOf(value), def: defaultText(value), desc: own.text });
    } else if (isMap(pair.value)) {
      collectValues(pair.value, `${key}.`, rows);
    }
  }
}

function valuesTable() {
  const doc = parseDocument(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
  const rows = [];
  collectValues(doc.contents, '', rows);
  return [
    '| Key | Type | Default | Description |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${code(r.key)} | ${cell(r.type)} | ${r.def} | ${cell(r.desc)} |`),
  ].join('\n');
}

// ---- policy entries (values.schema.json) ---------------------------------------------------------

function schemaType(s) {
  if (s.anyOf) return [...new Set(s.anyOf.map(schemaType))].join(' or ');
  if (s.enum) return s.enum.map((e) => `\`${e}\``).join(', ');
  if (s.type === 'array') return `list of ${s.items ? schemaType(s.items) : 'any'}`;
  if (s.type === 'integer') return 'int';
  return s.type ?? 'any';
}

function collectPolicy(schema, prefix, rows, requiredHere) {
  for (const [name, s] of Object.entries(schema.properties ?? {})) {
    const key = `${prefix}${name}`;
    const nested =
      s.type === 'object' && s.properties
        ? s
        : s.type === 'array' && s.items?.properties
          ? s.items
          : undefined;
    rows.push({
      key,
      type: nested === s ? 'object' : schemaType(s),
      required: requiredHere.has(name),
      def: s.default === undefined ? '' : code(JSON.stringify(s.default)),
      desc: s.description ?? '',
      original: ORIGINAL_FIELDS.has(key),
    });
    if (nested)
      collectPolicy(nested, nested === s ? `${key}.` : `${key}[].`, rows, new Set(nested.required ?? []));
  }
}

function policyTable() {
  const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8'));
  const entry = schema.definitions.policy;
  const rows = [];
  collectPolicy(entry, '', rows, new Set(entry.required ?? []));
  return [
    '| Field | Original | Type | Required | Default | Description |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${code(r.key)} | ${r.original ? 'yes' : ''} | ${cell(r.type)} | ${r.required ? 'yes' : ''} | ${r.def} | ${cell(r.desc)} |`,
    ),
  ].join('\n');
}

// ---- page splice -----------------------------------------------------------------------------------

function splice(text, marker, table) {
  const start = `<!-- ${marker}:start (generated by charts/gochive/hack/values-table.mjs; do not edit) -->`;
  const end = `<!-- ${marker}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`${pageName} lacks the markers ${start} … ${end}`);
  return `${text.slice(0, i + start.length)}\n\n${table}\n\n${text.slice(j)}`;
}

const before = readFileSync(pagePath, 'utf8');
const after = splice(splice(before, 'values-table', valuesTable()), 'policy-table', policyTable());
if (process.argv.includes('--check')) {
  if (after !== before) {
    process.stderr.write(
      `${pageName} is out of date: run npm run generate (or node charts/gochive/hack/values-table.mjs)\n`,
    );
    process.exit(1);
  }
} else if (after !== before) {
  writeFileSync(pagePath, after);
  process.stdout.write(`updated ${pageName}\n`);
}
