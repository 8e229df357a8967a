// file:// bundles: ls, verify, cat (every BSON type, no server needed) and restore into FerretDB.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BSON, MongoClient } from 'mongodb';
import { everyTypeDocuments } from '../../../operator/bundle/test-docs.js';
import { hasDeprecatedTypes } from '../../../operator/restore/documents.js';
import { FileDestination } from '../../../operator/storage/file.js';
import { uniqueName } from '../../support/testenv.js';
import { env, gochive, putGochiveBundle } from './helpers.js';

describe('file:// bundles', () => {
  let root: string;
  let mongo: MongoClient;
  const dbName = uniqueName('filerestore').replace(/-/g, '_');

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'gochive-file-src-'));
    mongo = new MongoClient(env.mongoUri, { serverSelectionTimeoutMS: 10_000 });
    await mongo.connect();
  });
  afterAll(async () => {
    await mongo
      ?.db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await mongo?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('every BSON type survives bundle → cat as canonical Extended JSON', async () => {
    const dest = new FileDestination({ kind: 'file', root, prefix: '' });
    const docs = everyTypeDocuments();
    const key = await putGochiveBundle(dest, { prefix: 'types/', database: 'x', collection: 'types', docs });
    const ls = await gochive(['ls', '--bucket', `file://${root}`, '-o', 'json']);
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.stdout)).toEqual([
      expect.objectContaining({ key, documents: docs.length, database: 'x', collection: 'types' }),
    ]);
    const verify = await gochive(['verify', '--bucket', `file://${root}`]);
    expect(verify.code).toBe(0);
    const cat = await gochive(['cat', '--bucket', `file://${root}`]);
    expect(cat.code).toBe(0);
    const lines = cat.stdout.trim().split('\n');
    expect(lines.length).toBe(docs.length);
    lines.forEach((line, i) => {
      const back = Buffer.from(
        BSON.serialize(BSON.EJSON.parse(line, { relaxed: false }), { checkKeys: false }),
      );
      // undefined/DBPointer have no exact Extended JSON round trip through the JS library; all else must.
      if (!hasDeprecatedTypes(docs[i]!)) expect(back.equals(docs[i]!)).toBe(true);
    });
    expect(lines[0]).toContain('"dec":{"$numberDecimal":"1234567890.123456789012345678901234"}');
    expect(lines[0]).toContain('"negZero":{"$numberDouble":"-0.0"}');
    expect(lines[0]).toContain('"min":{"$minKey":1}');
  });

  test('restore from file:// into MongoDB; documents FerretDB or the driver cannot take are counted as failed, never silently dropped', async () => {
    const dest = new FileDestination({ kind: 'file', root, prefix: '' });
    const docs = Array.from({ length: 200 }, (_, i) =>
      Buffer.from(
        BSON.serialize({
          _id: new BSON.Int32(i),
          createdAt: new Date(Date.UTC(2023, 5, 1) + i * 60_000),
          v: `v${i}`,
        }),
      ),
    );
    await putGochiveBundle(dest, { prefix: 'plain/', database: 'x', collection: 'plain', docs });
    const r = await gochive([
      'restore',
      '--bucket',
      `file://${root}/plain`,
      '--to-db',
      dbName,
      '--uri',
      env.mongoUri,
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.documents).toMatchObject({ inserted: 200, failed: 0 });
    expect(s.targets).toEqual([`${dbName}.plain`]);
    expect(await mongo.db(dbName).collection('plain').countDocuments()).toBe(200);

    // The every-type bundle: the undefined/DBPointer document is refused up front by gochive.
    const t = await gochive([
      'restore',
      '--bucket',
      `file://${root}/types`,
      '--to-db',
      dbName,
      '--to-collection',
      'types',
      '--uri',
      env.mongoUri,
      '-o',
      'json',
    ]);
    const st = JSON.parse(t.stdout);
    expect(t.code).toBe(1);
    expect(st.documents.failed).toBeGreaterThanOrEqual(1);
    expect(st.failures.some((f: { message: string }) => f.message.includes('undefined or DBPointer'))).toBe(
      true,
    );
  });
});
