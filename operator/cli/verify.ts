// `gochive verify`: streams every selected bundle and checks checksums, counts and BSON well-formedness.
import { BundleCorruptError } from '../bundle/reader.js';
import { parseCommandArgs, sourceFromFlags, SOURCE_HELP, UsageError } from '../restore/args.js';
import { headMatches, needsManifestFilter, readHead, selectBundles } from '../restore/catalog.js';
import { cliLogger, describeSelection, nothingFound, openSource, runCommand } from '../restore/cli-common.js';
import { ProgressBar } from '../restore/progress.js';
import { formatBytes } from '../util/format-bytes.js';
import { verifyBundle } from '../restore/verify-bundle.js';
import { errorMessage } from '../util/redact.js';

const USAGE = `Usage: gochive verify --bucket URI [flags]

Reads every selected bundle in full and checks: the object's SHA-256 against the one recorded at
upload, each payload file's SHA-256, size and document count against manifest.json, and that every
document is well-formed BSON. Original-format bundles are checked for structure and BSON, and may
hold only archive_<unix>.bson files.

A bundle fails (CORRUPT) when a check fails or it holds entries gochive does not understand. It passes
with a warning when something could not be proven: no SHA-256 was recorded at upload (the manifest's
per-file SHA-256s still prove the payload; original-format bundles never recorded one).

Exit codes: 0 every bundle passed (warnings are printed), 1 a bundle failed (each bad key is named),
2 usage error, 3 no bundle matched the bucket/prefix and filters.

  -o, --output text|json    text (default) or a JSON report

${SOURCE_HELP}
`;

interface Result {
  key: string;
  ok: boolean;
  format?: string;
  documents?: number;
  bytes?: number;
  error?: string;
  warnings?: string[];
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('verify', USAGE, argv, async () => {
    const { values } = parseCommandArgs(argv, { output: { type: 'string', short: 'o' } }, 'verify');
    const output = values.output ?? 'text';
    if (output !== 'text' && output !== 'json')
      throw new UsageError(`--output ${JSON.stringify(output)}: use text or json`);
    const sel = sourceFromFlags(values);
    const dest = openSource(sel, cliLogger());
    try {
      const { refs } = await selectBundles(dest, sel);
      const nothing = (): number => {
        if (output === 'json')
          process.stdout.write(
            `${JSON.stringify({ ok: false, bundles: [], error: `no bundles in ${describeSelection(dest.description, sel)}` }, null, 2)}\n`,
          );
        return nothingFound('verify', 'nothing to verify', dest.description, sel);
      };
      if (refs.length === 0) return nothing();
      const total = refs.reduce((a, r) => a + r.size, 0);
      const bar = ProgressBar.forStderr(total);
      let done = 0;
      let docs = 0;
      const results: Result[] = [];
      for (const ref of refs) {
        const before = done;
        try {
          if (
            needsManifestFilter(sel) &&
            ref.parsed?.kind !== 'legacy' &&
            !headMatches(await readHead(dest, ref), sel)
          ) {
            done += ref.size;
            continue;
          }
          let seen = 0;
          const v = await verifyBundle(dest, ref, {
            onBytes: (n) => {
              seen += n;
              bar.update(before + seen, docs, ref.key);
            },
          });
          docs += v.documents;
          results.push({
            key: ref.key,
            ok: true,
            format: v.format,
            documents: v.documents,
            bytes: v.bytes,
            ...(v.warnings.length ? { warnings: v.warnings } : {}),
          });
          if (output === 'text') {
            bar.finish();
            process.stdout.write(
              `OK       ${ref.key}  ${v.documents} docs, ${formatBytes(v.bytes)}${v.format === 'legacy' ? ' (original format)' : ''}\n`,
            );
            for (const w of v.warnings) process.stdout.write(`  warning: ${w}\n`);
          }
        } catch (err) {
          const corrupt = err instanceof BundleCorruptError;
          const error = corrupt ? err.detail : errorMessage(err);
          results.push({ key: ref.key, ok: false, error });
          if (output === 'text') {
            bar.finish();
            process.stdout.write(`${corrupt ? 'CORRUPT ' : 'ERROR   '} ${ref.key}: ${error}\n`);
          }
        }
        done = before + ref.size;
      }
      bar.finish();
      if (results.length === 0) return nothing(); // every bundle was filtered out by its manifest
      const bad = results.filter((r) => !r.ok);
      const warned = results.filter((r) => r.warnings?.length).length;
      if (output === 'json') {
        process.stdout.write(
          `${JSON.stringify({ ok: bad.length === 0, warnings: warned, bundles: results }, null, 2)}\n`,
        );
      } else {
        process.stdout.write(
          `${results.length} bundle(s) checked, ${docs} document(s), ${bad.length} bad${warned ? `, ${warned} with warnings` : ''}\n`,
        );
        if (bad.length)
          process.stdout.write(`bad bundles:\n${bad.map((b) => `  ${b.key}: ${b.error}`).join('\n')}\n`);
      }
      return bad.length ? 1 : 0;
    } finally {
      await dest.close();
    }
  });
}
