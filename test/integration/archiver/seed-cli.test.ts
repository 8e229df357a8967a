// The original README's command line, read from the seed document itself, runs against the test
// servers with only the host and the bucket changed: it fetches right away, uploads after 80 s (its
// -s3-upload-interval), deletes, and stops cleanly on SIGTERM. Also: usage errors name the flag and
// exit 2, and credentials never appear in the output (I7).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BSON } from 'mongodb';
import { pino } from 'pino';
import { Worker } from '../../../operator/archiver/worker.js';
import { repoRoot, testEnv, uniqueName } from '../../support/testenv.js';
import { cliEnv, runCli, startCli } from './cli.js';
import { DAY, listKeys, policy, readBundles, sandbox, type Sandbox } from './helpers.js';

/** The `./go_chive …` command of the seed README, as argv (shell quoting and line continuations undone). */
function seedCommandLine(): string[] {
  // A verbatim copy of the seed document (../shared/seed/gochive-README.md) is kept beside this test.
  const candidates = [
    path.join(repoRoot, 'test', 'integration', 'archiver', 'fixtures', 'seed-gochive-README.txt'),
  ];
  let text: string | undefined;
  for (const c of candidates) {
    try {
      text = readFileSync(c, 'utf8');
      break;
    } catch {
      // try the next place
    }
  }
  if (!text) throw new Error(`seed README not found in ${candidates.join(' or ')}`);
  const m = /\.\/go_chive ([\s\S]*?-query-limit \d+)/.exec(text);
  if (!m) throw new Error('the ./go_chive command line is not in the seed README');
  const joined = m[1]!.replace(/\\\n/g, ' ');
  const argv: string[] = [];
  for (const t of joined.matchAll(/"([^"]*)"|(\S+)/g)) argv.push(t[1] ?? t[2]!);
  return argv;
}

function replaceValue(argv: string[], flag: string, value: string): string[] {
  const i = argv.indexOf(flag);
  if (i < 0) throw new Error(`${flag} not in the seed command line`);
  return [...argv.slice(0, i + 1), value, ...argv.slice(i + 2)];
}

describe('gochive archive: the seed command line', () => {
  let sb: Sandbox;
  const marker = uniqueName('seed');
  beforeAll(async () => {
    sb = await sandbox('arch_seed');
  });
  afterAll(async () => {
    // The seed names database "test", collection "test": remove only this test's documents.
    const c = sb?.mongo.db('test').collection('test');
    await c?.deleteMany({ marker });
    if (c && (await c.countDocuments()) === 0) await c.drop().catch(() => undefined);
    await sb?.cleanup();
  });

  test('runs verbatim with host and bucket changed: archives documents older than 1d, then stops on SIGTERM', async () => {
    const seed = seedCommandLine();
    expect(seed).toEqual([
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
    ]);
    const argv = replaceValue(
      replaceValue(seed, '-host', testEnv().mongoUri),
      '-s3-bucket-uri',
      `${sb.bucket}/test/`,
    );

    const coll = sb.mongo.db('test').collection('test');
    const old = Array.from({ length: 1500 }, (_, i) => ({
      _id: new BSON.ObjectId(),
      createdAt: new Date(Date.now() - (2 + i / 100) * DAY),
      marker,
    }));
    const fresh = Array.from({ length: 200 }, () => ({
      _id: new BSON.ObjectId(),
      createdAt: new Date(Date.now() - 3_600_000),
      marker,
    }));
    await coll.insertMany([...old, ...fresh]);
    await coll.createIndex({ createdAt: 1 });

    const started = Date.now();
    const cli = startCli(['archive', ...argv], cliEnv({ GOCHIVE_SPOOL_DIR: sb.spoolRoot }), 300_000);
    // The original's pacing: one fetch of 1000 right away, the next after 60 s, the upload at 80 s.
    const deadline = Date.now() + 240_000;
    while ((await coll.countDocuments({ marker, createdAt: { $lt: new Date(Date.now() - DAY) } })) > 0) {
      if (Date.now() > deadline) {
        cli.kill('SIGKILL');
        throw new Error(`old documents still present after 240 s\n${cli.output().stderr.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
    const elapsed = (Date.now() - started) / 1000;
    expect(elapsed).toBeGreaterThanOrEqual(75); // nothing is deleted before the first upload tick (80 s)
    cli.kill('SIGTERM');
    const res = await cli.done;
    expect({ code: res.code, signal: res.signal }).toEqual({ code: 0, signal: null });

    expect(await coll.countDocuments({ marker })).toBe(fresh.length);
    const archived = new Set<string>();
    for (const b of await readBundles(sb.s3, sb.bucket, 'test/')) {
      expect(b.manifest.database).toBe('test');
      expect(b.manifest.collection).toBe('test');
      for (const d of b.docs) archived.add(String(BSON.deserialize(d)._id));
    }
    for (const d of old) expect(archived.has(String(d._id))).toBe(true);
    // pino JSON logs off a TTY: one object per line.
    const lines = res.stderr.split('\n').filter((l) => l.startsWith('{'));
    expect(
      lines.some((l) => (JSON.parse(l) as { msg?: string }).msg === 'bundle uploaded and verified'),
    ).toBe(true);
  }, 420_000);

  test('usage errors name the flag and the fix, exit 2, and never print the password', async () => {
    const base = [
      'archive',
      '-host',
      'mongodb://gochiveuser:Sup3rSecretPw@127.0.0.1:1/',
      '-database',
      'd',
      '-collection',
      'c',
      '-archive-field',
      'createdAt',
      '-s3-bucket-uri',
      `${sb.bucket}/x/`,
    ];
    const cases: [string[], RegExp][] = [
      [
        [...base, '-age-limit', '1d', '-archive-check-interval', '80', '-s3-upload-interval', '60'],
        /-s3-upload-interval: must be greater than -archive-check-interval/,
      ],
      [
        [...base, '-age-limit', 'soon', '-archive-check-interval', '60', '-s3-upload-interval', '80'],
        /-age-limit: .*92d/,
      ],
      [
        [
          ...base,
          '-age-limit',
          '1d',
          '-archive-check-interval',
          '60',
          '-s3-upload-interval',
          '80',
          '-query-limit',
          'many',
        ],
        /-query-limit: must be a whole number/,
      ],
      [
        [...base, '-age-limit', '1d', '-archive-check-interval', '60', '-s3-upload-interval', '80', '-bogus'],
        /flag provided but not defined: -bogus/,
      ],
      [['archive', '-database', 'd'], /-host is required/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args, cliEnv(), 60_000);
      expect({
        code: r.code,
        matches: re.test(r.stderr),
        leaked: (r.stdout + r.stderr).includes('Sup3rSecretPw'),
      }).toEqual({ code: 2, matches: true, leaked: false });
    }
  }, 120_000);

  test('connection failures are reported without the password (I7)', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
    const cfg = policy(sb, { collection: 'unreachable' }, 'unreachable');
    const w = new Worker(
      {
        config: cfg,
        mongoUri:
          'mongodb://gochiveuser:Sup3rSecretPw@127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300',
        spoolRoot: sb.spoolRoot,
        logger,
        once: true,
      },
      { onceMaxFailures: 2, maxBackoffMs: 100 },
    );
    await w.run();
    const snap = w.snapshot();
    expect(snap.state).toBe('Failed');
    expect(JSON.stringify(snap)).not.toContain('Sup3rSecretPw');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain('Sup3rSecretPw');
    expect(await listKeys(sb.s3, sb.bucket, 'archive/')).toEqual([]);
  }, 120_000);

  test('--once against an unreachable MongoDB exits 1 once --connect-timeout has passed, naming it', async () => {
    // Port 1 on loopback refuses at once; the driver's server selection gives up after 300 ms per
    // attempt. Before --connect-timeout a one-shot run kept retrying with back-off (about ten minutes).
    const r = await runCli(
      [
        'archive',
        '-host',
        'mongodb://gochiveuser:Sup3rSecretPw@127.0.0.1:1/?serverSelectionTimeoutMS=300',
        '-database',
        'd',
        '-collection',
        'c',
        '-age-limit',
        '30d',
        '-archive-field',
        'createdAt',
        '-s3-bucket-uri',
        `${sb.bucket}/unreachable/`,
        '-archive-check-interval',
        '1',
        '-s3-upload-interval',
        '2',
        '--spool-dir',
        sb.spoolRoot,
        '--once',
        '--connect-timeout',
        '2s',
      ],
      cliEnv(),
      120_000,
    );
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 1, signal: null });
    expect(r.stderr).toMatch(/MongoDB not reachable for 2s \(--connect-timeout\)/);
    expect(r.stderr).not.toContain('Sup3rSecretPw');
    // A bad value is a usage error naming the flag.
    const bad = await runCli(['archive', '--connect-timeout', 'soon'], cliEnv(), 60_000);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--connect-timeout');
  }, 180_000);
});
