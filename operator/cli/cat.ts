// `gochive cat`: archived documents as canonical Extended JSON lines (like bsondump).
import { BSON } from 'mongodb';
import { openBundle, BundleCorruptError, UnknownEntryError } from '../bundle/reader.js';
import { parseCommandArgs, sourceFromFlags, SOURCE_HELP } from '../restore/args.js';
import { headMatches, needsManifestFilter, readHead, selectBundles } from '../restore/catalog.js';
import {
  cliLogger,
  describeSelection,
  EXIT_NOTHING_FOUND,
  nothingFound,
  openSource,
  runCommand,
  stdoutWriter,
} from '../restore/cli-common.js';
import { archiveTime, decodeExact, idKey, inRange, parseIdFilter } from '../restore/documents.js';
import type { ArchiveFieldFormat } from '../archiver/config.js';

const USAGE = `Usage: gochive cat --bucket URI [flags]

Prints the documents of the selected bundles as canonical Extended JSON, one per line (like bsondump).
Bundles are checked as they stream; a corrupt one is reported on stderr and the exit code is 1.

      --id VALUE            only documents with this _id (repeatable): Extended JSON such as
                            '{"$oid":"65a1b2c3d4e5f60718293a4b"}', '42', '"text"', or a bare string
                            (24 hex digits also match the ObjectId)
      --archive-field NAME  archive field of original-format bundles, for --from/--to (default createdAt)
      --allow-unknown-entries
                            original-format bundles holding entries other than archive_<unix>.bson files
                            are refused; with this flag such entries are skipped (and named on stderr)

Exit codes: 0 documents printed, 1 a bundle was corrupt or unreadable, 2 usage error, 3 nothing to
print (no bundle, or no document, matched the bucket/prefix and filters).

${SOURCE_HELP}
`;

export async function run(argv: string[]): Promise<number> {
  return runCommand('cat', USAGE, argv, async () => {
    const { values } = parseCommandArgs(
      argv,
      {
        id: { type: 'string', multiple: true },
        'archive-field': { type: 'string' },
        'allow-unknown-entries': { type: 'boolean' },
      },
      'cat',
    );
    const sel = sourceFromFlags(values);
    const ids = new Set<string>();
    for (const text of values.id ?? []) {
      ids.add(idKey(parseIdFilter(text)));
      if (/^[0-9a-f]{24}$/i.test(text)) ids.add(idKey(new BSON.ObjectId(text)));
    }
    const dest = openSource(sel, cliLogger());
    const out = stdoutWriter();
    let failures = 0;
    let printed = 0;
    try {
      const { refs } = await selectBundles(dest, sel);
      for (const ref of refs) {
        if (out.closed()) break;
        try {
          if (
            needsManifestFilter(sel) &&
            ref.parsed?.kind !== 'legacy' &&
            !headMatches(await readHead(dest, ref), sel)
          )
            continue;
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
              if (ids.size && !ids.has(idKey(doc._id))) continue;
              if ((sel.from || sel.to) && !inRange(archiveTime(doc, field, format), sel.from, sel.to))
                continue;
              if (!(await out.write(`${BSON.EJSON.stringify(doc, { relaxed: false })}\n`))) break;
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
      if (failures) return 1;
      if (refs.length === 0) return nothingFound('cat', 'nothing to print', dest.description, sel);
      if (printed === 0 && !out.closed()) {
        process.stderr.write(
          `gochive cat: nothing to print: no document in ${refs.length} bundle(s) of ${describeSelection(dest.description, sel)} matched${ids.size ? ' --id' : ''}\n`,
        );
        return EXIT_NOTHING_FOUND;
      }
      return 0;
    } finally {
      await dest.close();
    }
  });
}
