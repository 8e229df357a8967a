// `gochive prune`: removes the bundles under one prefix whose newest document is older than
// --older-than — the same pass as a policy's spec.s3.expireAfter (archiver/expire.ts), for the CLI user.
import { durationSeconds } from '../api/duration.js';
import { expireBundles, type ExpireResult } from '../archiver/expire.js';
import { describeExpiry } from '../archiver/expire-result.js';
import { parseCommandArgs, sourceFromFlags, SOURCE_HELP, UsageError } from '../restore/args.js';
import { cliLogger, openSource, runCommand } from '../restore/cli-common.js';
import { formatBytes } from '../util/format-bytes.js';

const USAGE = `Usage: gochive prune --bucket URI --older-than DURATION [flags]

Removes the bundles directly under the bucket URI's prefix (in its YYYY/MM/DD/ folders, and
original-format archive_<time> keys beside them) whose newest document is older than --older-than.
A bundle's age is read from its key: the largest archive-field value for gochive bundles, the upload
time for original-format ones (later than every document they hold). Objects whose age cannot be read
are kept and listed. Longer prefixes below this one (another policy's s3://bucket/prefix/other/) are
never touched: name them in their own run.

gochive prune cannot see an operator's ledger (the bundles whose documents are still being deleted
from MongoDB), so it also keeps every bundle uploaded within --min-bundle-age. Prefer a policy's
s3.expireAfter, which checks the ledger.

      --older-than DURATION  remove bundles whose newest document is older than this, e.g. 400d (required)
      --dry-run              list what would be removed; remove nothing
      --min-bundle-age DURATION
                             keep bundles uploaded more recently than this (default 7d)
  -o, --output text|json     text (default) or a JSON report

With --policy, --namespace, --database or --collection, only bundles whose manifest says so are removed
(one small range request per bundle); original-format bundles, which have no manifest, are then kept.
The URI's prefix is the one pruned, so there is no separate --prefix flag.

Exit codes: 0 done (also when nothing was old enough), 1 error, 2 usage error.

${SOURCE_HELP}
`;

export async function run(argv: string[]): Promise<number> {
  return runCommand('prune', USAGE, argv, async () => {
    const { values } = parseCommandArgs(
      argv,
      {
        'older-than': { type: 'string' },
        'dry-run': { type: 'boolean' },
        'min-bundle-age': { type: 'string' },
        output: { type: 'string', short: 'o' },
      },
      'prune',
    );
    const output = values.output ?? 'text';
    if (output !== 'text' && output !== 'json')
      throw new UsageError(`--output ${JSON.stringify(output)}: use text or json`);
    if (values.from || values.to || values.key?.length)
      throw new UsageError(
        '--from, --to and --key do not apply to prune: --older-than says which bundles go',
      );
    if (!values['older-than']) throw new UsageError('--older-than is required, e.g. --older-than 400d');
    const olderThan = seconds(values['older-than'], '--older-than');
    const minAge = seconds(values['min-bundle-age'] ?? '7d', '--min-bundle-age');
    const sel = sourceFromFlags(values);
    const now = Date.now();
    const dryRun = values['dry-run'] ?? false;
    const dest = openSource(sel, cliLogger());
    try {
      const match = {
        ...(sel.policy ? { policy: sel.policy } : {}),
        ...(sel.namespace ? { namespace: sel.namespace } : {}),
        ...(sel.database ? { database: sel.database } : {}),
        ...(sel.collection ? { collection: sel.collection } : {}),
      };
      const pass = (): Promise<ExpireResult> =>
        expireBundles({
          dest,
          prefix: sel.prefix,
          cutoff: new Date(now - olderThan * 1000),
          createdBefore: new Date(now - minAge * 1000),
          dryRun,
          match,
          // A dry run cannot continue where it stopped (it removes nothing), so it lists everything.
          ...(dryRun ? { maxBundles: Number.POSITIVE_INFINITY } : {}),
          onRemoved: (b) => {
            if (output === 'text')
              process.stdout.write(`REMOVED       ${b.key}  newest ${b.newest}  ${formatBytes(b.bytes)}\n`);
          },
        });
      const total = await pass();
      // Passes of at most 1,000 bundles, each listing afresh, until one is not cut short.
      for (let r = total; r.truncated && r.expired.length > 0;) {
        r = await pass();
        total.expired.push(...r.expired);
        total.bytes += r.bytes;
        for (const k of Object.keys(r.kept) as (keyof typeof r.kept)[]) total.kept[k] += r.kept[k];
        total.keptKeys.push(...r.keptKeys);
        total.truncated = r.truncated;
      }
      if (output === 'json') {
        process.stdout.write(`${JSON.stringify({ bucket: dest.description, ...total }, null, 2)}\n`);
        return 0;
      }
      if (dryRun)
        for (const b of total.expired)
          process.stdout.write(`WOULD REMOVE  ${b.key}  newest ${b.newest}  ${formatBytes(b.bytes)}\n`);
      for (const k of total.keptKeys) process.stdout.write(`KEPT          ${k.key}  (${k.reason})\n`);
      process.stdout.write(`${dest.description}: ${describeExpiry(total)}\n`);
      return 0;
    } finally {
      await dest.close();
    }
  });
}

function seconds(value: string, flag: string): number {
  const r = durationSeconds(value, flag);
  if ('error' in r) throw new UsageError(r.error);
  return r.seconds;
}
