// `gochive archive -s3-expire-after`: a one-shot run archives and deletes every eligible document, then
// removes the bundles whose newest document is older than -s3-expire-after; the rest stay readable. An
// -s3-expire-after not longer than -age-limit is a usage error naming both flags.
import { BSON } from 'mongodb';
import { parseBundleKey } from '../../../operator/bundle/keys.js';
import { testEnv } from '../../support/testenv.js';
import { cliEnv, runCli } from './cli.js';
import { DAY, insertAll, listKeys, readBundles, sandbox, type Sandbox } from './helpers.js';

describe('gochive archive: -s3-expire-after', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_expire');
    const now = Date.now();
    const docs = (ageDays: number, tag: string) =>
      Array.from({ length: 100 }, (_, i) => ({ createdAt: new Date(now - ageDays * DAY - i * 1000), tag }));
    await insertAll(sb.db, 'events', [...docs(500, 'old'), ...docs(100, 'recent')]);
    await sb.db.collection('events').createIndex({ createdAt: 1 });
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  const args = (expireAfter: string) => [
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
    '-bundle-max-documents',
    '100',
    '-s3-expire-after',
    expireAfter,
    '--spool-dir',
    sb.spoolRoot,
    '--once',
  ];

  test('not longer than -age-limit: exit 2 naming both flags, nothing read', async () => {
    const r = await runCli(args('30d'), cliEnv(), 60_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('-s3-expire-after: "30d" must be longer than -age-limit');
    expect(await sb.db.collection('events').countDocuments()).toBe(200);
  });

  test('--once archives everything, then removes only the bundles past -s3-expire-after', async () => {
    const r = await runCli(args('400d'), cliEnv(), 180_000);
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await sb.db.collection('events').countDocuments()).toBe(0);
    const cutoff = Date.now() - 400 * DAY;
    const keys = await listKeys(sb.s3, sb.bucket, 'events/');
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) {
      const p = parseBundleKey(k);
      expect(p?.kind === 'gochive' && p.archiveFieldMax.getTime() >= cutoff).toBe(true);
    }
    // Every recent document is still archived; old ones only where they share a bundle with recent
    // ones (a bundle goes by its newest document).
    const tags = (await readBundles(sb.s3, sb.bucket, 'events/'))
      .flatMap((b) => b.docs)
      .map((d) => (BSON.deserialize(d) as { tag: string }).tag);
    expect(tags.filter((t) => t === 'recent')).toHaveLength(100);
    expect(tags.filter((t) => t === 'old').length).toBeLessThan(100);
  });
});
