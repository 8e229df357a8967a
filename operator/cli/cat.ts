// `gochive cat`: archived documents as canonical Extended JSON lines (like bsondump) or CSV, optionally
// filtered by a MongoDB query (restore/query-filter.ts) and by `_id` (restore/id-prune.ts skips bundles
// whose manifest `_id` range cannot hold it).
import { BSON } from 'mongodb';
import { openBundle, BundleCorruptError, UnknownEntryError } from '../bundle/reader.js';
import { parseCommandArgs, sourceFromFlags, SOURCE_HELP, UsageError } from '../restore/args.js';
import {
  headMatches,
  needsManifestFilter,
  readHead,
  selectBundles,
  type BundleHead,
  type BundleRef,
} from '../restore/catalog.js';
import type { Destination } from '../storage/destination.js';
import {
  cliLogger,
  describeSelection,
  EXIT_NOTHING_FOUND,
  nothingFound,
  openSource,
  runCommand,
  stdoutWriter,
} from '../restore/cli-common.js';
import { archiveTime, decodeExact, inRange, parseIdFilter } from '../restore/documents.js';
import { compileFilter, SUPPORTED_OPERATORS } from '../restore/query-filter.js';
import { csvLine, csvRow, parseFields } from '../restore/csv.js';
import { mayHoldIds } from '../restore/id-prune.js';
import { bsonEquals } from '../bundle/bson-order.js';
import { mapLimit } from '../util/map-limit.js';
import type { ArchiveFieldFormat } from '../archiver/config.js';

const USAGE = `Usage: gochive cat --bucket URI [flags]

Prints the documents of the selected bundles as canonical Extended JSON, one per line (like bsondump).
Bundles are checked as they stream; a corrupt one is reported on stderr and the exit code is 1.

      --filter QUERY        only documents matching this MongoDB query filter, as Extended JSON
                            (canonical or relaxed): '{"status":"paid","total":{"$gte":100}}',
                            '{"createdAt":{"$lt":{"$date":"2024-02-01T00:00:00Z"}}}'. Operators:
                            ${SUPPORTED_OPERATORS.slice(0, 12).join(' ')}
                            ${SUPPORTED_OPERATORS.slice(12).join(' ')}
                            (anything else, e.g. $where, $expr, $text or geo, exits 2)
      --id VALUE            only documents with this _id (repeatable): Extended JSON such as
                            '{"$oid":"65a1b2c3d4e5f60718293a4b"}', '42', '"text"', or a bare string
                            (24 hex digits also match the ObjectId); numbers match by value, as in
                            MongoDB. Bundles whose manifest _id range excludes every value are not read
  -o, --output FORMAT       json (default: canonical Extended JSON lines) or csv (needs --fields)
      --fields A,B.C        with -o csv: the columns, dotted paths into sub-documents (items.0.sku
                            indexes arrays); a header row, RFC 4180 quoting, dates ISO 8601, ObjectIds
                            hex, numbers plain, sub-documents and arrays relaxed Extended JSON, missing
                            or null empty
      --archive-field NAME  archive field of original-format bundles, for --from/--to (default createdAt)
      --allow-unknown-entries
                            original-format bundles holding entries other than archive_<unix>.bson files
                            are refused; with this flag such entries are skipped (and named on stderr)

Exit codes: 0 documents printed, 1 a bundle was corrupt or unreadable, 2 usage error, 3 nothing to
print (no bundle, or no document, matched the bucket/prefix and filters).

${SOURCE_HELP}
`;

const PARALLEL_HEADS = 8;
const HEAD_WINDOW = 64;
type HeadResult = BundleHead | { err: unknown } | undefined;

/**
 * Each bundle with its manifest head when `wanted` (it decides whether the bundle is read): heads are
 * read ahead a window at a time, several in parallel (a small range GET each), so a prefix of thousands
 * of bundles is neither read one round trip at a time nor held in memory at once. Original-format
 * bundles have no manifest.
 */
async function* withHeads(
  dest: Destination,
  refs: BundleRef[],
  wanted: boolean,
): AsyncGenerator<[BundleRef, HeadResult]> {
  for (let w = 0; w < refs.length; w += HEAD_WINDOW) {
    const window = refs.slice(w, w + HEAD_WINDOW);
    const heads = wanted
      ? await mapLimit(window, PARALLEL_HEADS, (ref): Promise<HeadResult> =>
          ref.parsed?.kind === 'legacy'
            ? Promise.resolve(undefined)
            : readHead(dest, ref).catch((err: unknown) => ({ err })),
        )
      : [];
    for (const [i, ref] of window.entries()) yield [ref, heads[i]];
  }
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('cat', USAGE, argv, async () => {
    const { values } = parseCommandArgs(
      argv,
      {
        id: { type: 'string', multiple: true },
        filter: { type: 'string' },
        output: { type: 'string', short: 'o' },
        fields: { type: 'string' },
        'archive-field': { type: 'string' },
        'allow-unknown-entries': { type: 'boolean' },
      },
      'cat',
    );
    const sel = sourceFromFlags(values);
    const output = values.output ?? 'json';
    if (output !== 'json' && output !== 'csv')
      throw new UsageError(`-o ${JSON.stringify(output)}: use json or csv`);
    if (output === 'csv' && values.fields === undefined)
      throw new UsageError('-o csv needs --fields a,b.c: documents have no fixed columns');
    if (output !== 'csv' && values.fields !== undefined)
      throw new UsageError('--fields applies to -o csv (json output prints whole documents)');
    const fields = values.fields === undefined ? undefined : parseFields(values.fields);
    const filter = values.filter === undefined ? undefined : compileFilter(values.filter);
    const ids: unknown[] = [];
    for (const text of values.id ?? []) {
      ids.push(parseIdFilter(text));
      if (/^[0-9a-f]{24}$/i.test(text)) ids.push(new BSON.ObjectId(text));
    }
    // Each set is one condition on `_id`; a bundle is read only if its manifest range may meet all.
    const idSets = [...(ids.length ? [ids] : []), ...(filter?.ids ? [filter.ids] : [])];
    const logger = cliLogger();
    let skippedById = 0;
    const dest = openSource(sel, logger);
    const out = stdoutWriter();
    let failures = 0;
    let printed = 0;
    try {
      const { refs } = await selectBundles(dest, sel);
      const wantHeads = needsManifestFilter(sel) || idSets.length > 0;
      for await (const [ref, head] of withHeads(dest, refs, wantHeads)) {
        if (out.closed()) break;
        try {
          if (head) {
            if ('err' in head) throw head.err;
            if (!headMatches(head, sel)) continue;
            if (!mayHoldIds(head.manifest, idSets)) {
              skippedById++;
              continue;
            }
          }
          const bundle = await openBundle(await dest.getObject(ref.key), {
            key: ref.key,
            ...(values['allow-unknown-entries']
              ? {
                  allowUnknownEntries: true,
                  onUnknownEntry: (name: string) =>
                    process.stderr.write(`gochive cat: ${ref.key}: skipped unknown entry '${name}'\n`),
                }
              : {}),
          });
          try {
            const m = bundle.manifest;
            if (m && !headMatches({ format: bundle.format, manifest: m }, sel)) continue;
            const field = m?.archiveField ?? values['archive-field'] ?? 'createdAt';
            const format: ArchiveFieldFormat = m?.archiveFieldFormat ?? 'date';
            for await (const raw of bundle.documents()) {
              const doc = decodeExact(raw);
              if (ids.length && !ids.some((id) => bsonEquals(id, doc._id))) continue;
              if ((sel.from || sel.to) && !inRange(archiveTime(doc, field, format), sel.from, sel.to))
                continue;
              if (filter && !filter.test(doc)) continue;
              let line: string;
              if (fields) {
                line = `${printed === 0 ? csvLine(fields) : ''}${csvRow(doc, fields)}`;
              } else {
                line = `${BSON.EJSON.stringify(doc, { relaxed: false })}\n`;
              }
              if (!(await out.write(line))) break;
              printed++;
            }
          } finally {
            bundle.close();
          }
        } catch (err) {
          if (out.closed()) break;
          failures++;
          process.stderr.write(
            `gochive cat: ${err instanceof BundleCorruptError ? err.message : `${ref.key}: ${(err as Error).message}`}${err instanceof UnknownEntryError ? ' (--allow-unknown-entries prints the other documents)' : ''}\n`,
          );
        }
      }
      if (idSets.length)
        logger.debug({ bundles: refs.length, skippedById }, 'bundles skipped by their manifest _id range');
      if (failures) return 1;
      if (refs.length === 0) return nothingFound('cat', 'nothing to print', dest.description, sel);
      if (printed === 0 && !out.closed()) {
        process.stderr.write(
          `gochive cat: nothing to print: no document in ${refs.length} bundle(s) of ${describeSelection(dest.description, sel)} matched${[ids.length ? ' --id' : '', filter ? ' --filter' : ''].filter(Boolean).join(' and')}${skippedById ? ` (${skippedById} bundle(s) not read: their _id range excludes it)` : ''}\n`,
        );
        return EXIT_NOTHING_FOUND;
      }
      return 0;
    } finally {
      await dest.close();
    }
  });
}
