// `gochive archive --filter`: a filter over the cap (operator/api/filter.ts) is a usage error naming the
// flag, the limit and the fix, before anything is read or deleted; the largest allowed filter archives
// everything with a peak RSS far from what the uncapped 5.5 MB filter cost (1.6 GB).
import { FILTER_MAX_BYTES, filterEjsonBytes, filterOfSize } from '../../../operator/api/filter.js';
import { testEnv } from '../../support/testenv.js';
import { cliEnv, runCli } from './cli.js';
import { DAY, insertAll, sandbox, type Sandbox } from './helpers.js';

const MIB = 1024 * 1024;
/** Asserted bound on the CLI's peak RSS: half the chart's 512Mi (the CLI runs beside it in no pod, but the same budget is a fair yardstick). */
const BOUND = 256 * MIB;
// Preloaded into the CLI: prints its peak RSS as it exits, the whole run measured. VmHWM of its own
// address space, not getrusage's maxRSS: Linux carries the pre-exec high-water mark into maxRSS, so a
// CLI spawned by a big jest process (the whole suite in band) reported jest's size (294 MiB seen).
const REPORT_PEAK_RSS =
  "data:text/javascript,import{readFileSync}from'node:fs';process.on('exit',()=>process.stderr.write(`\\npeak_rss_kb=${/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status','utf8'))[1]}\\n`))";

describe('gochive archive: filter size', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_filter_size');
    const now = Date.now();
    await insertAll(
      sb.db,
      'events',
      Array.from({ length: 1000 }, (_, i) => ({
        createdAt: new Date(now - 100 * DAY - i * 1000),
        tag: 'seed',
        payload: 'x'.repeat(200),
      })),
    );
    await sb.db.collection('events').createIndex({ createdAt: 1 });
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  const args = (filter: unknown) => [
    'archive',
    '-host',
    testEnv().mongoUri,
    '-database',
    sb.dbName,
    '-collection',
    'events',
    '-age-limit',
    '30d',
    '-archive-field',
    'createdAt',
    '-s3-bucket-uri',
    `${sb.bucket}/events/`,
    '-archive-check-interval',
    '1',
    '-s3-upload-interval',
    '2',
    '-query-limit',
    '100',
    '-filter',
    JSON.stringify(filter),
    '--spool-dir',
    sb.spoolRoot,
    '--once',
  ];

  test('one byte over the cap: exit 2 naming -filter, the limit and the fix; nothing deleted', async () => {
    const r = await runCli(args(filterOfSize(FILTER_MAX_BYTES + 1)), cliEnv(), 60_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `-filter: is ${FILTER_MAX_BYTES + 1} bytes as canonical Extended JSON, more than the ${FILTER_MAX_BYTES} allowed`,
    );
    expect(r.stderr).toContain('select by a field or a range');
    expect(await sb.db.collection('events').countDocuments()).toBe(1000);
  }, 120_000);

  test('the largest allowed filter archives everything with a bounded peak RSS', async () => {
    const filter = filterOfSize(FILTER_MAX_BYTES);
    expect(filterEjsonBytes(filter)).toBe(FILTER_MAX_BYTES);
    const r = await runCli(args(filter), cliEnv({ NODE_OPTIONS: `--import=${REPORT_PEAK_RSS}` }), 240_000);
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await sb.db.collection('events').countDocuments()).toBe(0);
    const m = /peak_rss_kb=(\d+)/.exec(r.stderr);
    expect(m).not.toBeNull();
    const peak = Number(m![1]) * 1024;
    process.stdout.write(
      `\ngochive archive with the largest filter (${FILTER_MAX_BYTES} B): peak RSS ${(peak / MIB).toFixed(0)} MiB (bound ${BOUND / MIB} MiB)\n`,
    );
    expect(peak).toBeLessThan(BOUND);
  }, 300_000);
});
