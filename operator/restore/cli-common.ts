// Plumbing shared by the ls/verify/cat/restore commands: error reporting with exit codes, the
// destination for a selection, and quiet logging (warnings only, on stderr).
import { createLogger, type Logger } from '../util/logger.js';
import { errorMessage } from '../util/redact.js';
import { createDestination } from '../storage/factory.js';
import type { Destination } from '../storage/destination.js';
import { UsageError, type SourceSelection } from './args.js';

export function cliLogger(): Logger {
  return createLogger({ level: process.env.GOCHIVE_LOG_LEVEL ?? 'warn' });
}

export function openSource(sel: SourceSelection, logger?: Logger): Destination {
  return createDestination(sel.destination, logger);
}

/** Runs a command body: usage errors exit 2 with a hint, other errors exit 1; messages are redacted. */
export async function runCommand(
  command: string,
  usage: string,
  argv: string[],
  body: () => Promise<number>,
  secrets: () => string[] = () => [],
): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(usage);
    return 0;
  }
  try {
    return await body();
  } catch (err) {
    const msg = errorMessage(err, secrets());
    if (err instanceof UsageError) {
      process.stderr.write(
        `${msg.startsWith('gochive') ? msg : `gochive ${command}: ${msg}`}\nRun 'gochive ${command} --help' for usage.\n`,
      );
      return 2;
    }
    process.stderr.write(`gochive ${command}: ${msg}\n`);
    return 1;
  }
}

/** Writes to stdout, resolving false once the reader went away (EPIPE, e.g. `| head`). */
export function stdoutWriter(): { write(s: string): Promise<boolean>; closed(): boolean } {
  let closed = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') closed = true;
  });
  return {
    closed: () => closed,
    async write(s: string): Promise<boolean> {
      if (closed) return false;
      if (!process.stdout.write(s)) await new Promise<void>((r) => process.stdout.once('drain', () => r()));
      return !closed;
    },
  };
}

/** Exit code of ls/verify/cat/restore when the selection finds nothing (a typo in --bucket, an empty range). */
export const EXIT_NOTHING_FOUND = 3;

/** `s3://bucket/prefix/ (database shop, with archive-field time in [...))`: where a command looked. */
export function describeSelection(description: string, sel: SourceSelection): string {
  const filters = [
    sel.policy ? `policy ${sel.namespace ? `${sel.namespace}/` : ''}${sel.policy}` : '',
    sel.database ? `database ${sel.database}` : '',
    sel.collection ? `collection ${sel.collection}` : '',
  ].filter(Boolean);
  return `${description}${filters.length ? ` (${filters.join(', ')})` : ''}${describeRange(sel)}`;
}

/** Reports that the selection found nothing, naming where it looked; returns EXIT_NOTHING_FOUND. */
export function nothingFound(
  command: string,
  what: string,
  description: string,
  sel: SourceSelection,
): number {
  process.stderr.write(
    `gochive ${command}: ${what}: no bundles in ${describeSelection(description, sel)} — check --bucket and the filters\n`,
  );
  return EXIT_NOTHING_FOUND;
}

export function describeRange(sel: SourceSelection): string {
  if (!sel.from && !sel.to) return '';
  return ` with archive-field time in [${sel.from?.toISOString() ?? '-∞'}, ${sel.to?.toISOString() ?? '+∞'})`;
}
