// Archive expiration against versitygw: the expiry pass (archiver/expire.ts, used by the worker for
// spec.s3.expireAfter) and `gochive prune`. Bundles at several ages under one prefix, another policy's
// bundles under a longer prefix that starts with it and under the very same prefix, an original-format
// key, objects whose age cannot be read, a bundle still in the ledger; a dry run removes nothing.
import type { S3Client } from '@aws-sdk/client-s3';
import { BSON } from 'mongodb';
import { expireBundles } from '../../../operator/archiver/expire.js';
import { uniqueName } from '../../support/testenv.js';
import {
  adminS3,
  createBucket,
  deleteBucket,
  env,
  gochive,
  putGochiveBundle,
  putLegacyBundle,
  putRaw,
  s3Dest,
} from './helpers.js';
import { listKeys } from '../operator/fixtures.js';

const DAY = 86_400_000;
const A = { name: 'orders-archive', namespace: 'shop' };
const B = { name: 'orders-eu-archive', namespace: 'shop' };
const C = { name: 'refunds-archive', namespace: 'shop' };

describe('archive expiration', () => {
  const s3: S3Client = adminS3();
  const bucket = uniqueName('gochive-prune');
  const now = Date.now();
  const ago = (days: number, extraMs = 0): Date => new Date(now - days * DAY - extraMs);
  const doc = (t: Date, i: number): Buffer => Buffer.from(BSON.serialize({ _id: `d${i}`, createdAt: t }));
  const layout: Record<string, string> = {};

  /** Writes one layout under `root` (ending in '/'); returns its keys by role. */
  const write = async (root: string): Promise<Record<string, string>> => {
    const dest = s3Dest(bucket);
    const k: Record<string, string> = {};
    const put = (
      prefix: string,
      policy: { name: string; namespace: string },
      times: Date[],
      createdAt = ago(30), // older than prune's default --min-bundle-age of 7d
    ): Promise<string> =>
      putGochiveBundle(dest, {
        prefix,
        database: 'shop',
        collection: 'orders',
        docs: times.map((t, i) => doc(t, i)),
        policy,
        createdAt,
      });
    try {
      k.old = await put(root, A, [ago(700), ago(650)]);
      k.older = await put(root, A, [ago(900)]);
      k.middle = await put(root, A, [ago(300), ago(250)]); // younger than the 400d cutoff
      k.spanning = await put(root, A, [ago(800), ago(10)]); // oldest is old, newest is not: kept
      k.inFlight = await put(root, A, [ago(600)]);
      k.recent = await put(root, A, [ago(500)], new Date(now - 3_600_000)); // uploaded an hour ago
      k.sharedPrefix = await put(root, C, [ago(600)]); // another policy writing to the same prefix
      k.nested = await put(`${root}eu/`, B, [ago(600)]); // another policy's longer prefix
      k.nestedDated = await put(`${root}2020/01/01/`, B, [ago(600)]); // its prefix even looks like a date
      k.legacy = await putLegacyBundle(s3, bucket, root, ago(500), [[doc(ago(520), 1)]]);
      const oldFolder = ago(600).toISOString().slice(0, 10).replace(/-/g, '/');
      k.notes = `${root}${oldFolder}/notes.txt`;
      k.badName = `${root}${oldFolder}/20200101T000000000Z_garbage.tar.gz`;
      await putRaw(s3, bucket, k.notes, Buffer.from('kept: no age in the name'));
      await putRaw(s3, bucket, k.badName, Buffer.from('not a bundle'));
    } finally {
      await dest.close();
    }
    return k;
  };

  beforeAll(async () => {
    await createBucket(s3, bucket);
    Object.assign(layout, await write('arch/'));
  });

  afterAll(async () => {
    await deleteBucket(s3, bucket);
    s3.destroy();
  });

  const cutoff = ago(400);

  test("the worker's pass: dry run first, then only this policy's expired bundles go", async () => {
    const dest = s3Dest(bucket);
    try {
      const before = await listKeys(s3, bucket);
      const opts = {
        dest,
        prefix: 'arch/',
        cutoff,
        match: { policy: A.name, namespace: A.namespace },
        inFlight: async () => new Set([layout.inFlight!]),
      };
      const dry = await expireBundles({ ...opts, dryRun: true });
      expect(await listKeys(s3, bucket)).toEqual(before); // a dry run removes nothing
      const expected = [layout.older!, layout.old!, layout.recent!].sort();
      expect(dry.expired.map((b) => b.key).sort()).toEqual(expected);
      expect(dry.kept).toEqual({
        ageUnreadable: 2, // notes.txt and the garbage name
        manifestUnreadable: 1, // the original-format bundle cannot be attributed to a policy
        notSelected: 1, // the other policy's bundle under the same prefix
        inFlight: 1,
        tooRecent: 0,
      });

      const removed: string[] = [];
      const real = await expireBundles({ ...opts, dryRun: false, onRemoved: (b) => removed.push(b.key) });
      expect(real.expired.map((b) => b.key).sort()).toEqual(expected);
      expect(removed.sort()).toEqual(expected);
      const after = await listKeys(s3, bucket);
      expect(after).toEqual(before.filter((k) => !expected.includes(k)));
      for (const kept of ['middle', 'spanning', 'inFlight', 'sharedPrefix', 'nested', 'nestedDated'])
        expect(after).toContain(layout[kept]);
      for (const kept of ['legacy', 'notes', 'badName']) expect(after).toContain(layout[kept]);

      // A second pass finds nothing more to remove.
      const again = await expireBundles({ ...opts, dryRun: false });
      expect(again.expired).toEqual([]);
    } finally {
      await dest.close();
    }
  });

  test('a pass is bounded and continues where it stopped, oldest first', async () => {
    const dest = s3Dest(bucket);
    try {
      const root = 'bounded/';
      const w = s3Dest(bucket);
      const keys: string[] = [];
      try {
        for (const days of [900, 800, 700])
          keys.push(
            await putGochiveBundle(w, {
              prefix: root,
              database: 'shop',
              collection: 'orders',
              docs: [doc(ago(days), 1)],
              policy: A,
            }),
          );
      } finally {
        await w.close();
      }
      const first = await expireBundles({ dest, prefix: root, cutoff, dryRun: false, maxBundles: 2 });
      expect(first.expired.map((b) => b.key)).toEqual(keys.slice(0, 2));
      expect(first.truncated).toBe(true);
      const second = await expireBundles({ dest, prefix: root, cutoff, dryRun: false, maxBundles: 2 });
      expect(second.expired.map((b) => b.key)).toEqual([keys[2]]);
      expect(second.truncated).toBe(false);
      expect(await listKeys(s3, bucket, root)).toEqual([]);
    } finally {
      await dest.close();
    }
  });

  test('gochive prune: --dry-run lists and removes nothing; the real run prints what it removed', async () => {
    const k = await write('cli/');
    const args = [
      'prune',
      '--bucket',
      `s3://${bucket}/cli/`,
      '--endpoint',
      env.s3.endpoint,
      '--older-than',
      '400d',
    ];
    const before = await listKeys(s3, bucket, 'cli/');
    const dry = await gochive([...args, '--dry-run']);
    expect({ code: dry.code, stderr: dry.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await listKeys(s3, bucket, 'cli/')).toEqual(before);
    // Without --policy no manifest is needed: the original-format key is aged by its upload time, and
    // the other policy's bundle under the same prefix goes too (the prefix is the user's choice).
    const expected = [k.older!, k.old!, k.inFlight!, k.sharedPrefix!, k.legacy!].sort();
    const listed = (out: string, word: string): string[] =>
      [...out.matchAll(new RegExp(`^${word}\\s+(\\S+)`, 'gm'))].map((m) => m[1]!).sort();
    expect(listed(dry.stdout, 'WOULD REMOVE')).toEqual(expected);
    expect(listed(dry.stdout, 'REMOVED')).toEqual([]);
    expect(listed(dry.stdout, 'KEPT')).toEqual([k.recent!, k.notes!, k.badName!].sort()); // too recent, no age
    expect(dry.stdout).toMatch(/would remove 5 bundle\(s\)/);

    const real = await gochive(args);
    expect({ code: real.code, stderr: real.stderr }).toEqual({ code: 0, stderr: '' });
    expect(listed(real.stdout, 'REMOVED')).toEqual(expected);
    expect(real.stdout).toMatch(/: removed 5 bundle\(s\)/);
    expect(await listKeys(s3, bucket, 'cli/')).toEqual(before.filter((x) => !expected.includes(x)));
    expect(await listKeys(s3, bucket, 'cli/eu/')).toEqual([k.nested]);
  });

  test('gochive prune --policy removes only bundles whose manifest names it', async () => {
    const k = await write('bypolicy/');
    const r = await gochive([
      'prune',
      '--bucket',
      `s3://${bucket}/bypolicy/`,
      '--endpoint',
      env.s3.endpoint,
      '--older-than',
      '400d',
      '--min-bundle-age',
      '1m',
      '--policy',
      C.name,
      '-o',
      'json',
    ]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(r.stdout) as { expired: { key: string }[]; kept: Record<string, number> };
    expect(report.expired.map((b) => b.key)).toEqual([k.sharedPrefix]);
    expect(report.kept).toMatchObject({ notSelected: 4, manifestUnreadable: 1, ageUnreadable: 2 });
  });

  test('gochive prune refuses a missing --older-than and range flags', async () => {
    const base = ['prune', '--bucket', `s3://${bucket}/cli/`, '--endpoint', env.s3.endpoint];
    const missing = await gochive(base);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--older-than is required');
    const ranged = await gochive([...base, '--older-than', '400d', '--to', '2024-01-01']);
    expect(ranged.code).toBe(2);
    expect(ranged.stderr).toContain('--from, --to and --key do not apply to prune');
  });
});
