// `npm run bench:archiver`: figures, no assertions. Needs the test servers (`make testenv-up`).
//
// On the same documents (BENCH_DOCS, default 200k × ~1 KB, queryLimit 10000):
//   (a) gochive end to end, FerretDB → versitygw (fetch, spool, bundle, upload, verify, delete);
//   (b) a raw baseline: the mongodb driver reads the same documents in keyset pages of queryLimit and
//       deletes them by _id, archiving nothing;
//   (c) `gzip -6` over the same BSON bytes;
//   (d) the archiver's own work on the same bytes read from a local file, no server (local-pipeline.ts).
// Then a backlog of BENCH_BIG_DOCS × BENCH_BIG_KB (default 10k × 100 KB ≈ 1 GB) archived by gochive in
// a child process, whose peak RSS is printed (the budget is 256 MB whatever the backlog).
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { createReadStream } from 'node:fs';
import { BSON, type Collection, type Document } from 'mongodb';
import type { PolicyConfig } from '../../operator/archiver/config.js';
import type { WorkerStats } from '../../operator/archiver/worker.js';
import type { WorkerSnapshot } from '../../operator/archiver/worker-api.js';
import { mongoServerLabel, testEnv } from '../support/testenv.js';
import { redactUri } from '../../operator/util/redact.js';
import { runLocalPipeline } from './local-pipeline.js';
import { DAY, policy, sandbox, type Sandbox } from '../integration/archiver/helpers.js';

const DOCS = Number(process.env.BENCH_DOCS ?? 200_000);
const QUERY_LIMIT = Number(process.env.BENCH_QUERY_LIMIT ?? 10_000);
const BIG_DOCS = Number(process.env.BENCH_BIG_DOCS ?? 10_000);
const BIG_KB = Number(process.env.BENCH_BIG_KB ?? 100);
const PIPELINE_BUNDLE_DOCS = Number(process.env.BENCH_PIPELINE_BUNDLE_DOCS ?? 20_000);
const MB = 1024 * 1024;

const here = path.dirname(fileURLToPath(import.meta.url));
// Runs compiled (dist/test/bench/): the repository root is three levels up.
const root = path.resolve(here, here.split(path.sep).includes('dist') ? '../../..' : '../..');
const log = (s: string) => process.stdout.write(`${s}\n`);
const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

const WORDS =
  'order user click impression reward offer status pending done failed android ios web campaign event session'.split(
    ' ',
  );

/** ~1 KB of log-like data (compressible roughly like real event logs). */
function smallDoc(i: number, now: number): Document {
  let text = '';
  let seed = i * 2654435761;
  while (text.length < 760) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    text += `${WORDS[seed % WORDS.length]}:${seed % 100000} `;
  }
  return {
    _id: new BSON.ObjectId(),
    createdAt: new Date(now - 100 * DAY - (i % 200_000) * 60_000),
    userId: `u${i % 50_000}`,
    amount: new BSON.Int32(i % 10_000),
    price: (i % 997) / 7,
    tags: [WORDS[i % WORDS.length], WORDS[(i * 7) % WORDS.length]],
    meta: { app: 'offerwall', v: BSON.Long.fromNumber(i) },
    text,
  };
}

function bigDoc(i: number, now: number): Document {
  // Half incompressible, half repetitive: a mixed payload.
  const half = (BIG_KB * 1024) / 2;
  const rnd = Buffer.allocUnsafe(half);
  for (let k = 0; k < half; k += 4) rnd.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, Math.min(k, half - 4));
  return {
    _id: new BSON.ObjectId(),
    createdAt: new Date(now - 100 * DAY - i * 60_000),
    blob: new BSON.Binary(rnd),
    text: 'lorem ipsum dolor sit amet '.repeat(Math.ceil(half / 27)).slice(0, half),
  };
}

async function insert(
  colls: Collection[],
  n: number,
  make: (i: number) => Document,
  batch: number,
): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) {
    const docs = Array.from({ length: Math.min(batch, n - i) }, (_, k) => make(i + k));
    for (const c of colls) await c.insertMany(docs, { ordered: false });
    if ((i / batch) % 10 === 0) process.stderr.write(`\r  inserting ${fmt(i + docs.length)}/${fmt(n)}…`);
  }
  process.stderr.write(
    `\r  inserted ${fmt(n)} into ${colls.length} collection(s) in ${fmt((performance.now() - t0) / 1000, 1)} s\n`,
  );
}

async function dumpRaw(c: Collection, file: string): Promise<{ bytes: number; docs: number }> {
  const out = createWriteStream(file);
  let bytes = 0;
  let docs = 0;
  for await (const raw of c.find({}, { raw: true, batchSize: 2000 })) {
    const b = raw as unknown as Uint8Array;
    bytes += b.length;
    docs++;
    if (!out.write(b)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { bytes, docs };
}

function gzipFile(file: string): { seconds: number; outBytes: number; tool: string } {
  const t0 = performance.now();
  const r = spawnSync('sh', ['-c', `gzip -6 -c '${file}' | wc -c`], { encoding: 'utf8' });
  if (r.status === 0)
    return { seconds: (performance.now() - t0) / 1000, outBytes: Number(r.stdout.trim()), tool: 'gzip -6' };
  throw new Error(`gzip failed: ${r.stderr}`);
}

async function nodeGzip(file: string): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  const gz = createGzip({ level: 6 });
  gz.on('data', (c: Buffer) => (n += c.length));
  await pipeline(createReadStream(file), gz);
  return (performance.now() - t0) / 1000;
}

interface ChildResult {
  seconds: number;
  maxRssBytes: number;
  peakSampledRssBytes: number;
  snapshot: WorkerSnapshot;
  stats: WorkerStats;
}

async function runChild(config: PolicyConfig, spoolRoot: string): Promise<ChildResult> {
  const child = spawn(
    process.execPath,
    [
      path.join(here, 'archiver-rss-child.js'),
      JSON.stringify({ config, mongoUri: testEnv().mongoUri, spoolRoot }),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...s3Env() },
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`archiver child exited ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
}

function s3Env(): Record<string, string> {
  const e = testEnv().s3;
  return {
    AWS_ENDPOINT_URL_S3: e.endpoint,
    AWS_ACCESS_KEY_ID: e.accessKeyId,
    AWS_SECRET_ACCESS_KEY: e.secretAccessKey,
    AWS_REGION: e.region,
  };
}

/** (b): keyset pages of queryLimit by the archive field, then deleteMany by _id — nothing archived. */
async function rawBaseline(
  c: Collection,
  cutoff: Date,
): Promise<{ seconds: number; docs: number; bytes: number; serverSeconds: number }> {
  const t0 = performance.now();
  let last: Date | undefined;
  let docs = 0;
  let bytes = 0;
  let server = 0;
  for (;;) {
    const q: Document = last ? { createdAt: { $lt: cutoff, $gte: last } } : { createdAt: { $lt: cutoff } };
    const s0 = performance.now();
    const page = await c
      .find(q, { sort: { createdAt: 1 }, limit: QUERY_LIMIT, raw: true, batchSize: QUERY_LIMIT })
      .toArray();
    server += performance.now() - s0;
    if (!page.length) break;
    const ids = page.map((r) => {
      const b = r as unknown as Uint8Array;
      bytes += b.length;
      return BSON.deserialize(b, { promoteValues: false })._id as unknown;
    });
    const d0 = performance.now();
    const res = await c.deleteMany({ _id: { $in: ids } } as Document);
    server += performance.now() - d0;
    docs += res.deletedCount;
    last = BSON.deserialize(page[page.length - 1] as unknown as Uint8Array).createdAt as Date;
    if (page.length < QUERY_LIMIT) break;
  }
  return { seconds: (performance.now() - t0) / 1000, docs, bytes, serverSeconds: server / 1000 };
}

/** Which server the env file points at, as it describes itself (FerretDB adds its own version field). */
async function serverName(sb: Sandbox): Promise<string> {
  const info = await sb.db.admin().command({ buildInfo: 1 });
  const ferret = info.ferretdbVersion as string | undefined;
  if (ferret === undefined) return `MongoDB ${String(info.version)}`;
  const v = ferret === 'unknown' ? 'built from source, version not stamped' : ferret;
  return `FerretDB (${v}; reports MongoDB ${String(info.version)})`;
}

/** Whether the server answers the fetch's query shape (range + sort on the indexed field) from the index. */
async function indexUse(c: Collection, cutoff: Date): Promise<{ uses: boolean; plan: string }> {
  const e = await c
    .find({ createdAt: { $lt: cutoff } })
    .sort({ createdAt: 1 })
    .limit(QUERY_LIMIT)
    .explain();
  const plan = JSON.stringify(e.queryPlanner ?? e);
  // MongoDB: IXSCAN; PostgreSQL (FerretDB 2): Index Scan; SQLite (FerretDB 1): SEARCH … USING INDEX.
  return { uses: /IXSCAN|Index (Only )?Scan|USING (COVERING )?INDEX/i.test(plan), plan: plan.slice(0, 300) };
}

const loadLine = (): string =>
  os
    .loadavg()
    .map((l) => fmt(l, 2))
    .join(' / ');

function stageLine(stats: WorkerStats, total: number): string {
  return Object.entries(stats.stageSeconds)
    .map(([k, v]) => `${k} ${fmt(v!, 1)}s (${fmt((v! / total) * 100)}%)`)
    .join(', ');
}

/** Holds a lease on the test servers for this process (starting them if needed), like a jest run does. */
function testenv(cmd: 'acquire' | 'release'): void {
  const cli = path.join(here, '..', 'env', 'cli.js');
  const r = spawnSync(process.execPath, [cli, cmd, '--pid', String(process.pid)], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0)
    throw new Error(`testenv ${cmd} failed (exit ${r.status ?? r.signal}); try 'make testenv-up'`);
  if (cmd === 'acquire') {
    // The servers' addresses may differ from a stale environment of the calling shell.
    for (const line of readFileSync(path.join(root, '.testenv', 'env'), 'utf8').split('\n')) {
      const m = /^export ([A-Z0-9_]+)='(.*)'$/.exec(line.trim());
      if (m) process.env[m[1]!] = m[2]!.replace(/'\\''/g, "'");
    }
  }
}

async function main(): Promise<void> {
  let sb: Sandbox | undefined;
  let tmp: string | undefined;
  try {
    testenv('acquire');
    sb = await sandbox('bench_arch');
    tmp = await mkdtemp(path.join(os.tmpdir(), 'gochive-bench-'));
    const now = Date.now();
    const cutoff = new Date(now - 92 * DAY);
    const server = await serverName(sb);
    log(
      `gochive archiver benchmark — ${new Date().toISOString()}, ${os.cpus().length} CPUs, node ${process.version}, load average ${loadLine()}`,
    );
    log(
      `server: ${mongoServerLabel(testEnv().mongoServer)} (GOCHIVE_MONGO=${testEnv().mongoServer}), reporting itself as ${server}, at ${redactUri(testEnv().mongoUri)} (from ${path.join(root, '.testenv', 'env')}); store: versitygw ${testEnv().s3.endpoint}`,
    );
    log(
      testEnv().mongoServer === 'ferretdb2'
        ? `NOTE: FerretDB 2 (DocumentDB) serves the range from the archive-field index but sorts the matching rows itself (a Sort above the index scan in explain): gochive bounds each page by an age window (operator/archiver/fetch.ts) so a page reads about queryLimit documents; the raw baseline pages by _id. docs/testing.md#ferretdb-2`
        : `NOTE: FerretDB 1.24 (SQLite) does not use indexes for range queries and sorts: every fetch, count and delete scans the collection, so server time dominates and grows with collection size. Real MongoDB serves these from the archive-field index. GOCHIVE_MONGO=ferretdb2 runs against FerretDB 2, which uses the index.`,
    );
    log('');

    // ---------------------------------------------------------------- setup
    log(
      `Setup: ${fmt(DOCS)} documents of ~1 KB, identical in two collections (one for gochive, one for the raw baseline)`,
    );
    const ca = sb.db.collection('bench_a');
    const cb = sb.db.collection('bench_b');
    await insert([ca, cb], DOCS, (i) => smallDoc(i, now), 5000);
    await ca.createIndex({ createdAt: 1 });
    await cb.createIndex({ createdAt: 1 });
    const idx = await indexUse(ca, cutoff);
    log(
      idx.uses
        ? `  the server answers the fetch query (range + sort on createdAt) from the index`
        : `  NOTE: the server does NOT use the index for the fetch query (range + sort on createdAt): every fetch, count and delete scans the collection, so server time dominates and grows with collection size (plan: ${idx.plan})`,
    );
    const rawFile = path.join(tmp, 'docs.bson');
    const dump = await dumpRaw(cb, rawFile);
    const dataMB = dump.bytes / MB;
    log(
      `  ${fmt(dump.docs)} documents, ${fmt(dataMB, 1)} MB of BSON (${fmt(dump.bytes / dump.docs)} bytes each)`,
    );

    // ---------------------------------------------------------------- (c)
    const gz = gzipFile(rawFile);
    const nodeGzSeconds = await nodeGzip(rawFile);
    log('');
    log(
      `(c) ${gz.tool} over the same BSON bytes: ${fmt(gz.seconds, 2)} s, ${fmt(dataMB / gz.seconds, 1)} MB/s, ${fmt(dump.docs / gz.seconds)} docs/s, ratio ${fmt(dump.bytes / gz.outBytes, 2)}:1 (node zlib level 6: ${fmt(nodeGzSeconds, 2)} s)`,
    );

    // ---------------------------------------------------------------- (d)
    const d = await runLocalPipeline(rawFile, {
      batchDocuments: QUERY_LIMIT,
      bundleDocuments: PIPELINE_BUNDLE_DOCS,
    });
    log(
      `(d) gochive pipeline without a server (the same bytes from a local file: per-document fetch work, spool with an fsync per batch of ${fmt(QUERY_LIMIT)}, bundles of ${fmt(PIPELINE_BUNDLE_DOCS)} sealed in the background; no upload): ${fmt(d.seconds, 2)} s, ${fmt(d.documents / d.seconds)} docs/s, ${fmt(dataMB / d.seconds, 1)} MB/s; ${d.bundles} bundles, ${fmt(d.bundleBytes / MB, 1)} MB; main thread busy ${fmt(d.mainThreadSeconds, 2)} s, CPU ${fmt(d.cpuSeconds, 2)} s (${fmt(d.cpuSeconds / d.seconds, 2)} cores)`,
    );
    log(`    d/c = ${fmt(gz.seconds / d.seconds, 3)} (pipeline rate / gzip -6 rate; target ≥ 0.9)`);

    // ---------------------------------------------------------------- (a)
    const cfgA = policy(
      sb,
      {
        collection: 'bench_a',
        queryLimit: QUERY_LIMIT,
        archiveCheckInterval: 1,
        s3: { bucket: `${sb.bucket}/bench-a/`, uploadInterval: 2 },
      },
      'bench-a',
    );
    log('');
    log(`(a) gochive end to end, queryLimit ${fmt(QUERY_LIMIT)} (child process)…`);
    const a = await runChild(cfgA, path.join(tmp, 'spool-a'));
    const aDocs = a.snapshot.totals.documentsDeleted;
    log(
      `(a) gochive: ${fmt(aDocs)} docs archived+deleted in ${fmt(a.seconds, 1)} s = ${fmt(aDocs / a.seconds)} docs/s, ${fmt(dataMB / a.seconds, 2)} MB/s; ${fmt(a.snapshot.totals.bundlesUploaded)} bundles, ${fmt(a.snapshot.totals.bytesUploaded / MB, 1)} MB uploaded`,
    );
    log(
      `    waiting on the server: ${fmt(a.stats.serverWaitSeconds, 1)} s = ${fmt((a.stats.serverWaitSeconds / a.seconds) * 100)}% of the run, of which ${fmt(a.stats.estimateSeconds, 1)} s for the backlog/oldest/ineligible estimates (status); stages (bundle runs in the background, beside the others): ${stageLine(a.stats, a.seconds)}`,
    );
    log(
      `    peak RSS ${fmt(a.maxRssBytes / MB)} MB; state ${a.snapshot.state}${a.snapshot.lastError ? `, last error ${a.snapshot.lastError.message}` : ''}`,
    );

    // ---------------------------------------------------------------- (b)
    log('');
    log('(b) raw baseline: driver reads the same documents and deletes them by _id…');
    const b = await rawBaseline(cb, cutoff);
    log(
      `(b) raw driver: ${fmt(b.docs)} docs read+deleted in ${fmt(b.seconds, 1)} s = ${fmt(b.docs / b.seconds)} docs/s, ${fmt(b.bytes / MB / b.seconds, 2)} MB/s; waiting on MongoDB ${fmt(b.serverSeconds, 1)} s (${fmt((b.serverSeconds / b.seconds) * 100)}%)`,
    );

    log('');
    log(
      `Ratios (throughput): a/b = ${fmt(aDocs / a.seconds / (b.docs / b.seconds), 2)}  (gochive ${fmt(a.seconds / b.seconds, 2)}× the raw baseline's time)`,
    );
    log(
      `                     a/c = ${fmt(aDocs / a.seconds / (dump.docs / gz.seconds), 3)}  (gochive ${fmt(a.seconds / gz.seconds, 1)}× the time of gzip -6 alone)`,
    );
    log(
      `                     d/c = ${fmt(gz.seconds / d.seconds, 3)}  (the pipeline without a server vs. gzip -6 on the same bytes)`,
    );
    log(
      `Server-independent part of (a) (run time minus time waiting on MongoDB; includes the upload): ${fmt(a.seconds - a.stats.serverWaitSeconds, 1)} s = ${fmt(aDocs / Math.max(0.001, a.seconds - a.stats.serverWaitSeconds))} docs/s`,
    );
    log(`Targets: d/c ≥ 0.9; a/b ≥ 0.8 on a server that uses its indexes; peak RSS (below) ≤ 256 MB`);
    await ca.drop().catch(() => undefined);
    await cb.drop().catch(() => undefined);

    // ---------------------------------------------------------------- big backlog
    if (BIG_DOCS > 0) {
      log('');
      log(`Large backlog: ${fmt(BIG_DOCS)} × ${BIG_KB} KB ≈ ${fmt((BIG_DOCS * BIG_KB) / 1024)} MB`);
      const cbig = sb.db.collection('bench_big');
      await insert([cbig], BIG_DOCS, (i) => bigDoc(i, now), 100);
      await cbig.createIndex({ createdAt: 1 });
      const cfgBig = policy(
        sb,
        {
          collection: 'bench_big',
          queryLimit: QUERY_LIMIT,
          archiveCheckInterval: 1,
          bundle: { maxBytes: '256Mi' },
          s3: { bucket: `${sb.bucket}/bench-big/`, uploadInterval: 2 },
        },
        'bench-big',
      );
      const big = await runChild(cfgBig, path.join(tmp, 'spool-big'));
      const bigMB = (BIG_DOCS * BIG_KB) / 1024;
      log(
        `    gochive: ${fmt(big.snapshot.totals.documentsDeleted)} docs in ${fmt(big.seconds, 1)} s = ${fmt(bigMB / big.seconds, 1)} MB/s; ${fmt(big.snapshot.totals.bundlesUploaded)} bundles, ${fmt(big.snapshot.totals.bytesUploaded / MB)} MB uploaded; server wait ${fmt(big.stats.serverWaitSeconds, 1)} s`,
      );
      log(
        `    PEAK RSS: ${fmt(big.maxRssBytes / MB)} MB (sampled peak ${fmt(big.peakSampledRssBytes / MB)} MB) — budget 256 MB: ${big.maxRssBytes < 256 * MB ? 'within' : 'EXCEEDED'}`,
      );
      const left = await readdir(path.join(tmp, 'spool-big', 'test', 'bench-big', 'bundles')).catch(() => []);
      log(
        `    spool bundles left after the run: ${left.length} (each is removed once its documents are deleted)`,
      );
      await cbig.drop().catch(() => undefined);
    }
    log('');
    log(`load average at the end: ${loadLine()}`);
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
    await sb?.cleanup().catch(() => undefined);
    testenv('release');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:archiver failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
