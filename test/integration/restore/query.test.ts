// `gochive cat --filter / --id / -o csv` on bundles the archiver wrote (FerretDB → versitygw), seen on
// the wire through a recording proxy: --from/--to and --id cut the bundles whose objects are fetched;
// --id reads only the manifests (small range GETs) of the others.
import { BSON, type Document } from 'mongodb';
import { RecordingProxy } from '../storage/recording-proxy.js';
import { cliEnv, runCli } from '../archiver/cli.js';
import { insertAll, policy, readBundles, runOnce, sandbox, type Sandbox } from '../archiver/helpers.js';
import { testEnv } from '../../support/testenv.js';

const HOUR = 3_600_000;
const BASE = Date.UTC(2024, 0, 1);
const CITIES = ['Oslo', 'Lima'];
const N = 120; // one document an hour for five days

function makeDoc(i: number): Document {
  const createdAt = new Date(BASE + i * HOUR);
  // One amount type per document: the filter must compare them by value.
  const amount = [new BSON.Int32(i), BSON.Long.fromNumber(i), new BSON.Double(i + 0.5)][i % 3];
  return {
    // ObjectIds made from the time, as a server makes them: each bundle holds a narrow _id range.
    _id: BSON.ObjectId.createFromTime(createdAt.getTime() / 1000),
    createdAt,
    amount,
    status: i % 4 === 0 ? 'refunded' : 'paid',
    customer: { name: `c${i}`, city: CITIES[i % 2] },
    items: [{ sku: `s${i % 5}`, qty: new BSON.Int32((i % 7) + 1) }],
  };
}

describe('gochive cat --filter, --id, -o csv on archived bundles', () => {
  let sb: Sandbox;
  let proxy: RecordingProxy;
  let endpoint: string;
  let bundles: number;
  const docs = Array.from({ length: N }, (_, i) => makeDoc(i));

  beforeAll(async () => {
    sb = await sandbox('cat_query');
    await sb.db.collection('events').createIndex({ createdAt: 1 });
    await insertAll(sb.db, 'events', docs);
    const run = await runOnce(policy(sb, { queryLimit: 20, bundle: { maxDocuments: 20 } }), sb.spoolRoot);
    expect(run.errors).toEqual([]);
    const written = await readBundles(sb.s3, sb.bucket, 'archive/');
    bundles = written.length;
    expect(written.reduce((a, b) => a + b.docs.length, 0)).toBe(N);
    expect(bundles).toBeGreaterThanOrEqual(6);
    expect(written.every((b) => b.manifest.idRange !== undefined)).toBe(true);
    proxy = new RecordingProxy(new URL(testEnv().s3.endpoint));
    endpoint = await proxy.start();
  });

  afterAll(async () => {
    await proxy?.stop();
    await sb?.cleanup();
  });

  const cat = (...args: string[]) =>
    runCli(['cat', '--bucket', `s3://${sb.bucket}/archive/`, '--endpoint', endpoint, ...args], cliEnv());
  /** Whole-object GETs (bundles read) and ranged GETs (manifests read) since the last clear. */
  const reads = () => {
    const gets = proxy.requests.filter((r) => r.method === 'GET' && !r.query.has('list-type'));
    return {
      whole: gets.filter((r) => !r.headers.range).length,
      ranged: gets.filter((r) => r.headers.range).length,
    };
  };
  const ids = (stdout: string): string[] =>
    stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => (BSON.EJSON.parse(l, { relaxed: false })._id as BSON.ObjectId).toHexString());
  const hex = (d: Document): string => (d._id as BSON.ObjectId).toHexString();
  const amountOf = (d: Document): number =>
    d.amount instanceof BSON.Long ? d.amount.toNumber() : (d.amount as BSON.Int32 | BSON.Double).value;

  test('--filter with --from/--to: MongoDB semantics over mixed number types, and fewer bundles read', async () => {
    const from = new Date(BASE + 24 * HOUR);
    const to = new Date(BASE + 48 * HOUR);
    const filter =
      '{"amount": {"$gte": {"$numberLong": "30"}}, "customer.city": "Oslo", "status": {"$ne": "refunded"}}';
    proxy.clear();
    const r = await cat('--filter', filter, '--from', from.toISOString(), '--to', to.toISOString());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const expected = docs
      .filter((d) => (d.createdAt as Date) >= from && (d.createdAt as Date) < to)
      .filter((d) => amountOf(d) >= 30 && (d.customer as Document).city === 'Oslo' && d.status !== 'refunded')
      .map(hex);
    expect(expected.length).toBeGreaterThan(3);
    expect(ids(r.stdout).sort()).toEqual(expected.sort());
    // Canonical Extended JSON, types kept: each amount type matched and prints as itself.
    for (const t of ['$numberInt', '$numberLong', '$numberDouble'])
      expect(r.stdout).toContain(`"amount":{"${t}":"`);
    const { whole } = reads();
    expect(whole).toBeGreaterThan(0);
    expect(whole).toBeLessThan(bundles); // the time range pruned the rest

    const none = await cat('--filter', '{"createdAt": {"$gte": "2024-01-01"}}'); // a string, not a date
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/no document in \d+ bundle\(s\).*matched --filter/);
  });

  test('--id reads the one bundle whose manifest _id range holds it, and only manifests of the others', async () => {
    const target = docs[77]!;
    proxy.clear();
    const r = await cat('--id', hex(target));
    expect(r.code).toBe(0);
    expect(ids(r.stdout)).toEqual([hex(target)]);
    expect(reads()).toEqual({ whole: 1, ranged: bundles });

    proxy.clear();
    const viaFilter = await cat(
      '--filter',
      `{"_id": {"$in": [{"$oid": "${hex(target)}"}, {"$oid": "${hex(docs[3]!)}"}]}}`,
    );
    expect(viaFilter.code).toBe(0);
    expect(ids(viaFilter.stdout).sort()).toEqual([hex(target), hex(docs[3]!)].sort());
    expect(reads().whole).toBe(2);

    proxy.clear();
    const absent = await cat('--id', '{"$oid": "000000000000000000000001"}');
    expect(absent.code).toBe(3);
    expect(absent.stderr).toMatch(new RegExp(`${bundles} bundle\\(s\\) not read`));
    expect(reads()).toEqual({ whole: 0, ranged: bundles });
  });

  test('-o csv --fields: header, dotted paths, rendered values', async () => {
    const r = await cat(
      '-o',
      'csv',
      '--fields',
      '_id,createdAt,amount,customer.city,items.0.sku,missing',
      '--filter',
      '{"amount": {"$lt": 3}}',
    );
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\r\n');
    expect(lines[0]).toBe('_id,createdAt,amount,customer.city,items.0.sku,missing');
    expect(lines.slice(1).filter(Boolean).sort()).toEqual(
      [0, 1, 2]
        .map(
          (i) =>
            `${hex(docs[i]!)},${new Date(BASE + i * HOUR).toISOString()},${i === 2 ? '2.5' : i},${CITIES[i % 2]},s${i},`,
        )
        .sort(),
    );

    const noFields = await cat('-o', 'csv');
    expect(noFields.code).toBe(2);
    expect(noFields.stderr).toContain('-o csv needs --fields');
    const fieldsAlone = await cat('--fields', '_id');
    expect(fieldsAlone.code).toBe(2);
    expect(fieldsAlone.stderr).toContain('--fields applies to -o csv');
    const unknown = await cat('--filter', '{"$where": "this.amount > 1"}');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('$where is not supported');
  });
});
