// spec.throttle against real FerretDB through a delaying TCP proxy: the latency of the policy's queries
// rises → Throttled condition with the measured value, a Throttled Event, and
// gochive_throttled_seconds_total growing; the delay goes → the condition clears, a ThrottleEnded Event,
// and the archive completes with MongoDB and S3 exact (nothing lost, nothing twice). Replication lag is
// not tested here: FerretDB has no replica set (throttle-lag.test.ts uses recorded replies); the worker
// must say so once and go on with the latency signal.
import { BSON } from 'mongodb';
import { DelayProxy } from './delay-proxy.js';
import {
  apply,
  condition,
  ensureCrd,
  getPolicy,
  mustKubectl,
  OperatorProcess,
  waitFor,
  type LogLine,
} from './harness.js';
import { policyManifest, policySpec, readBundles, sandbox, seed, type Sandbox } from './fixtures.js';

const DOCS = 600;
const LIMIT_MS = 400;
const DELAY_MS = 1000;

describe('operator: throttle on query latency', () => {
  let sb: Sandbox;
  let op: OperatorProcess;
  let delay: DelayProxy;
  let delayPort: number;

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-throttle');
    // operator → delay proxy → counting proxy → FerretDB
    delay = new DelayProxy({ host: '127.0.0.1', port: sb.proxy.port }, 0);
    delayPort = await delay.start();
    op = await OperatorProcess.start({ name: 'throttle', args: sb.operatorArgs });
  });

  afterAll(async () => {
    await op?.stop();
    await delay?.stop();
    await sb?.cleanup();
  });

  test('latency up → Throttled, Event, metric; latency down → cleared, Event; then the archive completes exactly', async () => {
    const name = 'slow';
    await seed(sb.db, name, DOCS, 40);
    const seeded = new Set(
      (
        await sb.db
          .collection(name)
          .find({}, { projection: { _id: 1 } })
          .toArray()
      ).map((d) => BSON.EJSON.stringify(d._id, { relaxed: false })),
    );
    await apply(
      policyManifest(
        sb.namespace,
        name,
        policySpec(
          sb,
          {
            hostAddress: `127.0.0.1:${delayPort}`,
            queryLimit: 50,
            // Slow enough that the archive is still running when the delay starts.
            maxDocumentsPerSecond: 40,
            throttle: { maxQueryLatencyMilliseconds: LIMIT_MS, maxReplicationLag: '30s', checkInterval: 1 },
          },
          name,
        ),
      ),
    );
    const started = await waitFor(
      'the first documents archived, not throttled',
      async () => {
        const p = await getPolicy(sb.namespace, name);
        return (p?.status?.totals?.documentsArchived ?? 0) > 0 &&
          p?.status?.totals?.documentsArchived !== DOCS
          ? p
          : undefined;
      },
      90_000,
      200,
    );
    expect(condition(started, 'Throttled')?.reason).toBe('NotThrottled');

    // The database slows down: every round trip now takes at least DELAY_MS.
    delay.delayMs = DELAY_MS;
    const throttled = await waitFor(
      'the Throttled condition',
      async () => {
        const p = await getPolicy(sb.namespace, name);
        return condition(p, 'Throttled')?.status === 'True' ? p : undefined;
      },
      90_000,
      200,
    );
    const c = condition(throttled, 'Throttled')!;
    expect(c.reason).toBe('QueryLatency');
    expect(c.message).toMatch(
      new RegExp(
        `^median latency of the last \\d queries (\\d+) ms is above maxQueryLatencyMilliseconds ${LIMIT_MS}`,
      ),
    );
    expect(Number(/queries (\d+) ms/.exec(c.message)![1])).toBeGreaterThan(LIMIT_MS);
    expect(throttled.status?.phase).toBe('Archiving');

    const events = () =>
      mustKubectl([
        'get',
        'events.v1.events.k8s.io',
        '-n',
        sb.namespace,
        '--field-selector',
        `regarding.name=${name}`,
        '-o',
        'jsonpath={range .items[*]}{.type}/{.reason}: {.note}{"\\n"}{end}',
      ]);
    await waitFor(
      'the Throttled event',
      async () => /Normal\/Throttled: QueryLatency: median latency/.test(await events()),
      30_000,
      500,
    );

    // The metric counts throttled time while the throttle lasts.
    const metric = async () => {
      const m = new RegExp(
        `gochive_throttled_seconds_total\\{namespace="${sb.namespace}",policy="${name}",reason="QueryLatency"\\} ([0-9.e+-]+)`,
      ).exec(await op.metrics());
      return m ? Number(m[1]) : 0;
    };
    const first = await waitFor(
      'throttled seconds counted',
      async () => ((await metric()) > 0 ? metric() : undefined),
      30_000,
      500,
    );
    await waitFor('throttled seconds to grow', async () => (await metric()) > first, 30_000, 500);
    const deletedWhileThrottled =
      (await getPolicy(sb.namespace, name))?.status?.totals?.documentsDeleted ?? 0;

    // The database recovers: the throttle ends by itself.
    delay.delayMs = 0;
    const cleared = await waitFor(
      'the Throttled condition to clear',
      async () => {
        const p = await getPolicy(sb.namespace, name);
        return condition(p, 'Throttled')?.status === 'False' ? p : undefined;
      },
      90_000,
      200,
    );
    expect(condition(cleared, 'Throttled')?.reason).toBe('NotThrottled');
    await waitFor(
      'the ThrottleEnded event',
      async () =>
        /Normal\/ThrottleEnded: throttle \(QueryLatency\) ended after [0-9.]+s: every signal is back under its limit/.test(
          await events(),
        ),
      30_000,
      500,
    );

    // Then the archive completes: every document in S3 exactly once, none left in MongoDB.
    const done = await waitFor(
      'the archive to complete',
      async () => {
        const p = await getPolicy(sb.namespace, name);
        return p?.status?.phase === 'Idle' && p.status.totals?.documentsDeleted === DOCS ? p : undefined;
      },
      120_000,
      500,
    );
    expect(deletedWhileThrottled).toBeLessThan(DOCS);
    expect(done.status?.totals).toMatchObject({
      documentsArchived: DOCS,
      documentsDeleted: DOCS,
      duplicatesUploaded: 0,
    });
    expect(await sb.db.collection(name).countDocuments({})).toBe(0);
    const ids = (await readBundles(sb.s3, sb.bucket, `${name}/`)).flatMap((b) => b.ids);
    expect(ids).toHaveLength(DOCS);
    expect(new Set(ids)).toEqual(seeded);
    expect(await metric()).toBeGreaterThan(first);

    // FerretDB is no replica set: said once, and the latency throttle worked regardless.
    const noLag = op.lines.filter(
      (l: LogLine) => l.policy === name && /no replication lag signal/.test(String(l.msg)),
    );
    expect(noLag).toHaveLength(1);
    expect(String(noLag[0]!.why)).toMatch(/not a replica set member/);
  }, 400_000);
});
