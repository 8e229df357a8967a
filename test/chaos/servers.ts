// The campaign's PRIVATE FerretDB and versitygw: the same cached binaries and flags as the shared test
// environment (test/env/servers.ts), but their own ports and data directories, so killing or stalling
// them never disturbs other test files running at the same time. A server keeps its port and data
// across kill/restart, like a pod restarting on the same volume. With FerretDB 2 (GOCHIVE_MONGO=ferretdb2)
// a private PostgreSQL + DocumentDB runs under it; the faults hit FerretDB, which holds no data.
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import {
  endpointsFor,
  ferretdb2Spec,
  ferretdbSpec,
  postgresSpec,
  versitygwSpec,
  type ServerSpec,
} from '../env/servers.js';
import { defaultMongoServer, requestedMongoServer, type MongoServer } from '../env/mongo-choice.js';
import { createDocumentdbExtension, initCluster } from '../env/postgres.js';
import { freePorts } from '../env/ports.js';
import { isAlive, startDetached, type Started } from '../env/procs.js';
import type { Pki } from '../env/certs.js';
import { sleep } from './time.js';

export type ServerState = 'running' | 'stopped' | 'stalled';

export class ManagedServer {
  state: ServerState = 'stopped';
  pid = -1;
  private proc?: Started;
  private starts = 0;

  constructor(
    readonly spec: ServerSpec,
    private readonly logDir: string,
    private readonly cwd: string,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  /** Starts the server and waits for its readiness probe. */
  async start(timeoutMs = this.spec.readyTimeoutMs): Promise<void> {
    if (this.state !== 'stopped')
      throw new Error(`${this.name} is ${this.state}; stop it before starting it again`);
    this.starts++;
    const logFile = path.join(this.logDir, `${this.name}-${this.starts}.log`);
    const proc = startDetached(
      this.spec.binary,
      this.spec.args,
      logFile,
      this.cwd,
      this.spec.env,
      this.spec.user,
    );
    if (proc.pid < 0)
      throw new Error(`${this.name}: could not spawn ${this.spec.binary}: ${await proc.exited}`);
    this.proc = proc;
    this.pid = proc.pid;
    this.state = 'running';
    const deadline = Date.now() + timeoutMs;
    let last: string | undefined = 'not probed';
    while (Date.now() < deadline) {
      if (proc.hasExited()) {
        this.state = 'stopped';
        throw new Error(`${this.name} exited while starting (${await proc.exited}); see ${logFile}`);
      }
      last = await this.spec.probe();
      if (last === undefined) return;
      await sleep(200);
    }
    throw new Error(`${this.name} was not ready after ${timeoutMs} ms (last check: ${last}); see ${logFile}`);
  }

  /** SIGSTOP: the process keeps its sockets open but answers nothing (a hung server or a network stall). */
  stall(): void {
    if (this.state !== 'running') return;
    this.signal('SIGSTOP');
    this.state = 'stalled';
  }

  resume(): void {
    if (this.state !== 'stalled') return;
    this.signal('SIGCONT');
    this.state = 'running';
  }

  /** SIGKILL (a crash) or SIGTERM (a clean stop), then waits until the process is gone. */
  async stop(signal: 'SIGKILL' | 'SIGTERM', timeoutMs = 15_000): Promise<void> {
    if (this.state === 'stopped' || !this.proc) return;
    if (this.state === 'stalled') this.signal('SIGCONT'); // a stopped process does not act on SIGTERM
    // A clean stop uses the server's own clean-stop signal (PostgreSQL: SIGINT, its fast shutdown).
    this.signal(signal === 'SIGTERM' ? (this.spec.stopSignal ?? signal) : signal);
    const deadline = Date.now() + timeoutMs;
    while (!this.proc.hasExited() && isAlive(this.pid)) {
      if (Date.now() > deadline) {
        this.signal('SIGKILL');
        await Promise.race([this.proc.exited, sleep(5000)]);
        break;
      }
      await sleep(50);
    }
    this.state = 'stopped';
  }

  private signal(sig: NodeJS.Signals): void {
    // The server leads its own process group (spawned detached): signal the group.
    try {
      process.kill(-this.pid, sig);
    } catch {
      try {
        process.kill(this.pid, sig);
      } catch {
        /* already gone */
      }
    }
  }
}

export interface PrivateServers {
  mongo: ManagedServer;
  s3: ManagedServer;
  /** FerretDB 2's PostgreSQL (never faulted). */
  postgres?: ManagedServer;
  mongoUri: string;
  s3Endpoint: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
}

/** Starts a private FerretDB and versitygw under `dataDir`; logs go to `logDir`. */
export async function startPrivateServers(
  dataDir: string,
  logDir: string,
  s3Keys: { accessKeyId: string; secretAccessKey: string },
  server: MongoServer = requestedMongoServer() ?? defaultMongoServer,
): Promise<PrivateServers> {
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const [mongoPort, s3Port, pgPort] = await freePorts(3);
  const ports = { etcdClient: 0, etcdPeer: 0, apiserver: 0, mongo: mongoPort!, s3: s3Port! };
  // endpointsFor wants a PKI only for the apiserver's TLS files, which these two servers never use.
  const noPki = {} as Pki;
  const ep = endpointsFor(ports, noPki, s3Keys);
  const s3 = new ManagedServer(versitygwSpec(dataDir, ports, ep), logDir, dataDir);
  if (server === 'ferretdb') {
    const mongo = new ManagedServer(ferretdbSpec(dataDir, ports, ep), logDir, dataDir);
    await Promise.all([mongo.start(), s3.start()]);
    return { mongo, s3, mongoUri: ep.mongoUri, s3Endpoint: ep.s3 };
  }
  const cluster = initCluster(dataDir, pgPort!);
  const postgres = new ManagedServer(postgresSpec(cluster), logDir, dataDir);
  const mongo = new ManagedServer(ferretdb2Spec(dataDir, ports, ep, cluster), logDir, dataDir);
  const startMongo = async (): Promise<void> => {
    await postgres.start();
    await createDocumentdbExtension(cluster);
    await mongo.start();
  };
  await Promise.all([startMongo(), s3.start()]);
  return { mongo, s3, postgres, mongoUri: ep.mongoUri, s3Endpoint: ep.s3 };
}
