// I3: kill -9 of the `gochive archive` process at each stage boundary, then a restart: nothing lost,
// nothing deleted that is not in S3, duplicates counted (and zero). The kill comes from the documented
// test hook GOCHIVE_TEST_CRASH_AT=<point>, which makes the process SIGKILL itself at that point:
//   after-spool   fetched documents are fsynced and journaled, nothing bundled yet
//   while-sealing a full bundle is being sealed in the background and the next one holds documents
//   after-seal    the bundle file is written and journaled, not uploaded
//   mid-upload    the multipart upload is past its first part
//   after-upload  the bundle is verified in S3, nothing deleted yet
//   before-delete the bundle is marked deleting, its first chunk's delete not yet sent
//   mid-delete    a deleteMany chunk was applied but not yet journaled
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { BSON } from 'mongodb';
import { testEnv } from '../../support/testenv.js';
import { cliEnv, runCli } from './cli.js';
import { DAY, idKey, insertAll, readBundles, sandbox, snapshotRaw, type Sandbox } from './helpers.js';

const POINTS = [
  'after-spool',
  'while-sealing',
  'after-seal',
  'mid-upload',
  'after-upload',
  'before-delete',
  'mid-delete',
] as const;
const N = 3000;

describe('archiver: kill -9 at each stage boundary', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_crash');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  test.each(POINTS)(
    'kill -9 %s, restart: nothing lost, duplicates counted',
    async (point) => {
      const coll = `c_${point.replace(/-/g, '_')}`;
      // ~5 KB of incompressible payload each: a 2000-document bundle is ~10 MB, so it goes multipart.
      await insertAll(
        sb.db,
        coll,
        Array.from({ length: N }, (_, i) => ({
          _id: new BSON.ObjectId(),
          createdAt: new Date(Date.now() - (100 + i / 100) * DAY),
          i,
          blob: new BSON.Binary(randomBytes(5000)),
        })),
        500,
      );
      await sb.db.collection(coll).createIndex({ createdAt: 1 });
      const before = await snapshotRaw(sb.db, coll);
      const prefix = `${coll}/`;
      const args = [
        'archive',
        '-host',
        testEnv().mongoUri,
        '-database',
        sb.dbName,
        '-collection',
        coll,
        '-age-limit',
        '92d',
        '-archive-field',
        'createdAt',
        '-query-limit',
        '500',
        '-archive-check-interval',
        '1',
        '-s3-upload-interval',
        '2',
        '-s3-bucket-uri',
        `${sb.bucket}/${prefix}`,
        '--bundle-max-documents',
        '2000',
        '--spool-dir',
        sb.spoolRoot,
        '--name',
        coll.replace(/_/g, '-'),
        '--once',
        '--statistics',
      ];

      const crashed = await runCli(args, cliEnv({ GOCHIVE_TEST_CRASH_AT: point }), 240_000);
      const hooked =
        crashed.signal === 'SIGKILL' && crashed.stderr.includes(`GOCHIVE_TEST_CRASH_AT=${point}`);
      expect(
        hooked
          ? 'killed by the hook'
          : `exit ${crashed.code} ${crashed.signal}: ${crashed.stderr.slice(-3000)}`,
      ).toBe('killed by the hook');

      // Right after the crash: every document is in MongoDB or in a bundle (I1/I3).
      const inDb = await snapshotRaw(sb.db, coll);
      const inS3 = new Set<string>();
      for (const b of await readBundles(sb.s3, sb.bucket, prefix)) for (const d of b.docs) inS3.add(idKey(d));
      for (const id of before.keys()) expect(inDb.has(id) || inS3.has(id)).toBe(true);

      const resumed = await runCli(args, cliEnv(), 240_000);
      expect({ code: resumed.code, stderr: resumed.code === 0 ? '' : resumed.stderr }).toEqual({
        code: 0,
        stderr: '',
      });

      // Everything archived once, byte-identical; MongoDB empty; duplicates as reported.
      expect(await sb.db.collection(coll).countDocuments()).toBe(0);
      const counts = new Map<string, number>();
      for (const b of await readBundles(sb.s3, sb.bucket, prefix)) {
        for (const d of b.docs) {
          const id = idKey(d);
          counts.set(id, (counts.get(id) ?? 0) + 1);
          expect(d.equals(before.get(id)!)).toBe(true);
        }
      }
      expect(counts.size).toBe(N);
      const duplicates = [...counts.values()].reduce((n, c) => n + c - 1, 0);
      const reported = Number(/DUPLICATES\s+(\d+)/.exec(resumed.stdout)?.[1]);
      expect(reported).toBe(duplicates);
      expect(duplicates).toBe(0);
      // No crash point is after a journaled delete, so the resumed run accounts for all N deletes (a
      // chunk applied before the kill is counted as already deleted when it is redone).
      expect(Number(/DELETED\s+(\d+)/.exec(resumed.stdout)?.[1])).toBe(N);
      // Spool cleaned up.
      expect(await readdir(path.join(sb.spoolRoot, 'default', coll.replace(/_/g, '-'), 'bundles'))).toEqual(
        [],
      );
    },
    600_000,
  );
});
