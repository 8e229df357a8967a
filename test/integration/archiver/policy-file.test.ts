// `gochive archive -f FILE`: several policies from one values file, run side by side by one process,
// connected through -uri-template (hostAddress → URI), with a command-line override (--dry-run).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { testEnv } from '../../support/testenv.js';
import { cliEnv, runCli } from './cli.js';
import { DAY, insertAll, readBundles, sandbox, type Sandbox } from './helpers.js';

describe('gochive archive -f', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_pf');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  test('a values file with two policies; -uri-template; --dry-run override; --statistics per policy', async () => {
    for (const c of ['orders', 'events']) {
      await insertAll(
        sb.db,
        c,
        Array.from({ length: 120 }, (_, i) => ({
          _id: i,
          createdAt: new Date(Date.now() - (95 + i) * DAY),
          c,
        })),
      );
      await sb.db.collection(c).createIndex({ createdAt: 1 });
    }
    const entry = (name: string, coll: string) => `
  - name: ${name}
    hostAddress: "${new URL(testEnv().mongoUri).host}"
    ageLimit: 92d
    queryLimit: 50
    archiveCheckInterval: 1
    collection: ${coll}
    database: ${sb.dbName}
    archiveField: createdAt
    s3:
      bucket: ${sb.bucket}/${coll}/
      uploadInterval: 2
`;
    const values = path.join(sb.spoolRoot, 'values.yaml');
    await writeFile(
      values,
      `policies:${entry('orders-archive', 'orders')}${entry('events-archive', 'events')}`,
    );

    const common = [
      'archive',
      '-f',
      values,
      '-uri-template',
      'mongodb://{host}/',
      '--spool-dir',
      sb.spoolRoot,
      '--once',
      '--statistics',
    ];
    const dry = await runCli([...common, '--dry-run'], cliEnv(), 180_000);
    expect({ code: dry.code, stderr: dry.code === 0 ? '' : dry.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await sb.db.collection('orders').countDocuments()).toBe(120);
    expect(dry.stdout.match(/^Policy {6}default\/(orders|events)-archive$/gm)?.length).toBe(2);

    // The dry run keeps its place; a real run of fresh policies (new names) archives and deletes.
    await writeFile(values, `policies:${entry('orders-real', 'orders')}${entry('events-real', 'events')}`);
    const real = await runCli(common, cliEnv(), 180_000);
    expect({ code: real.code, stderr: real.code === 0 ? '' : real.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await sb.db.collection('orders').countDocuments()).toBe(0);
    expect(await sb.db.collection('events').countDocuments()).toBe(0);
    expect([...real.stdout.matchAll(/^DELETED\s+(\d+)$/gm)].map((m) => Number(m[1]))).toEqual([120, 120]);
    for (const c of ['orders', 'events']) {
      const bundles = await readBundles(sb.s3, sb.bucket, `${c}/`);
      // Dry run + real run: each document is in two bundles of different policies, once per policy.
      const perPolicy = new Map<string, number>();
      for (const b of bundles)
        perPolicy.set(b.manifest.policy.name, (perPolicy.get(b.manifest.policy.name) ?? 0) + b.docs.length);
      expect(Object.fromEntries(perPolicy)).toEqual({ [`${c}-archive`]: 120, [`${c}-real`]: 120 });
    }
  }, 300_000);
});
