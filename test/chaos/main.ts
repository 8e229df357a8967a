// `node dist/test/chaos/main.js [--short|--full] [flags]` — see options.ts (USAGE) and README.md.
// Exit codes: 0 pass, 1 invariant violations, 2 bad flags, 3 the campaign itself failed or overran.
import { writeFileSync } from 'node:fs';
import { DRAIN_CEILING_STALLS, runCampaign } from './campaign.js';
import { parseArgs, USAGE, type CampaignOptions } from './options.js';
import { renderTable, toJson } from './report.js';

const log = (m: string): void => {
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
};

async function main(): Promise<number> {
  let o: CampaignOptions;
  try {
    const parsed = parseArgs(process.argv.slice(2));
    if ('help' in parsed) {
      process.stdout.write(USAGE);
      return 0;
    }
    o = parsed;
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).message}\n`);
    return 2;
  }

  const abort = new AbortController();
  // Hard bound on the whole run: setup, faults, quiesce, read-back and cleanup.
  const boundMs = o.durationMs + DRAIN_CEILING_STALLS * o.quiesceTimeoutMs + 12 * 60_000;
  const bound = setTimeout(() => {
    log(`the campaign exceeded its time bound (${Math.round(boundMs / 1000)}s); aborting`);
    abort.abort();
    setTimeout(() => {
      log('cleanup did not finish within 3 minutes of the abort; exiting');
      process.exit(3);
    }, 180_000).unref();
  }, boundMs);
  bound.unref();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    log(`${sig}: stopping the campaign and cleaning up${signals > 1 ? ' (again: exiting now)' : ''}`);
    if (signals > 1) process.exit(130);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const result = await runCampaign(o, abort.signal, log);
    process.stdout.write(`${renderTable(result)}\n`);
    if (o.reportFile) writeFileSync(o.reportFile, toJson(result));
    return result.check.violations.length === 0 ? 0 : 1;
  } catch (err) {
    log(
      `the campaign could not complete: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    return 3;
  } finally {
    clearTimeout(bound);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: ${String(err)}\n`);
    process.exit(3);
  },
);
