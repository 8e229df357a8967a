// `gochive archive -max-query-latency-ms … -max-lag …` against real FerretDB through a delaying TCP
// proxy: when round trips slow down the run backs off (said in the log and the progress line), resumes
// once the delay goes, finishes with MongoDB and S3 exact, and --statistics reports the throttled time.
// FerretDB has no replica set: -max-lag gives no signal, which the run says once and otherwise ignores.
import { DelayProxy } from '../operator/delay-proxy.js';
import { testEnv } from '../../support/testenv.js';
import { cliEnv, startCli } from './cli.js';
import { DAY, idKey, readBundles, sandbox, until, type Sandbox } from './helpers.js';

const DOCS = 400;

describe('gochive archive: throttle on query latency', () => {
  let sb: Sandbox;
  let delay: DelayProxy;
  let port: number;

  beforeAll(async () => {
    sb = await sandbox('throttle_cli');
    const m = /^mongodb:\/\/(?:[^@/]*@)?([^:/]+):(\d+)/.exec(testEnv().mongoUri)!;
    delay = new DelayProxy({ host: m[1]!, port: Number(m[2]) }, 0);
    port = await delay.start();
  });

  afterAll(async () => {
    await delay?.stop();
    await sb?.cleanup();
  });

  test('backs off while round trips are slow, resumes, and reports the throttled time', async () => {
    const coll = sb.db.collection('events');
    await coll.createIndex({ createdAt: 1 });
    const now = Date.now();
    await coll.insertMany(
      Array.from({ length: DOCS }, (_, i) => ({ createdAt: new Date(now - 40 * DAY - i * 1000), seq: i })),
    );
    const seeded = new Set((await coll.find({}).toArray()).map((d) => idKey(d)));

    const cli = startCli(
      [
        'archive',
        '-host',
        `mongodb://127.0.0.1:${port}/`,
        '-database',
        sb.dbName,
        '-collection',
        'events',
        '-age-limit',
        '30d',
        '-archive-field',
        'createdAt',
        '-query-limit',
        '50',
        '-archive-check-interval',
        '1',
        '-s3-upload-interval',
        '2',
        '-s3-bucket-uri',
        `${sb.bucket}/events/`,
        '-spool-dir',
        sb.spoolRoot,
        // Slow enough that the run is still going when the delay starts.
        '-max-docs-per-second',
        '40',
        '-max-query-latency-ms',
        '400',
        '-max-lag',
        '30s',
        '-throttle-check-interval',
        '1',
        '--once',
        '--statistics',
        '--progress',
        '-log-level',
        'info',
      ],
      cliEnv(),
    );
    await until('the first documents deleted', async () => (await coll.countDocuments({})) < DOCS, 120_000);
    delay.delayMs = 1000;
    await until(
      'the run to back off',
      () => /"msg":"throttled: median latency/.test(cli.output().stderr),
      120_000,
    );
    await until(
      'the progress line to show it',
      () => /THROTTLED \(QueryLatency\)/.test(cli.output().stderr),
      30_000,
    );
    delay.delayMs = 0;
    const r = await cli.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /throttle \(QueryLatency\) ended after [0-9.]+s: every signal is back under its limit/,
    );

    // Exact: nothing left in MongoDB, every document in S3 once.
    expect(await coll.countDocuments({})).toBe(0);
    const ids = (await readBundles(sb.s3, sb.bucket, 'events/')).flatMap((b) => b.docs.map((d) => idKey(d)));
    expect(ids).toHaveLength(DOCS);
    expect(new Set(ids)).toEqual(seeded);

    // --statistics: the throttled time, by reason.
    const m = /^\(throttled\) +([0-9.]+) .*\(ReplicationLag ([0-9.]+) s, QueryLatency ([0-9.]+) s\)/m.exec(
      r.stdout,
    );
    expect(m).not.toBeNull();
    expect(Number(m![3])).toBeGreaterThan(0);
    expect(Number(m![2])).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^DELETED {5}${DOCS}$`, 'm'));

    // -max-lag against a server that is not a replica set: said once, not an error loop.
    const noLag = r.stderr.split('\n').filter((l) => l.includes('no replication lag signal'));
    expect(noLag).toHaveLength(1);
    expect(noLag[0]).toContain('not a replica set member');
  }, 400_000);
});
