// Age windows (operator/archiver/fetch.ts): after the first page, each range query is bounded above so
// that a server sorting after its index scan (FerretDB 2) reads about one page per query rather than
// the whole remaining backlog. Pinned against the real server: every eligible document is fetched
// exactly once, and what all the queries select together stays linear in the backlog (each find's
// filter is replayed as a count: that is what such a server reads to answer it).
import { BSON, MongoClient, type Document } from 'mongodb';
import {
  Fetcher,
  START_POSITION,
  type DocMeta,
  type FetchPosition,
} from '../../../operator/archiver/fetch.js';
import type { EligibilityTarget } from '../../../operator/archiver/eligibility.js';
import { TYPE_BRACKETS } from '../../../operator/archiver/raw-bson.js';
import { DAY, insertAll, sandbox, type Sandbox } from './helpers.js';
import { testEnv } from '../../support/testenv.js';

const LIMIT = 200;

describe('archiver: range paging through age windows', () => {
  let sb: Sandbox;
  let client: MongoClient;
  // Finds the server answered, by request id (a refused one — an unknown `$type` alias — read nothing).
  const finds = new Map<number, Document>();
  beforeAll(async () => {
    sb = await sandbox('arch_window');
    client = await new MongoClient(testEnv().mongoUri, { monitorCommands: true }).connect();
    client.on('commandStarted', (e) => {
      if (e.commandName === 'find') finds.set(e.requestId, e.command.filter as Document);
    });
    client.on('commandFailed', (e) => finds.delete(e.requestId));
  });
  afterAll(async () => {
    await client?.close();
    await sb?.cleanup();
  });

  /** Inserts `docs` (indexed on `field`), pages through them to the end; what was kept and read. */
  async function drain(
    docs: Document[],
    coll: string,
    field: string,
    format: EligibilityTarget['archiveFieldFormat'],
    cutoffMs: number,
  ) {
    await insertAll(sb.db, coll, docs);
    await sb.db.collection(coll).createIndex({ [field]: 1 });
    const target: EligibilityTarget = {
      database: sb.dbName,
      collection: coll,
      archiveField: field,
      archiveFieldFormat: format,
    };
    finds.clear();
    const fetcher = new Fetcher(client.db(sb.dbName).collection(coll));
    const kept: Buffer[] = [];
    let pending: Buffer[] = [];
    const sink = {
      append: (doc: Uint8Array, _meta: DocMeta) => {
        pending.push(Buffer.from(doc));
        return Promise.resolve();
      },
      checkpoint: () => {
        kept.push(...pending);
        pending = [];
      },
      shouldStop: () => false,
    };
    const aliases = new Set(TYPE_BRACKETS.flatMap((b) => b.aliases));
    let position: FetchPosition = START_POSITION;
    for (let calls = 0; ; calls++) {
      if (calls > 2000) throw new Error('paging did not reach the end in 2000 batches');
      pending = [];
      let r;
      try {
        r = await fetcher.fetchBatch(position, sink, {
          target,
          cutoffMs,
          queryLimit: LIMIT,
          supportedTypeAliases: aliases,
        });
      } catch (err) {
        // As the fetch stage does: a `$type` alias the server lacks is dropped and the batch retried.
        const m = /Unknown type name alias: (\w+)/.exec((err as Error).message);
        if (!m || !aliases.delete(m[1]!)) throw err;
        continue;
      }
      position = r.position;
      if (r.reachedEnd) break;
    }
    const ids = kept.map((d) => JSON.stringify(BSON.deserialize(d, { promoteValues: false })._id));
    let examined = 0;
    for (const f of finds.values()) examined += await client.db(sb.dbName).collection(coll).countDocuments(f);
    return { ids, examined, queries: finds.size };
  }

  function expectExactlyOnce(ids: string[], expected: string[]): void {
    const seen = new Map<string, number>();
    for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
    expect([...seen].filter(([, n]) => n > 1)).toEqual([]);
    expect([...expected].sort()).toEqual([...seen.keys()].sort());
  }

  test('date field: dense clusters, ties, wide gaps and documents past the cutoff', async () => {
    const now = Date.now();
    const cutoffMs = now - 30 * DAY;
    const docs: Document[] = [];
    let n = 0;
    // Three dense clusters 100 days apart (ties of up to 5 documents), sparse documents between them.
    for (const base of [now - 400 * DAY, now - 300 * DAY, now - 200 * DAY])
      for (let i = 0; i < 2000; i++) docs.push({ _id: n++, at: new Date(base + Math.floor(i / 5) * 1000) });
    for (let i = 0; i < 300; i++) docs.push({ _id: n++, at: new Date(now - 390 * DAY + i * 1.1 * DAY) });
    const eligible = docs.map((d) => JSON.stringify(new BSON.Int32(d._id as number)));
    // Not eligible: newer than the cutoff, or an archive field of another type.
    for (let i = 0; i < 400; i++) docs.push({ _id: n++, at: new Date(now - (i % 29) * DAY) });
    for (let i = 0; i < 50; i++) docs.push({ _id: n++, at: `2020-01-0${(i % 9) + 1}` });
    const r = await drain(docs, 'dates', 'at', 'date', cutoffMs);
    expectExactlyOnce(r.ids, eligible);
    // Without windows every page's query selects the whole rest of the backlog: 104,822 here (16.6 ×).
    // With them: the first page (no window yet: the whole backlog), then about one backlog for the pass,
    // plus what a window grown over the sparse stretch takes in of the next dense cluster (21,634).
    expect(r.examined).toBeLessThanOrEqual(5 * eligible.length);
  }, 600_000);

  test('epoch seconds as Int32, Int64 and Double, one large tie group', async () => {
    const nowS = Math.floor(Date.now() / 1000);
    const cutoffMs = (nowS - 30 * 86_400) * 1000;
    const docs: Document[] = [];
    const kinds = [
      (v: number) => new BSON.Int32(v),
      (v: number) => BSON.Long.fromNumber(v),
      (v: number) => new BSON.Double(v + 0.25),
    ];
    for (let i = 0; i < 3000; i++)
      docs.push({ _id: `d${i}`, ts: kinds[i % 3]!(nowS - 300 * 86_400 + Math.floor(i / 2) * 600) });
    // One value shared by more documents than a page: tie mode, then back to windows.
    for (let i = 0; i < 3 * LIMIT; i++) docs.push({ _id: `t${i}`, ts: new BSON.Int32(nowS - 250 * 86_400) });
    const eligible = docs.map((d) => JSON.stringify(d._id));
    for (let i = 0; i < 100; i++) docs.push({ _id: `new${i}`, ts: new BSON.Int32(nowS - 86_400) });
    const r = await drain(docs, 'secs', 'ts', 'epochSeconds', cutoffMs);
    expectExactlyOnce(r.ids, eligible);
    // 35,640 (9.9 ×) without windows, 8,202 with them.
    expect(r.examined).toBeLessThanOrEqual(5 * eligible.length);
  }, 600_000);
});
