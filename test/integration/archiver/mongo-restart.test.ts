// MongoDB killed (-9), stalled (SIGSTOP) and restarted under a running continuous worker: nothing is
// deleted that is not in S3, and once the server is back the worker archives again — including
// documents inserted after the restart. Uses a private FerretDB (same binary as the test servers, its
// own port and data directory) so the shared one is never disturbed. With FerretDB 2 (GOCHIVE_MONGO=
// ferretdb2) a private PostgreSQL + DocumentDB runs under it and the faults hit FerretDB.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { Worker } from '../../../operator/archiver/worker.js';
import { binaryPath, tools } from '../../env/tools.js';
import { createDocumentdbExtension, initCluster, postgresUrl, type PgCluster } from '../../env/postgres.js';
import { postgresSpec } from '../../env/servers.js';
import { startDetached, stopPid } from '../../env/procs.js';
import { DAY, idKey, policy, readBundles, sandbox, testLogger, type Sandbox, until } from './helpers.js';

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('archiver: MongoDB killed and restarted under a running worker', () => {
  let sb: Sandbox;
  let dataDir: string;
  let port: number;
  let fdb: ChildProcess | undefined;
  const ferretdb2 = process.env.GOCHIVE_MONGO === 'ferretdb2';
  let pg: { cluster: PgCluster; pid: number } | undefined;

  /** FerretDB 2's private PostgreSQL, with DocumentDB, ready before FerretDB starts. */
  const startPostgres = async (): Promise<void> => {
    const cluster = initCluster(dataDir, await freePort());
    const spec = postgresSpec(cluster);
    const proc = startDetached(
      spec.binary,
      spec.args,
      path.join(dataDir, 'postgres.log'),
      dataDir,
      {},
      spec.user,
    );
    pg = { cluster, pid: proc.pid };
    await until('private PostgreSQL up', async () => (await spec.probe()) === undefined, 60_000);
    await createDocumentdbExtension(cluster);
  };

  const startFerret = async (): Promise<void> => {
    fdb = ferretdb2
      ? spawn(
          binaryPath(tools.ferretdb2, 'ferretdb'),
          [`-listen-addr=127.0.0.1:${port}`, `-state-dir=${dataDir}/ferretdb2`, '-log-level=error'],
          {
            stdio: 'ignore',
            env: { ...process.env, FERRETDB_POSTGRESQL_URL: postgresUrl(pg!.cluster), DO_NOT_TRACK: '1' },
          },
        )
      : spawn(
          binaryPath(tools.ferretdb, 'ferretdb'),
          [`-listen-addr=127.0.0.1:${port}`, `-sqlite-url=file:${dataDir}/`, '-log-level=error'],
          { stdio: 'ignore' },
        );
    await until(
      'private FerretDB up',
      async () => {
        const c = new MongoClient(`mongodb://127.0.0.1:${port}/`, { serverSelectionTimeoutMS: 500 });
        try {
          await c.db('admin').command({ ping: 1 });
          return true;
        } catch {
          return false;
        } finally {
          await c.close();
        }
      },
      30_000,
    );
  };
  const killFerret = async (): Promise<void> => {
    const p = fdb;
    fdb = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };

  beforeAll(async () => {
    sb = await sandbox('arch_mrst');
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gochive-ferret-'));
    port = await freePort();
    if (ferretdb2) await startPostgres();
    await startFerret();
  });
  afterAll(async () => {
    if (fdb) fdb.kill('SIGCONT');
    await killFerret();
    if (pg && pg.pid > 0) await stopPid(pg.pid, 10_000, 'SIGINT');
    await rm(dataDir, { recursive: true, force: true });
    await sb?.cleanup();
  });

  test('kill -9, stall and restart: I1 holds, then archiving resumes', async () => {
    const uri = `mongodb://127.0.0.1:${port}/?serverSelectionTimeoutMS=3000&connectTimeoutMS=3000`;
    const mongo = await new MongoClient(uri).connect();
    const coll = mongo.db('shop').collection<{ _id: number; createdAt: Date }>('orders');
    const old = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        _id: from + i,
        createdAt: new Date(Date.now() - (100 + i) * DAY),
      }));
    await coll.insertMany(old(0, 200));
    await coll.createIndex({ createdAt: 1 });

    const cfg = policy(
      { dbName: 'shop', bucket: sb.bucket },
      {
        collection: 'orders',
        queryLimit: 50,
        archiveCheckInterval: 1,
        s3: { bucket: `${sb.bucket}/orders/`, uploadInterval: 2 },
      },
      'mrestart',
    );
    const errors: string[] = [];
    const w = new Worker(
      {
        config: cfg,
        mongoUri: uri,
        spoolRoot: sb.spoolRoot,
        logger: testLogger('error'),
        events: { onError: (e) => void errors.push(e.message) },
      },
      { maxBackoffMs: 2000 },
    );
    const running = w.run();
    try {
      await until('first documents deleted', () => w.snapshot().totals.documentsDeleted > 0);

      // Kill -9 in the middle of the backlog, keep it down for a while, bring it back.
      await killFerret();
      await new Promise((r) => setTimeout(r, 4000));
      await startFerret();
      // Stall it (SIGSTOP) long enough for operations to time out, then let it go.
      fdb!.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 6000));
      fdb!.kill('SIGCONT');

      const check = await new MongoClient(uri).connect();
      try {
        // New work after the outages must be picked up too.
        await check
          .db('shop')
          .collection<{ _id: number; createdAt: Date }>('orders')
          .insertMany(old(1000, 50));
        await until(
          'backlog drained after the restart',
          async () => (await check.db('shop').collection('orders').countDocuments()) === 0,
          180_000,
        );
      } finally {
        await check.close();
      }
    } finally {
      await w.stop();
      await running;
      await mongo.close().catch(() => undefined);
    }
    expect(errors.length).toBeGreaterThan(0); // the outages were felt
    const ids = new Set(
      (await readBundles(sb.s3, sb.bucket, 'orders/')).flatMap((b) => b.docs.map((d) => idKey(d))),
    );
    expect(ids.size).toBe(250);
    expect(w.snapshot().totals.documentsDeleted).toBe(250);
  }, 400_000);
});
