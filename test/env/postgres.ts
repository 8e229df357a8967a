// PostgreSQL 15 with the DocumentDB extension, the storage of FerretDB 2 (GOCHIVE_MONGO=ferretdb2).
// PostgreSQL and most extensions come from Debian's packages; DocumentDB and pgvector come from no
// registry this project reaches, so they must already be installed into PostgreSQL's directories
// (docs/testing.md#ferretdb-2 says how this machine got them). PostgreSQL refuses to run as root, so as
// root it runs as the `postgres` user the Debian package creates, with its data dir owned by that user.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  existsSync,
  mkdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { Probe } from './probes.js';

/** The Debian packages PostgreSQL and DocumentDB's dependencies come from (.ci/run installs them). */
export const debianPackages = [
  'postgresql-15',
  'postgresql-15-cron',
  'postgresql-15-postgis-3',
  'postgresql-15-rum',
];

export function pgBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.GOCHIVE_PG_BINDIR || '/usr/lib/postgresql/15/bin';
}

/** Extensions DocumentDB needs (its control file's `requires`) and DocumentDB's own two. */
const extensions: { name: string; from: string }[] = [
  { name: 'pg_cron', from: 'Debian postgresql-15-cron' },
  { name: 'postgis', from: 'Debian postgresql-15-postgis-3' },
  { name: 'rum', from: 'Debian postgresql-15-rum' },
  { name: 'tsm_system_rows', from: 'Debian postgresql-15' },
  { name: 'vector', from: 'pgvector, built from source (not packaged for Debian 12)' },
  { name: 'documentdb_core', from: 'DocumentDB, built from source' },
  { name: 'documentdb', from: 'DocumentDB, built from source' },
];

function pgConfig(bindir: string, flag: string): string | undefined {
  const r = spawnSync(path.join(bindir, 'pg_config'), [flag], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** What is missing for FerretDB 2's PostgreSQL, one line each; empty when everything is installed. */
export function missingForFerretdb2(bindir = pgBinDir()): string[] {
  const missing: string[] = [];
  for (const bin of ['postgres', 'initdb', 'pg_isready', 'psql', 'pg_config']) {
    try {
      accessSync(path.join(bindir, bin), constants.X_OK);
    } catch {
      missing.push(`${path.join(bindir, bin)} (Debian postgresql-15)`);
    }
  }
  const share = pgConfig(bindir, '--sharedir');
  if (!share) return missing;
  for (const ext of extensions) {
    const control = path.join(share, 'extension', `${ext.name}.control`);
    if (!existsSync(control)) missing.push(`${control} (${ext.from})`);
  }
  return missing;
}

/** The uid/gid PostgreSQL runs as: ours, or `postgres`'s when we are root. */
export function pgUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' });
  const f = r.stdout?.split(':');
  if (r.status !== 0 || !f || f.length < 4)
    throw new Error(
      'PostgreSQL refuses to run as root and there is no `postgres` user to run it as (apt-get install postgresql-15 creates one)',
    );
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export interface PgCluster {
  dataDir: string;
  port: number;
  password: string;
}

/** initdb into `<dataDir>/postgres`, owned by the PostgreSQL user; the superuser has a random password. */
export function initCluster(dataDir: string, port: number, bindir = pgBinDir()): PgCluster {
  const user = pgUser();
  const dir = path.join(dataDir, 'postgres');
  const password = randomBytes(18).toString('base64url');
  const pwFile = path.join(dataDir, 'pg-password');
  // The test env's data dir is 0700 and root's: let the postgres user through to its own subdirectory.
  if (user) {
    chmodSync(dataDir, 0o711);
    if (spawnSync('test', ['-x', dataDir], user).status !== 0)
      throw new Error(
        `the postgres user cannot reach ${dataDir}: a directory above it is closed to other users`,
      );
  }
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(pwFile, password + '\n', { mode: 0o600 });
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(pwFile, user.uid, user.gid);
  }
  try {
    const r = spawnSync(
      path.join(bindir, 'initdb'),
      [
        `--pgdata=${dir}`,
        '--username=postgres',
        `--pwfile=${pwFile}`,
        // TCP needs the password; the Unix socket lives in the data dir, which only its owner can enter.
        '--auth-host=scram-sha-256',
        '--auth-local=trust',
        '--encoding=UTF8',
        '--no-locale',
        '--no-sync', // test data is thrown away
      ],
      { encoding: 'utf8', ...(user ?? {}) },
    );
    if (r.status !== 0)
      throw new Error(`initdb failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || '').trim()}`);
  } finally {
    rmSync(pwFile, { force: true });
  }
  return { dataDir: dir, port, password };
}

/** `postgres` flags: loopback TCP and a socket in the data dir, DocumentDB preloaded as FerretDB 2 expects. */
export function postgresArgs(c: PgCluster): string[] {
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(c.port),
    unix_socket_directories: c.dataDir,
    // DocumentDB runs some commands (explain among them) over a libpq connection back to the server;
    // through the private socket it needs no password.
    'documentdb.localhost_connection_string': `host=${c.dataDir}`,
    max_connections: '200',
    // DocumentDB's settings as FerretDB v2.7's installation guide lists them.
    shared_preload_libraries: 'pg_cron,pg_documentdb_core,pg_documentdb',
    'cron.database_name': 'postgres',
    // pg_cron runs DocumentDB's jobs (TTL, cursor cleanup) in background workers: its default, a libpq
    // connection, would need a password or a Unix socket.
    'cron.use_background_workers': 'on',
    max_worker_processes: '32',
    'documentdb.enableCompact': 'true',
    'documentdb.enableLetAndCollationForQueryMatch': 'true',
    'documentdb.enableNowSystemVariable': 'true',
    'documentdb.enableSortbyIdPushDownToPrimaryKey': 'true',
    'documentdb.enableSchemaValidation': 'true',
    'documentdb.enableBypassDocumentValidation': 'true',
    'documentdb.enableUserCrud': 'true',
    'documentdb.maxUserLimit': '100',
    // Debian 12's pg_cron is 1.4, which schedules by the minute at best; DocumentDB schedules its
    // background index builds every 2 s unless this is 60 (FerretDB 2 builds indexes in the foreground).
    'documentdb.indexBuildScheduleInSec': '60',
    // Test data is thrown away: no durability, like etcd's --unsafe-no-fsync.
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    log_min_messages: 'warning',
  };
  return ['-D', c.dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
}

/** The URL FerretDB 2 connects with (it holds the password: pass it in the environment, never log it). */
export function postgresUrl(c: PgCluster): string {
  return `postgres://postgres:${encodeURIComponent(c.password)}@127.0.0.1:${c.port}/postgres`;
}

function run(
  file: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: { ...process.env, ...env }, timeout: timeoutMs, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, out: `${stdout}${stderr}`.trim() });
      },
    );
  });
}

/** Ready when pg_isready says the server accepts connections (it needs no password). */
export function postgresProbe(port: number, bindir = pgBinDir()): Probe {
  return async () => {
    const r = await run(
      path.join(bindir, 'pg_isready'),
      ['-h', '127.0.0.1', '-p', String(port), '-d', 'postgres', '-t', '2'],
      {},
      5000,
    );
    return r.code === 0 ? undefined : r.out || `pg_isready exited ${r.code}`;
  };
}

/** Creates the DocumentDB extension (and, by CASCADE, what it requires) in the `postgres` database. */
export async function createDocumentdbExtension(c: PgCluster, bindir = pgBinDir()): Promise<void> {
  const r = await run(
    path.join(bindir, 'psql'),
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(c.port),
      '-U',
      'postgres',
      '-d',
      'postgres',
      '-v',
      'ON_ERROR_STOP=1',
      '-qc',
      'CREATE EXTENSION IF NOT EXISTS documentdb CASCADE',
    ],
    { PGPASSWORD: c.password },
    120_000,
  );
  if (r.code !== 0) throw new Error(`CREATE EXTENSION documentdb failed: ${r.out}`);
}
