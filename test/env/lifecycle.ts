// up / down / status, and the lease-counted acquire / release that jest's global setup and teardown use.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureAllTools, ensureTool, type Log } from './builder.js';
import { makePki, pkiPaths } from './certs.js';
import { envFilePath, kubeconfigPath, lockFilePath, logsDir } from './paths.js';
import { freePorts } from './ports.js';
import { isOurs, startDetached, stopPid } from './procs.js';
import { withLock, sleep } from './lock.js';
import { apiserverProbe, etcdProbe, mongoProbe, s3Probe, type Probe } from './probes.js';
import {
  apiserverSpec,
  endpointsFor,
  etcdSpec,
  ferretdb2Spec,
  ferretdbSpec,
  postgresSpec,
  versitygwSpec,
  type ServerSpec,
} from './servers.js';
import { defaultMongoServer, requestedMongoServer, type MongoServer } from './mongo-choice.js';
import { createDocumentdbExtension, initCluster, missingForFerretdb2, postgresProbe } from './postgres.js';
import { tools } from './tools.js';
import { redactEnvFile, writeEnvFile, writeKubeconfig } from './envfile.js';
import {
  addLease,
  clearLeases,
  dropLease,
  ensureStateDir,
  liveLeases,
  readState,
  removeState,
  writeState,
  type ServerRecord,
  type State,
} from './state.js';

const defaultLog: Log = (m) => process.stderr.write(m + '\n');
/** Long enough for a cold build of every server on a slow machine; the holder prints what it does. */
const lockTimeoutMs = 120 * 60_000;
const dataDirPrefix = path.join(os.tmpdir(), 'gochive-testenv-');

function tailOf(file: string, lines = 12): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n    ');
  } catch {
    return '(no log)';
  }
}

class StartError extends Error {}

/** Waits until `probe` passes; fails early if the process exits. */
async function waitReady(
  spec: ServerSpec,
  rec: ServerRecord,
  exited: () => boolean,
  exitInfo: Promise<string>,
): Promise<void> {
  const deadline = Date.now() + spec.readyTimeoutMs;
  let last: string | undefined = 'not probed';
  while (Date.now() < deadline) {
    if (exited()) {
      const how = await exitInfo;
      throw new StartError(
        `${spec.name} exited during start (${how}) — port ${rec.port} in use, or bad flags? See ${rec.logFile}:\n    ${tailOf(rec.logFile)}`,
      );
    }
    last = await spec.probe();
    if (last === undefined) return;
    await sleep(250);
  }
  throw new StartError(
    `${spec.name} was not ready after ${spec.readyTimeoutMs / 1000}s (last check: ${last}). See ${rec.logFile}:\n    ${tailOf(rec.logFile)}`,
  );
}

/** Stops every recorded server (newest first) that still runs our binary, and removes the data dir. */
async function teardown(state: State, log: Log): Promise<void> {
  for (const rec of [...state.servers].reverse()) {
    if (isOurs(rec.pid, rec.binary)) {
      await stopPid(rec.pid, undefined, rec.stopSignal);
      log(`testenv: stopped ${rec.name} (pid ${rec.pid})`);
    }
  }
  // Only ever delete a directory we created.
  if (state.dataDir.startsWith(dataDirPrefix)) rmSync(state.dataDir, { recursive: true, force: true });
  rmSync(envFilePath, { force: true });
  rmSync(kubeconfigPath, { force: true });
  removeState();
  clearLeases();
}

async function allHealthy(state: State): Promise<string | undefined> {
  if (!state.ready) return 'start did not finish';
  const probes: Record<string, Probe> = {
    etcd: etcdProbe(state.endpoints.etcd),
    'kube-apiserver': apiserverProbe(state.endpoints.apiserver, state.endpoints.tls),
    ferretdb: mongoProbe(state.endpoints.mongoUri),
    ferretdb2: mongoProbe(state.endpoints.mongoUri),
    versitygw: s3Probe(state.endpoints.s3),
  };
  for (const rec of state.servers) {
    if (!isOurs(rec.pid, rec.binary)) return `${rec.name} (pid ${rec.pid}) is not running`;
    const probe = rec.name === 'postgres' ? postgresProbe(rec.port) : probes[rec.name];
    const why = await probe?.();
    if (why !== undefined) return `${rec.name} does not answer: ${why}`;
  }
  if (!existsSync(envFilePath) || !existsSync(kubeconfigPath))
    return `${envFilePath} or ${kubeconfigPath} is missing`;
  return undefined;
}

/** Builds what `mongo` needs, or says exactly what is missing that cannot be built here. */
async function ensureMongoServer(mongo: MongoServer, log: Log): Promise<void> {
  if (mongo !== 'ferretdb2') return;
  const missing = missingForFerretdb2();
  if (missing.length > 0)
    throw new Error(
      `FerretDB 2 needs PostgreSQL 15 with the DocumentDB extension; missing:\n  ${missing.join('\n  ')}\n` +
        'See docs/testing.md#ferretdb-2 (the Debian packages: apt-get install postgresql-15 postgresql-15-cron postgresql-15-postgis-3 postgresql-15-rum).',
    );
  await ensureTool(tools.ferretdb2, log);
}

/** Starts all servers; on any failure stops what it started and throws one error naming server and log. */
async function start(owner: State['owner'], mongo: MongoServer, log: Log): Promise<State> {
  await ensureAllTools(log);
  await ensureMongoServer(mongo, log);
  const t0 = Date.now();
  ensureStateDir();
  mkdirSync(logsDir, { recursive: true });
  const [etcdClient, etcdPeer, apiserver, mongoPort, s3, postgres] = (await freePorts(6)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ports = { etcdClient, etcdPeer, apiserver, mongo: mongoPort, s3, postgres };
  const dataDir = mkdtempSync(dataDirPrefix);
  const pkiDir = path.join(dataDir, 'pki');
  const pki = pkiPaths(pkiDir);
  const ep = endpointsFor(ports, pki, {
    accessKeyId: `gochive${randomBytes(6).toString('hex')}`,
    secretAccessKey: randomBytes(24).toString('base64url'),
  });
  const state: State = {
    version: 1,
    createdAt: new Date().toISOString(),
    owner,
    dataDir,
    mongo,
    servers: [],
    endpoints: ep,
    ready: false,
  };
  // Recorded before anything else happens, so a crash from here on leaves nothing untracked.
  writeState(state);

  const launch = (spec: ServerSpec): Promise<void> => {
    const logFile = path.join(logsDir, `${spec.name}.log`);
    const proc = startDetached(spec.binary, spec.args, logFile, dataDir, spec.env, spec.user);
    const rec: ServerRecord = {
      name: spec.name,
      pid: proc.pid,
      binary: spec.binary,
      port: spec.port,
      logFile,
      ...(spec.stopSignal ? { stopSignal: spec.stopSignal } : {}),
    };
    if (proc.pid > 0) {
      // Record the pid before waiting, so a crash of this CLI still leaves a way to stop it.
      state.servers.push(rec);
      writeState(state);
    }
    return waitReady(spec, rec, proc.hasExited, proc.exited);
  };

  try {
    mkdirSync(pkiDir, { mode: 0o700 });
    makePki(pkiDir);
    // etcd first (the apiserver needs it); the rest start side by side.
    await launch(etcdSpec(dataDir, ports, ep));
    // FerretDB 2: PostgreSQL first, then the DocumentDB extension in it, then FerretDB.
    const launchMongo = async (): Promise<void> => {
      if (mongo === 'ferretdb') return launch(ferretdbSpec(dataDir, ports, ep));
      const cluster = initCluster(dataDir, postgres);
      await launch(postgresSpec(cluster));
      await createDocumentdbExtension(cluster);
      await launch(ferretdb2Spec(dataDir, ports, ep, cluster));
    };
    const results = await Promise.allSettled([
      launch(apiserverSpec(dataDir, ports, pki, ep)),
      launchMongo(),
      launch(versitygwSpec(dataDir, ports, ep)),
    ]);
    const failures = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as Error);
    if (failures.length > 0) throw new StartError(failures.map((e) => e.message).join('\n'));
    writeKubeconfig(ep);
    writeEnvFile(ep, mongo);
    state.ready = true;
    writeState(state);
  } catch (err) {
    log('testenv: start failed; stopping what was started');
    await teardown(state, log);
    throw err;
  }
  log(
    `testenv: servers ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (MongoDB: ${mongo}); env: ${envFilePath}`,
  );
  return state;
}

/** Cleans up what a crashed or half-finished run left behind. */
async function cleanStale(state: State, why: string, log: Log): Promise<void> {
  log(`testenv: cleaning up the previous environment (${why})`);
  await teardown(state, log);
}

/** Why a healthy running environment cannot serve a request for `wanted`; undefined when it can. */
function mismatch(state: State, wanted: MongoServer | undefined): string | undefined {
  const running = state.mongo ?? defaultMongoServer;
  return wanted === undefined || wanted === running
    ? undefined
    : `it runs ${running}, and ${wanted} was asked for`;
}

/** A healthy environment with the wrong server is replaced, unless a jest run is still using it. */
function replaceable(state: State, why: string): void {
  const holders = liveLeases();
  if (holders.length > 0)
    throw new Error(
      `the test environment cannot be replaced (${why}): jest run(s) ${holders.join(', ')} still use it`,
    );
}

export async function up(log: Log = defaultLog): Promise<void> {
  await withLock(lockFilePath, 'the test environment', lockTimeoutMs, async () => {
    const wanted = requestedMongoServer();
    const state = readState();
    if (state) {
      let why = await allHealthy(state);
      const wrong = why === undefined ? mismatch(state, wanted) : undefined;
      if (wrong) {
        replaceable(state, wrong);
        why = wrong;
      }
      if (why === undefined) {
        // A human asked for it: jest runs must no longer stop it.
        state.owner = { kind: 'cli', pid: process.pid };
        writeState(state);
        log(`testenv: already running; env: ${envFilePath}`);
        return;
      }
      await cleanStale(state, why, log);
    }
    await start({ kind: 'cli', pid: process.pid }, wanted ?? defaultMongoServer, log);
  });
}

export async function down(log: Log = defaultLog): Promise<void> {
  await withLock(lockFilePath, 'the test environment', lockTimeoutMs, async () => {
    const state = readState();
    if (!state) {
      rmSync(envFilePath, { force: true });
      log('testenv: not running');
      return;
    }
    await teardown(state, log);
    log('testenv: stopped; data removed');
  });
}

/** Prints the state of each server and the env file; returns 0 if all are healthy. */
export async function status(
  out: (s: string) => void = (s) => process.stdout.write(s + '\n'),
): Promise<number> {
  const state = readState();
  if (!state) {
    out('testenv: not running (make testenv-up starts it)');
    return 1;
  }
  for (const rec of state.servers) {
    out(
      `${rec.name.padEnd(15)} pid ${String(rec.pid).padEnd(8)} ${isOurs(rec.pid, rec.binary) ? 'running' : 'DEAD'}  127.0.0.1:${rec.port}  log ${rec.logFile}`,
    );
  }
  const why = await allHealthy(state);
  out(
    why === undefined
      ? `healthy (MongoDB: ${state.mongo ?? defaultMongoServer}; started ${state.createdAt} by ${state.owner.kind})`
      : `NOT healthy: ${why}`,
  );
  if (existsSync(envFilePath))
    out(
      `\n# ${envFilePath} (secrets shown as ***)\n${redactEnvFile(readFileSync(envFilePath, 'utf8').trimEnd())}`,
    );
  return why === undefined ? 0 : 2;
}

/** For jest: reuse a healthy environment or start one, and hold a lease on it for `pid`. */
export async function acquire(pid: number, log: Log = defaultLog): Promise<{ started: boolean }> {
  return withLock(lockFilePath, 'the test environment', lockTimeoutMs, async () => {
    const wanted = requestedMongoServer();
    const state = readState();
    if (state) {
      let why = await allHealthy(state);
      const wrong = why === undefined ? mismatch(state, wanted) : undefined;
      if (wrong) {
        replaceable(state, wrong);
        why = wrong;
      }
      if (why === undefined) {
        addLease(pid);
        return { started: false };
      }
      await cleanStale(state, why, log);
    }
    await start({ kind: 'jest', pid }, wanted ?? defaultMongoServer, log);
    addLease(pid);
    return { started: true };
  });
}

/** For jest: drop `pid`'s lease; the last jest run out stops an environment that jest started. */
export async function release(pid: number, log: Log = defaultLog): Promise<{ stopped: boolean }> {
  return withLock(lockFilePath, 'the test environment', lockTimeoutMs, async () => {
    dropLease(pid);
    const state = readState();
    if (!state || state.owner.kind !== 'jest' || liveLeases().length > 0) return { stopped: false };
    await teardown(state, log);
    log('testenv: stopped the servers (a jest run started them; this was the last jest run using them)');
    return { stopped: true };
  });
}
