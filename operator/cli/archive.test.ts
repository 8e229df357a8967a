// `gochive archive` flag handling without servers: Go-style parsing, the flags → spec mapping through
// the API's validation, URIs with credentials, and usage errors (exit 2, flag named, no secrets).
import { jest } from '@jest/globals';
import { validateSpec } from '../api/resolve.js';
import { connectionUri, defaultPolicyName, run, specFromFlags, ARCHIVE_FLAGS } from './archive.js';
import { parseFlags, UsageError } from './flags.js';

const SEED = [
  '-age-limit',
  '1d',
  '-archive-check-interval',
  '60',
  '-collection',
  'test',
  '-database',
  'test',
  '-host',
  'mongodb+srv://<user>:<password>@test.db.prod.ilevit.com/?tls=false',
  '-s3-bucket-uri',
  'levit-database-archive-prod/test/',
  '-s3-upload-interval',
  '80',
  '-archive-field',
  'createdAt',
  '-query-limit',
  '1000',
];

describe('Go-style flags', () => {
  test('single dash, double dash, -flag=value, booleans', () => {
    const p = parseFlags(
      [
        '-database',
        'a',
        '--collection=b',
        '-once',
        '--dry-run=false',
        '-query-limit=5',
        '-f',
        'x.yaml',
        '--file',
        'y.yaml',
      ],
      ARCHIVE_FLAGS,
    );
    expect(p.values).toMatchObject({
      database: 'a',
      collection: 'b',
      once: true,
      'dry-run': false,
      'query-limit': 5,
      file: ['x.yaml', 'y.yaml'],
    });
    expect(p.rest).toEqual([]);
  });
  test("errors like Go's flag package", () => {
    expect(() => parseFlags(['-nope'], ARCHIVE_FLAGS)).toThrow(
      new UsageError('flag provided but not defined: -nope'),
    );
    expect(() => parseFlags(['-database'], ARCHIVE_FLAGS)).toThrow(/flag needs an argument: -database/);
    expect(() => parseFlags(['-once=maybe'], ARCHIVE_FLAGS)).toThrow(/invalid boolean value/);
    expect(() => parseFlags(['-query-limit', '1e3'], ARCHIVE_FLAGS)).toThrow(/must be a whole number/);
  });
});

describe('flags → ArchivePolicy spec', () => {
  test('the seed command line is a valid spec with the original values', () => {
    const spec = specFromFlags(parseFlags(SEED, ARCHIVE_FLAGS).values);
    const r = validateSpec(spec);
    expect(r.ok).toBe(true);
    expect(spec).toMatchObject({
      ageLimit: '1d',
      archiveCheckInterval: 60,
      collection: 'test',
      database: 'test',
      archiveField: 'createdAt',
      queryLimit: 1000,
      s3: { bucket: 'levit-database-archive-prod/test/', uploadInterval: 80 },
    });
  });

  test("a file:// destination is allowed on the command line (the user's own machine)", () => {
    const v = parseFlags(
      SEED.map((a) => (a === 'levit-database-archive-prod/test/' ? 'file:///var/lib/gochive/archive' : a)),
      ARCHIVE_FLAGS,
    ).values;
    const r = validateSpec(specFromFlags(v), '', { target: 'local' });
    expect(r).toMatchObject({ ok: true, spec: { s3: { bucket: 'file:///var/lib/gochive/archive' } } });
  });

  test('throttle flags become spec.throttle (pt-archiver style -max-lag)', () => {
    const v = parseFlags(
      [...SEED, '-max-lag', '30s', '--max-query-latency-ms=250', '-throttle-check-interval', '5'],
      ARCHIVE_FLAGS,
    ).values;
    const r = validateSpec(specFromFlags(v));
    expect(r).toMatchObject({
      ok: true,
      spec: { throttle: { maxReplicationLag: '30s', maxQueryLatencyMilliseconds: 250, checkInterval: 5 } },
    });
  });

  test("credentials: -user/-password replace the URI's, encoded", () => {
    expect(connectionUri('mongodb://a:b@h:1/x?y=1', 'u@x', 'p/w:')).toBe(
      'mongodb://u%40x:p%2Fw%3A@h:1/x?y=1',
    );
    expect(connectionUri('mongodb+srv://h.example.com/', undefined, 'pw')).toBe(
      'mongodb+srv://:pw@h.example.com/',
    );
    expect(connectionUri('127.0.0.1:27017')).toBe('mongodb://127.0.0.1:27017');
  });

  test('default policy names are DNS labels, stable, and differ per host', () => {
    const a = defaultPolicyName('ALWAYZ', 'offerwall_event_log', 'mongodb://u:p@h1/');
    expect(a).toMatch(/^alwayz-offerwall-event-log-[0-9a-f]{8}$/);
    expect(defaultPolicyName('ALWAYZ', 'offerwall_event_log', 'mongodb://other:creds@h1/')).toBe(a); // credentials do not count
    expect(defaultPolicyName('ALWAYZ', 'offerwall_event_log', 'mongodb://h2/')).not.toBe(a);
    expect(defaultPolicyName('d'.repeat(80), 'c', 'h').length).toBeLessThanOrEqual(63);
  });
});

describe('usage errors', () => {
  let stderr: string;
  beforeEach(() => {
    stderr = '';
    jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr += String(s);
      return true;
    });
  });
  afterEach(() => jest.restoreAllMocks());

  test('name the flag, exit 2, and never echo the password', async () => {
    const withHost = (h: string) => SEED.map((a, i) => (SEED[i - 1] === '-host' ? h : a));
    const seed = withHost('mongodb://admin:Hunter2Secret@db.example.com/');
    expect(await run([...seed.map((a) => (a === '80' ? '30' : a))])).toBe(2);
    expect(stderr).toContain('-s3-upload-interval: must be greater than -archive-check-interval');
    expect(await run([...seed.map((a) => (a === 'createdAt' ? '' : a))])).toBe(2);
    expect(stderr).toContain('-archive-field');
    expect(await run([...seed, '-filter', '{not json'])).toBe(2);
    expect(stderr).toContain('-filter: not valid JSON');
    expect(await run([...seed, '-filter', '{"$where":"1"}'])).toBe(2);
    expect(stderr).toContain('-filter');
    expect(await run([...seed, 'stray'])).toBe(2);
    expect(stderr).toContain('unexpected argument "stray"');
    expect(await run([...seed, '-max-query-latency-ms', '0'])).toBe(2);
    expect(stderr).toContain(
      '-max-query-latency-ms: 0 must be at least 1 millisecond; omit it to ignore query latency',
    );
    expect(await run([...seed, '-max-lag', '500ms'])).toBe(2);
    expect(stderr).toContain('-max-lag: "500ms" is not a duration');
    expect(await run([...seed, '-throttle-check-interval', '5s'])).toBe(2);
    expect(stderr).toContain(
      '-throttle-check-interval: set -max-lag, -max-query-latency-ms or both (a throttle without a limit does nothing); or drop -throttle-check-interval to never back off',
    );
    expect(await run(withHost('mongodb://admin:Hunter2Secret@db.example.com:notaport/'))).toBe(2);
    expect(stderr).toContain('-host: not a usable MongoDB connection string');
    expect(stderr).not.toContain('Hunter2Secret');
  });

  test('refuse MongoDB system databases and collections, naming the flag (SPEC I9)', async () => {
    const withFlag = (flag: string, v: string) => SEED.map((a, i) => (SEED[i - 1] === flag ? v : a));
    for (const db of ['admin', 'local', 'config']) {
      stderr = '';
      expect(await run(withFlag('-database', db))).toBe(2);
      expect(stderr).toContain(
        `-database: "${db}" is a MongoDB system database; gochive never archives from, deletes from or restores into admin, local or config`,
      );
    }
    stderr = '';
    expect(await run(withFlag('-collection', 'system.users'))).toBe(2);
    expect(stderr).toContain('-collection: "system.users" is a MongoDB system collection (system.*)');
  });
});

describe('progress and statistics output', () => {
  test('a progress line shows documents, bundles, rate, backlog and spool', async () => {
    const { progressLine } = await import('./progress.js');
    const line = progressLine(
      'orders',
      {
        state: 'Archiving',
        totals: {
          documentsArchived: 12345,
          documentsDeleted: 12000,
          documentsSkipped: 2,
          documentsIneligible: 0,
          bundlesUploaded: 3,
          bytesUploaded: 3 * 1024 * 1024,
          duplicatesUploaded: 0,
        },
        spooledDocuments: 500,
        spooledBytes: 1,
        backlog: 45000,
      },
      1234.4,
    );
    expect(line).toBe(
      'orders | Archiving | archived 12,345 | deleted 12,000 | bundles 3 (3.0 MiB) | 1,234 docs/s | backlog ~45,000 | spool 500 docs | skipped 2',
    );
  });

  test('a throttled policy says so in its progress line, with the measured value', async () => {
    const { progressLine } = await import('./progress.js');
    const line = progressLine(
      'orders',
      {
        state: 'Archiving',
        totals: { ...(await import('../archiver/counters.js')).zeroTotals() },
        spooledDocuments: 0,
        spooledBytes: 0,
        throttle: {
          active: true,
          reason: 'QueryLatency',
          message: 'median latency of the last 5 queries 812 ms is above maxQueryLatencyMilliseconds 500',
          since: '2026-01-01T00:00:00Z',
          seconds: { ReplicationLag: 0, QueryLatency: 3 },
        },
      },
      0,
    );
    expect(line).toMatch(
      / \| THROTTLED \(QueryLatency\): median latency of the last 5 queries 812 ms is above maxQueryLatencyMilliseconds 500$/,
    );
  });

  test('statistics list counts, time per stage and the rate', async () => {
    const { formatStatistics } = await import('./statistics.js');
    const text = formatStatistics({
      label: 'default/orders',
      source: 'mongodb://***@h/ shop.orders',
      destination: 's3://b/p/',
      startedAt: new Date(0),
      endedAt: new Date(10_000),
      snapshot: {
        state: 'Stopped',
        totals: {
          documentsArchived: 1000,
          documentsDeleted: 998,
          documentsSkipped: 2,
          documentsIneligible: 5,
          bundlesUploaded: 1,
          bytesUploaded: 2048,
          duplicatesUploaded: 0,
        },
        spooledDocuments: 0,
        spooledBytes: 0,
        backlog: 0,
      },
      stats: {
        stageSeconds: { fetch: 4, delete: 3 },
        serverWaitSeconds: 6,
        documentsFetched: 1000,
        batches: 2,
        bytesSpooled: 0,
        recoveredBundles: 0,
        estimateSeconds: 1,
        throttledSeconds: { ReplicationLag: 0.5, QueryLatency: 2 },
      },
    });
    expect(text).toMatch(/^DELETED {5}998$/m);
    expect(text).toMatch(/^SKIPPED {5}2 /m);
    expect(text).toMatch(/^INELIGIBLE {2}5 /m);
    expect(text).toMatch(/^fetch +4\.000 +40\.00%$/m);
    expect(text).toMatch(/^other +3\.000 +30\.00%$/m);
    expect(text).toMatch(/^Rate +100\.0 documents\/s archived$/m);
    expect(text).toMatch(
      /^\(throttled\) +2\.500 +25\.00% {2}backing off under database pressure \(ReplicationLag 0\.500 s, QueryLatency 2\.000 s\)/m,
    );
    expect(text).not.toContain('undefined');
  });
});
