// `gochive restore`: brings archived documents back into MongoDB (see operator/restore/restore.ts).
import { MongoClient } from 'mongodb';
import { protectedNamespaceProblem } from '../api/protected-namespaces.js';
import {
  nonNegativeNumber,
  parseCommandArgs,
  sourceFromFlags,
  SOURCE_HELP,
  UsageError,
} from '../restore/args.js';
import { cliLogger, describeSelection, nothingFound, openSource, runCommand } from '../restore/cli-common.js';
import { ProgressBar, formatSeconds } from '../restore/progress.js';
import { restore, RestoreStopped, type RestoreSummary } from '../restore/restore.js';
import { errorMessage, redactUri } from '../util/redact.js';

const USAGE = `Usage: gochive restore --bucket URI --uri MONGODB_URI [flags]

Restores the documents of the selected bundles. Each bundle is downloaded to a temporary file and
verified completely before any of its documents is inserted. Inserts are unordered; documents whose
_id already exists are skipped and counted, so running again (after an interruption, or twice) adds
no duplicates.

      --uri URI                 MongoDB connection string (default: $MONGODB_URI)
      --to-db DB                restore into this database (default: the bundle's)
      --to-collection COLL      restore into this collection (default: the bundle's)
      --dry-run                 download and verify, count what would be inserted or skipped; write nothing
      --max-docs-per-second N   pace inserts
      --batch-size N            documents per insertMany (default 1000)
      --on-corrupt stop|skip    a corrupt bundle stops the run (default) or is skipped and reported
      --checkpoint FILE         record finished bundles here; a rerun skips them
      --archive-field NAME      archive field of original-format bundles for --from/--to (default createdAt)
      --convert-deprecated      insert documents holding BSON undefined/DBPointer as null/DBRef
                                (otherwise they are counted as failed: the driver cannot write them exactly)
      --allow-unknown-entries   restore original-format bundles holding entries other than
                                archive_<unix>.bson files, skipping those entries (otherwise such a bundle
                                is refused like a corrupt one)
      --tmp-dir DIR             where bundles are downloaded (default: the system temp directory)
  -o, --output text|json        summary format

Original-format bundles do not record their database and collection: pass --to-db and --to-collection
(or --database and --collection).

Nothing is ever restored into the admin, local or config databases or a system.* collection, whether
the name comes from a flag or from a bundle's manifest: such a bundle is refused (and obeys --on-corrupt).

Exit codes: 0 done, 1 a bundle was corrupt or refused, a document failed, or the run stopped,
2 usage error, 3 nothing to restore (no bundle matched the bucket/prefix and filters).

${SOURCE_HELP}
`;

export async function run(argv: string[]): Promise<number> {
  let uri = '';
  return runCommand(
    'restore',
    USAGE,
    argv,
    async () => {
      const { values } = parseCommandArgs(
        argv,
        {
          uri: { type: 'string' },
          'to-db': { type: 'string' },
          'to-collection': { type: 'string' },
          'dry-run': { type: 'boolean' },
          'max-docs-per-second': { type: 'string' },
          'batch-size': { type: 'string' },
          'on-corrupt': { type: 'string' },
          checkpoint: { type: 'string' },
          'archive-field': { type: 'string' },
          'convert-deprecated': { type: 'boolean' },
          'allow-unknown-entries': { type: 'boolean' },
          'tmp-dir': { type: 'string' },
          output: { type: 'string', short: 'o' },
        },
        'restore',
      );
      const sel = sourceFromFlags(values);
      const flagProblem = protectedNamespaceProblem(values['to-db'] ?? '', values['to-collection'] ?? '');
      if (flagProblem) {
        const flag = protectedNamespaceProblem(values['to-db'] ?? '', '') ? '--to-db' : '--to-collection';
        const value = flag === '--to-db' ? values['to-db'] : values['to-collection'];
        throw new UsageError(`refusing ${flag} ${value}: ${flagProblem}`);
      }
      uri = values.uri ?? process.env.MONGODB_URI ?? '';
      if (!uri) throw new UsageError('--uri (or MONGODB_URI) is required: the MongoDB to restore into');
      if (!/^mongodb(\+srv)?:\/\//.test(uri))
        throw new UsageError(`--uri ${redactUri(uri)} is not a mongodb:// or mongodb+srv:// URI`);
      const onCorrupt = values['on-corrupt'] ?? 'stop';
      if (onCorrupt !== 'stop' && onCorrupt !== 'skip')
        throw new UsageError(`--on-corrupt ${JSON.stringify(onCorrupt)}: use stop or skip`);
      const output = values.output ?? 'text';
      if (output !== 'text' && output !== 'json')
        throw new UsageError(`--output ${JSON.stringify(output)}: use text or json`);
      const rate = nonNegativeNumber(values['max-docs-per-second'], '--max-docs-per-second');
      let batchSize = nonNegativeNumber(values['batch-size'], '--batch-size') ?? 1000;
      if (!Number.isInteger(batchSize)) throw new UsageError('--batch-size must be a whole number');
      // Small batches when paced, so the rate is smooth rather than bursts.
      if (rate) batchSize = Math.max(1, Math.min(batchSize, Math.floor(rate / 4) || 1));

      const logger = cliLogger();
      const dest = openSource(sel, logger);
      // Options in the URI win over these defaults.
      const mongo = new MongoClient(uri, {
        appName: 'gochive-restore',
        ...(/serverSelectionTimeoutMS=/i.test(uri) ? {} : { serverSelectionTimeoutMS: 15_000 }),
      });
      try {
        try {
          await mongo.connect();
        } catch (err) {
          throw new Error(`cannot connect to MongoDB at ${redactUri(uri)}: ${errorMessage(err, [uri])}`, {
            cause: err,
          });
        }
        // Ctrl-C stops cleanly after the batch in flight (a second one exits at once).
        const interrupt = new AbortController();
        const onSignal = (): void => interrupt.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let bar: ProgressBar | undefined;
        let summary: RestoreSummary;
        let stopped: string | undefined;
        try {
          summary = await restore({
            dest,
            selection: sel,
            mongo,
            ...(values['to-db'] ? { toDb: values['to-db'] } : {}),
            ...(values['to-collection'] ? { toCollection: values['to-collection'] } : {}),
            dryRun: Boolean(values['dry-run']),
            ...(rate ? { maxDocsPerSecond: rate } : {}),
            batchSize,
            onCorrupt,
            ...(values.checkpoint ? { checkpointFile: values.checkpoint } : {}),
            ...(values['archive-field'] ? { legacyArchiveField: values['archive-field'] } : {}),
            convertDeprecated: Boolean(values['convert-deprecated']),
            allowUnknownEntries: Boolean(values['allow-unknown-entries']),
            ...(values['tmp-dir'] ? { tmpDir: values['tmp-dir'] } : {}),
            logger,
            signal: interrupt.signal,
            secrets: [uri],
            onProgress: (p) => {
              bar ??= ProgressBar.forStderr(p.bytesTotal);
              bar.update(p.bytesDone, p.documents);
            },
          });
        } catch (err) {
          if (!(err instanceof RestoreStopped)) throw err;
          summary = err.summary;
          stopped = err.message;
        } finally {
          bar?.finish();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        if (output === 'json')
          process.stdout.write(
            `${JSON.stringify({ ...summary, ...(stopped ? { stopped } : {}) }, null, 2)}\n`,
          );
        else process.stdout.write(formatSummary(summary, describeSelection(dest.description, sel)));
        if (stopped) {
          process.stderr.write(`gochive restore: ${errorMessage(stopped, [uri])}\n`);
          return 1;
        }
        for (const u of summary.unknownEntries)
          process.stderr.write(
            `gochive restore: warning: ${u.key}: skipped unknown entries ${u.entries.map((e) => `'${e}'`).join(', ')} (--allow-unknown-entries)\n`,
          );
        if (summary.documents.failed > 0 || summary.bundles.corrupt > 0 || summary.bundles.refused > 0)
          return 1;
        // Every selected bundle filtered out by its manifest (or none listed): nothing matched.
        if (summary.bundles.selected === summary.bundles.filteredOut)
          return nothingFound('restore', 'nothing to restore', dest.description, sel);
        return 0;
      } finally {
        await mongo.close().catch(() => undefined);
        await dest.close();
      }
    },
    () => [uri],
  );
}

function formatSummary(s: RestoreSummary, source: string): string {
  const d = s.documents;
  const b = s.bundles;
  const secs = s.elapsedMs / 1000;
  const lines: string[] = [];
  if (b.selected === b.filteredOut) {
    lines.push(`nothing to restore: no bundles in ${source}`);
  }
  const verb = s.dryRun ? 'would insert' : 'inserted';
  lines.push(
    `${s.dryRun ? 'DRY RUN — nothing was written. ' : ''}bundles: ${b.restored} restored, ${b.corrupt} corrupt,${b.refused ? ` ${b.refused} refused,` : ''} ${b.filteredOut} filtered out, ${b.alreadyDone} already done (checkpoint) of ${b.selected}`,
    `documents: ${d.read} read, ${verb} ${d.inserted}, skipped ${d.skippedExisting} (_id already present), failed ${d.failed}, out of range ${d.outOfRange}${d.converted ? `, converted ${d.converted}` : ''}`,
    `into: ${s.targets.join(', ') || '-'}`,
    `time: ${formatSeconds(secs)}, ${secs > 0 ? Math.round((d.inserted + d.skippedExisting) / secs) : 0} docs/s`,
  );
  if (s.dryRunRepeatsCapped)
    lines.push(
      'note: too many documents to remember every _id; repeats past that point were not recognised, so "would insert" may be too high',
    );
  for (const c of s.corrupt) lines.push(`corrupt: ${c.key}: ${c.detail}`);
  for (const r of s.refused) lines.push(`refused: ${r.key}: ${r.detail}`);
  for (const f of s.failures.slice(0, 10))
    lines.push(`failed: ${f.key}${f.id ? ` _id ${f.id}` : ''}: ${f.message}`);
  if (s.failures.length > 10) lines.push(`… ${s.failures.length - 10} more failures (see -o json)`);
  return `${lines.join('\n')}\n`;
}
