// The `gochive archive` page's (docs/archive-cli.md) test-server example, run as written against the test servers (the database and
// bucket names swapped for unique ones, nothing else), through `bash` with `gochive` defined.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BSON } from 'mongodb';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { repoRoot } from '../../support/testenv.js';
import { CLI } from './cli.js';
import { DAY, insertAll, listKeys, readBundles, sandbox, type Sandbox } from './helpers.js';

function page(): string {
  return readFileSync(path.join(repoRoot, 'docs', 'archive-cli.md'), 'utf8');
}

describe('docs/archive-cli.md: gochive archive', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_readme');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  test('the test-server example works as written', async () => {
    const blocks = [...page().matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const example = blocks.find((b) => b.includes('source .testenv/env'));
    expect(example).toBeDefined();
    const bucket = `${sb.bucket}-demo`.slice(0, 63);
    await sb.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const script = example!
      .replace(/gochive-demo/g, bucket)
      .replace(/-database shop/g, `-database ${sb.dbName}`);

    await insertAll(
      sb.db,
      'orders',
      Array.from({ length: 500 }, (_, i) => ({
        _id: new BSON.ObjectId(),
        createdAt: new Date(Date.now() - (31 + i / 10) * DAY),
        i,
      })),
    );
    await insertAll(
      sb.db,
      'orders',
      Array.from({ length: 50 }, (_, i) => ({
        _id: new BSON.ObjectId(),
        createdAt: new Date(Date.now() - DAY),
        i,
      })),
    );
    await sb.db.collection('orders').createIndex({ createdAt: 1 });

    const r = spawnSync('bash', ['-c', script], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 240_000,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        GOCHIVE_SPOOL_DIR: path.join(sb.spoolRoot, 'spool'),
        // `gochive` as an exported bash function: `source .testenv/env` replaces PATH, functions stay.
        'BASH_FUNC_gochive%%': `() { "${process.execPath}" "${CLI}" "$@"; }`,
      },
    });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toMatch(/^ARCHIVED\s+500\b/m);
    expect(r.stdout).toMatch(/^DELETED\s+500$/m);
    expect(await sb.db.collection('orders').countDocuments()).toBe(50);
    const bundles = await readBundles(sb.s3, bucket, 'shop/orders/');
    expect(bundles.reduce((n, b) => n + b.docs.length, 0)).toBe(500);
    for (const k of await listKeys(sb.s3, bucket))
      await sb.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
    await sb.s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  }, 300_000);
});
