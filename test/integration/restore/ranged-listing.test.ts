// Ranged listing against versitygw, seen on the wire through a recording proxy: with --to, no date
// folder after it is listed, and nothing in range is missed — a bundle filed long before --from that
// reaches into the range, original-format keys, another policy's date tree one level down.
import { BSON } from 'mongodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { dateFolder, keyMayOverlap, parseBundleKey } from '../../../operator/bundle/keys.js';
import type { SourceSelection } from '../../../operator/restore/args.js';
import { selectBundles } from '../../../operator/restore/catalog.js';
import { rangedListingLayout } from '../../../operator/restore/ranged-list-fixture.js';
import { S3Destination } from '../../../operator/storage/s3.js';
import { uniqueName } from '../../support/testenv.js';
import { RecordingProxy } from '../storage/recording-proxy.js';
import {
  adminS3,
  createBucket,
  creds,
  deleteBucket,
  env,
  gochive,
  putGochiveBundle,
  s3Dest,
  putLegacyBundle,
  putRaw,
} from './helpers.js';

const HOUR = 3_600_000;

describe('ranged listing', () => {
  const s3: S3Client = adminS3();
  const bucket = uniqueName('gochive-ranged');
  let proxy: RecordingProxy;
  let endpoint: string;

  beforeAll(async () => {
    await createBucket(s3, bucket);
    proxy = new RecordingProxy(new URL(env.s3.endpoint));
    endpoint = await proxy.start();
  });

  afterAll(async () => {
    await proxy?.stop();
    await deleteBucket(s3, bucket);
    s3.destroy();
  });

  const lastFolderOf = (to: Date): string => dateFolder(new Date(to.getTime() - 1));
  const afterTo = (keys: string[], to: Date): string[] =>
    keys.filter((k) => {
      const p = parseBundleKey(k);
      return p?.kind === 'gochive' && dateFolder(p.archiveFieldMin) > lastFolderOf(to);
    });

  test('selects exactly what the whole-prefix listing selects, listing no folder after --to', async () => {
    const layout = rangedListingLayout('keys/', 10);
    for (const k of layout.keys) await putRaw(s3, bucket, k, Buffer.from('x'));
    const dest = new S3Destination({
      kind: 's3',
      bucket,
      prefix: '',
      endpoint,
      region: env.s3.region,
      credentials: creds,
    });
    try {
      const sel: SourceSelection = {
        destination: { kind: 's3', bucket, prefix: '' },
        prefix: 'keys/',
        from: layout.from,
        to: layout.to,
      };
      proxy.clear();
      const { refs } = await selectBundles(dest, sel);
      const ranged = proxy.listings();

      const expected = layout.keys.filter((k) => {
        const p = parseBundleKey(k);
        return p !== undefined && keyMayOverlap(p, layout.from, layout.to);
      });
      expect(expected).toEqual(
        expect.arrayContaining([layout.spanning, layout.legacyAfter, layout.nestedInRange]),
      );
      expect(refs.map((r) => r.key)).toEqual(expected);
      expect(afterTo(ranged.keys, layout.to)).toEqual([]);
      expect(new Set(ranged.keys).size).toBeLessThan(layout.keys.length);
      // Keys the date range alone selects: listing them again is what a whole-prefix listing costs.
      expect(ranged.keys.length).toBeLessThan(layout.keys.length);
    } finally {
      await dest.close();
    }
  });

  test('ls, cat, verify and restore --dry-run with --from/--to find a bundle reaching into the range', async () => {
    const doc = (t: number, i: number): Buffer =>
      Buffer.from(BSON.serialize({ _id: `d${i}`, createdAt: new Date(t) }));
    const from = Date.UTC(2024, 2, 10);
    const to = Date.UTC(2024, 2, 11);
    const writer = s3Dest(bucket);
    const put = (docs: Buffer[]): Promise<string> =>
      putGochiveBundle(writer, { prefix: 'cli/', database: 'shop', collection: 'events', docs });
    let spanning: string, inRange: string, after: string, legacy: string;
    try {
      spanning = await put([doc(Date.UTC(2023, 5, 1), 1), doc(from + 2 * HOUR, 2)]);
      inRange = await put([doc(from + 5 * HOUR, 3), doc(from + 6 * HOUR, 4)]);
      after = await put([doc(to + HOUR, 5)]);
      legacy = await putLegacyBundle(s3, bucket, 'cli/', new Date(Date.UTC(2024, 2, 20)), [
        [doc(from + 7 * HOUR, 6)],
      ]);
    } finally {
      await writer.close();
    }
    const args = [
      '--bucket',
      `s3://${bucket}/cli/`,
      '--endpoint',
      endpoint,
      '--from',
      '2024-03-10',
      '--to',
      '2024-03-11',
    ];
    const run = async (cmd: string[]): Promise<{ stdout: string; listed: string[] }> => {
      proxy.clear();
      const r = await gochive(cmd);
      if (r.code !== 0) throw new Error(`gochive ${cmd[0]} exited ${r.code}: ${r.stdout}\n${r.stderr}`);
      return { stdout: r.stdout, listed: proxy.listings().keys };
    };

    const ls = await run(['ls', ...args, '-o', 'json']);
    expect((JSON.parse(ls.stdout) as { key: string }[]).map((r) => r.key).sort()).toEqual(
      [spanning, inRange, legacy].sort(),
    );
    expect(ls.listed).not.toContain(after);
    expect(ls.listed).toContain(spanning);

    const cat = await run(['cat', ...args]);
    const ids = cat.stdout
      .trim()
      .split('\n')
      .map((l) => (BSON.EJSON.parse(l) as { _id: string })._id)
      .sort();
    expect(ids).toEqual(['d2', 'd3', 'd4', 'd6']);
    expect(cat.listed).not.toContain(after);

    const verify = await run(['verify', ...args, '-o', 'json']);
    expect(verify.listed).not.toContain(after);
    expect(verify.stdout).toContain(spanning);

    const restore = await run([
      'restore',
      ...args,
      '--uri',
      env.mongoUri,
      '--to-db',
      uniqueName('ranged').replace(/-/g, '_'),
      '--to-collection',
      'events',
      '--dry-run',
      '-o',
      'json',
    ]);
    expect(JSON.parse(restore.stdout)).toMatchObject({ bundles: { selected: 3 } });
    expect(restore.listed).not.toContain(after);
  });
});
