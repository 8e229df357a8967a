// Does the test MongoDB server use an index for gochive's fetch query (a range on the archive field,
// sorted by it)? FerretDB 2 over DocumentDB must; FerretDB 1.x on SQLite scans the whole table, which
// is why the benchmarks against it measure the server more than gochive (docs/testing.md#ferretdb-2).
import { MongoClient, type Document } from 'mongodb';
import { rangeQuery } from '../../../operator/archiver/fetch.js';
import type { EligibilityTarget } from '../../../operator/archiver/eligibility.js';
import { testEnv, uniqueName } from '../../support/testenv.js';

/** Every index name an explain output mentions: MongoDB's `indexName`, PostgreSQL's `Index Name`. */
function indexesUsed(plan: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(plan)) for (const p of plan) indexesUsed(p, found);
  else if (plan && typeof plan === 'object') {
    for (const [k, v] of Object.entries(plan as Document)) {
      if ((k === 'indexName' || k === 'Index Name') && typeof v === 'string') found.add(v);
      else indexesUsed(v, found);
    }
  }
  return found;
}

/** PostgreSQL plan node types anywhere in the plan. */
function nodeTypes(plan: unknown, found: string[] = []): string[] {
  if (Array.isArray(plan)) for (const p of plan) nodeTypes(p, found);
  else if (plan && typeof plan === 'object') {
    for (const [k, v] of Object.entries(plan as Document)) {
      if (k === 'Node Type' && typeof v === 'string') found.push(v);
      else nodeTypes(v, found);
    }
  }
  return found;
}

describe('index use for the archive range query', () => {
  const server = process.env.GOCHIVE_MONGO ?? 'ferretdb';
  const dbName = uniqueName('plan').replace(/-/g, '_');
  let client: MongoClient;

  beforeAll(async () => {
    client = await new MongoClient(testEnv().mongoUri, { serverSelectionTimeoutMS: 5000 }).connect();
  });
  afterAll(async () => {
    await client
      ?.db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client?.close();
  });

  test(`${server}: explain of a date range sorted by the date`, async () => {
    const db = client.db(dbName);
    const coll = db.collection('events');
    const base = Date.UTC(2024, 0, 1);
    await coll.insertMany(
      Array.from({ length: 2000 }, (_, i) => ({ createdAt: new Date(base + i * 60_000), n: i })),
    );
    await coll.createIndex({ createdAt: 1 });
    const target: EligibilityTarget = {
      database: dbName,
      collection: 'events',
      archiveField: 'createdAt',
      archiveFieldFormat: 'date',
    };
    // gochive's own fetch filter (range + "not an array"), and the bare range, each sorted by the field.
    const filters = [
      rangeQuery(target, base + 1500 * 60_000, {}),
      { createdAt: { $lt: new Date(base + 100 * 60_000) } },
    ];
    for (const filter of filters) {
      const explain = await db.command({
        explain: { find: 'events', filter, sort: { createdAt: 1 }, limit: 500 },
        verbosity: 'queryPlanner',
      });
      const used = [...indexesUsed(explain.queryPlanner)];
      if (server === 'ferretdb2') {
        // DocumentDB: an Index Scan or Bitmap Index Scan on createdAt_1, never a sequential scan.
        expect(used).toEqual(['createdAt_1']);
        expect(nodeTypes(explain.queryPlanner)).not.toContain('Seq Scan');
      } else {
        // FerretDB 1.x: SQLite's plan is one full-table SCAN line, and nothing is pushed down.
        expect(used).toEqual([]);
        expect(JSON.stringify(explain.queryPlanner)).toMatch(/detail=SCAN /);
        expect(explain).toMatchObject({ filterPushdown: false, sortPushdown: false });
      }
    }
  });
});
