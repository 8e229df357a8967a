// `gochive cat`: archived documents as canonical Extended JSON lines (like bsondump).
import { BSON } from 'mongodb';
import { openBundle, BundleCorruptError } from '../bundle/reader.js';
import { parseCommandArgs, sourceFromFlags, SOURCE_HELP } from '../restore/args.js';
import { headMatches, needsManifestFilter, readHead, selectBundles } from '../restore/catalog.js';
import { cliLogger, describeRange, openSource, runCommand, stdoutWriter } from '../restore/cli-common.js';
import { archiveTime, decodeExact, idKey, inRange, parseIdFilter } from '../restore/documents.js';
import type { ArchiveFieldFormat } from '../archiver/config.js';

const USAGE = `Usage: gochive cat --bucket URI [flags]

Prints the documents of the selected bundles as canonical Extended JSON, one per line (like bsondump).
Bundles are checked as they stream; a corrupt one is reported on stderr and the exit code is 1.

      --id VALUE            only documents with this _id (repeatable): Extended JSON such as
                            '{"$oid":"65a1b2c3d4e5f60718293a4b"}', '42', '"text"', or a bare string
                            (24 hex digits also match the ObjectId)
      --archive-field NAME  archive field of original-format bundles, for --from/--to (default createdAt)

${SOURCE_HELP}
`;

export async function run(argv: string[]): Promise<number> {
  return runCommand('cat', USAGE, argv, async () => {
    const { values } = parseCommandArgs(
      argv,
      { id: { type: 'string', multiple: true }, 'archive-field': { type: 'string' } },
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
          const bundle = await openBundle(await dest.getObject(ref.key), { key: ref.key });
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
            `gochive cat: ${err instanceof BundleCorruptError ? err.message : `${ref.key}: ${(err as Error).message}`}\n`,
          );
        }
      }
      if (refs.length === 0)
        process.stderr.write(`gochive cat: no bundles in ${dest.description}${describeRange(sel)}\n`);
      void printed;
      return failures ? 1 : 0;
    } finally {
      await dest.close();
    }
  });
}
