// SPEC I9 in the engine itself: a Worker handed a config for a MongoDB system database or collection
// (whatever produced it) fails at once, before touching its spool or opening a connection.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { PolicyConfig } from './config.js';
import { Worker } from './worker.js';
import { createLogger } from '../util/logger.js';

const base: PolicyConfig = {
  name: 'p',
  namespace: 'ns',
  database: 'app',
  collection: 'events',
  archiveField: 'createdAt',
  archiveFieldFormat: 'date',
  ageLimitMs: 86_400_000,
  queryLimit: 100,
  archiveCheckIntervalMs: 1000,
  uploadIntervalMs: 2000,
  spoolMaxBytes: 1 << 20,
  compression: { codec: 'gzip', level: 6 },
  dryRun: false,
  suspend: false,
  allowCollectionScan: false,
  destination: { kind: 's3', bucket: 'bucket', prefix: 'p/' },
};

let spoolRoot: string;
let server: net.Server;
let connections = 0;
let port = 0;
beforeAll(async () => {
  spoolRoot = await mkdtemp(path.join(os.tmpdir(), 'gochive-i9-'));
  server = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(spoolRoot, { recursive: true, force: true });
});

test.each([
  ['database', 'admin', /^database: "admin" is a MongoDB system database/],
  ['database', 'local', /^database: "local" is a MongoDB system database/],
  ['database', 'config', /^database: "config" is a MongoDB system database/],
  ['collection', 'system.users', /^collection: "system\.users" is a MongoDB system collection/],
])('a worker for %s %j fails with ProtectedNamespace before connecting', async (field, value, says) => {
  const w = new Worker({
    config: { ...base, [field]: value },
    mongoUri: `mongodb://127.0.0.1:${port}/?serverSelectionTimeoutMS=500&connectTimeoutMS=500`,
    spoolRoot,
    logger: createLogger({ level: 'silent' }),
    once: true,
  });
  await w.run();
  const s = w.snapshot();
  expect({ state: s.state, reason: s.reason }).toEqual({ state: 'Failed', reason: 'ProtectedNamespace' });
  expect(s.message).toMatch(says);
  expect(connections).toBe(0);
  expect(await readdir(spoolRoot)).toEqual([]);
});
