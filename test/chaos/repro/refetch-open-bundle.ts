// Reproduction of a finding of the chaos campaign (see test/chaos/README.md, "Findings"):
// a spec change that resets paging (filter, archive field or format) while the journal holds an OPEN
// bundle makes the worker fetch that bundle's documents again and append them to the SAME bundle.
// The uploaded bundle then holds every such document twice; status counts them twice as archived and
// once as skipped. Run against any MongoDB (FerretDB of `make testenv-up` works):
//   source .testenv/env && npx tsc -p . && node dist/test/chaos/repro/refetch-open-bundle.js
// Exit code 1 while the bug is present, 0 once the bundle holds each document once.
import { createReadStream, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BSON, MongoClient } from 'mongodb';
import { pino } from 'pino';
import type { PolicyConfig } from '../../../operator/archiver/config.js';
import { createWorker } from '../../../operator/archiver/worker.js';
import { openBundle } from '../../../operator/bundle/reader.js';

async function main(): Promise<number> {
  const uri = process.env.MONGODB_URI;
  if (!uri) throw new Error('MONGODB_URI is not set: source .testenv/env first');
  const dbName = `repro_refetch_${Date.now()}`;
  const client = new MongoClient(uri);
  await client.connect();
  const spoolRoot = mkdtempSync(path.join(os.tmpdir(), 'repro-spool-'));
  const dest = mkdtempSync(path.join(os.tmpdir(), 'repro-dest-'));
  try {
    const coll = client.db(dbName).collection('events');
    await coll.createIndex({ at: 1 });
    await coll.insertMany(
      Array.from({ length: 10 }, (_, i) => ({
        _id: i,
        at: new Date(Date.now() - 100 * 86_400_000 + i),
        status: 'done',
      })) as never[],
    );
    const base: PolicyConfig = {
      name: 'p',
      namespace: 'ns',
      database: dbName,
      collection: 'events',
      archiveField: 'at',
      archiveFieldFormat: 'date',
      ageLimitMs: 30 * 86_400_000,
      queryLimit: 100,
      archiveCheckIntervalMs: 500,
      uploadIntervalMs: 600_000, // long: the first run only spools
      spoolMaxBytes: 1 << 30,
      compression: { codec: 'gzip', level: 6 },
      dryRun: false,
      suspend: false,
      allowCollectionScan: false,
      destination: { kind: 'file', root: dest, prefix: '' },
    };
    const logger = pino({ level: 'warn' });
    // Run 1: filter done|closed; the 10 documents are spooled into an open bundle, then the worker stops.
    const w1 = createWorker({
      config: { ...base, filter: { status: { $in: ['done', 'closed'] } } },
      mongoUri: uri,
      spoolRoot,
      logger,
    });
    const r1 = w1.run();
    await new Promise((r) => setTimeout(r, 2500));
    await w1.stop();
    await r1;
    console.log(
      `run 1 (filter status in [done, closed]): ${w1.snapshot().spooledDocuments} documents spooled, not uploaded yet`,
    );
    // Run 2: the filter changed (paging restarts); drain with --once.
    const w2 = createWorker({
      config: { ...base, filter: { status: 'done' } },
      mongoUri: uri,
      spoolRoot,
      logger,
      once: true,
    });
    await w2.run();
    console.log(`run 2 (filter status = done, once): totals ${JSON.stringify(w2.snapshot().totals)}`);
    let bad = false;
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const f of readdirSync(d)) {
        const p = path.join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.tar.gz')) files.push(p);
      }
    };
    walk(dest);
    for (const f of files) {
      const b = await openBundle(createReadStream(f));
      const ids: unknown[] = [];
      for await (const raw of b.documents()) ids.push(BSON.deserialize(raw)._id);
      const unique = new Set(ids.map(String)).size;
      console.log(`bundle ${path.basename(f)}: ${ids.length} documents, ${unique} distinct _ids`);
      if (unique !== ids.length) bad = true;
    }
    console.log(
      bad
        ? 'BUG PRESENT: a bundle holds the same document twice'
        : 'ok: every bundle holds each document once',
    );
    return bad ? 1 : 0;
  } finally {
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
    rmSync(spoolRoot, { recursive: true, force: true });
    rmSync(dest, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
