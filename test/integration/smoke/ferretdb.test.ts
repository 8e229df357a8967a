// Smoke: FerretDB speaks the MongoDB wire protocol to the official driver: insert, sorted find, delete.
import { MongoClient } from 'mongodb';
import { testEnv, uniqueName } from '../../support/testenv.js';

describe('FerretDB (mongodb driver)', () => {
  let client: MongoClient;
  const dbName = uniqueName('smoke').replace(/-/g, '_');

  beforeAll(async () => {
    client = new MongoClient(testEnv().mongoUri, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
  });

  afterAll(async () => {
    await client
      ?.db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client?.close();
  });

  test('insert, find with a sort, delete', async () => {
    const coll = client.db(dbName).collection<{ n: number; at: Date; tag: string }>('docs');
    const base = Date.UTC(2024, 0, 1);
    const docs = [5, 1, 4, 2, 3].map((n) => ({
      n,
      at: new Date(base + n * 86_400_000),
      tag: n % 2 ? 'odd' : 'even',
    }));
    const ins = await coll.insertMany(docs);
    expect(ins.insertedCount).toBe(5);

    const sorted = await coll
      .find({ at: { $lt: new Date(base + 4.5 * 86_400_000) } })
      .sort({ at: -1 })
      .toArray();
    expect(sorted.map((d) => d.n)).toEqual([4, 3, 2, 1]);

    const del = await coll.deleteMany({ tag: 'odd' });
    expect(del.deletedCount).toBe(3);
    expect((await coll.find({}).sort({ n: 1 }).toArray()).map((d) => d.n)).toEqual([2, 4]);
  });
});
