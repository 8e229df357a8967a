// The operator replicas: `gochive operator` as real child processes (so kill -9 is real), one spool
// volume per replica slot that survives restarts (a container restart keeps its emptyDir) until the
// slot's pod is replaced (fault `replica-replace`: a new, empty volume), a fresh identity per
// incarnation, logs captured to files and parsed for the single-writer check, and RSS sampled from
// /proc for the memory check.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { SpoolVolume } from './spool-volume.js';
import { sleep } from './time.js';

export interface WorkerEvent {
  t: number;
  identity: string;
  policy: string;
  what: 'started' | 'stopping' | 'stopped' | 'exited';
  reason?: string;
}

export interface BundleEvent {
  t: number;
  identity: string;
  policy: string;
  /** The object key (ends with `_<id>.tar[.gz]`); for `resumed`, the bundle id when the log had no key. */
  key: string;
  /** For `resumed`: the bundle id. */
  id?: string;
  what: 'uploaded' | 'deleted' | 'resumed' | 'dropped';
  /**
   * For `resumed`: the ledger state the bundle was taken over in ('uploading': its object may or may
   * not be in the store; 'uploaded': verified in the store, deletes may run).
   */
  state?: string;
  /** For `resumed`: finished from the store (this replica's spool had no copy). */
  fromStore?: boolean;
  /** For `uploaded`: a bundle another worker uploaded, found (verified) in the store. */
  recovered?: boolean;
}

export interface Incarnation {
  slot: string;
  identity: string;
  pid: number;
  startedAt: number;
  endedAt?: number;
  /** How it ended: 'SIGKILL' (fault), 'SIGTERM' (graceful), or an unexpected exit. */
  endedBy?: string;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  logFile: string;
  rss: Array<[number, number]>; // [time, kB]
  workerEvents: WorkerEvent[];
  bundleEvents: BundleEvent[];
  errors: number;
  fatal: string[];
  /** Shutdown took this long after SIGTERM (graceful stops only). */
  shutdownMs?: number;
  /** Started with the engine's crash hook at this point. */
  crashAt?: string;
  /** The spool directory it ran on. */
  spoolDir: string;
  /** The first incarnation of a new pod (fault `replica-replace`): a new, empty spool volume. */
  newPod?: boolean;
}

export interface OperatorConfig {
  repoRoot: string;
  kubeconfig: string;
  namespace: string;
  logDir: string;
  leaseDuration: string;
  renewInterval: string;
  env: Record<string, string>;
  log: (m: string) => void;
}

export class Replica {
  readonly incarnations: Incarnation[] = [];
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private out?: WriteStream;
  current?: Incarnation;
  /** A lifecycle action (start/kill/stop) is in progress: fault injection leaves the slot alone. */
  busy = false;

  /** The next start is a new pod's first (its spool volume was just replaced). */
  private newPod = false;

  constructor(
    readonly slot: string,
    private volume: SpoolVolume,
    private readonly cfg: OperatorConfig,
  ) {}

  /** The slot's current spool volume (a new one after replaceSpool). */
  get spool(): SpoolVolume {
    return this.volume;
  }

  /**
   * The pod is gone with its emptyDir: the next incarnation starts on `next` (new and empty). Only
   * while the replica is down. Returns the old volume (the caller destroys it).
   */
  replaceSpool(next: SpoolVolume): SpoolVolume {
    if (this.running) throw new Error(`replica ${this.slot} is running: stop it before replacing its spool`);
    const old = this.volume;
    this.volume = next;
    this.newPod = true;
    return old;
  }

  get running(): boolean {
    return !!this.current && this.current.endedAt === undefined;
  }

  /**
   * Starts a new incarnation and waits until it serves /metrics (bounded). `crashAt` sets the engine's
   * test hook GOCHIVE_TEST_CRASH_AT, so the process kills itself (SIGKILL) at that point of a bundle.
   */
  async start(timeoutMs = 30_000, crashAt?: string): Promise<Incarnation> {
    if (this.running) throw new Error(`replica ${this.slot} is already running`);
    const n = this.incarnations.length + 1;
    const identity = `${this.slot}-${n}`;
    const logFile = path.join(this.cfg.logDir, `operator-${identity}.log`);
    const args = [
      path.join(this.cfg.repoRoot, 'dist', 'operator', 'cli', 'main.js'),
      'operator',
      `--kubeconfig=${this.cfg.kubeconfig}`,
      `--namespaces=${this.cfg.namespace}`,
      `--lease-namespace=${this.cfg.namespace}`,
      `--spool-dir=${this.spool.dir}`,
      `--identity=${identity}`,
      '--metrics-bind-address=127.0.0.1:0',
      `--lease-duration=${this.cfg.leaseDuration}`,
      `--renew-interval=${this.cfg.renewInterval}`,
      '--status-min-interval=1s',
      '--shutdown-grace-period=20s',
      '--max-concurrent-reconciles=4',
      '--log-level=info',
    ];
    const env = crashAt ? { ...this.cfg.env, GOCHIVE_TEST_CRASH_AT: crashAt } : this.cfg.env;
    const child = spawn(process.execPath, args, {
      cwd: this.cfg.repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const inc: Incarnation = {
      slot: this.slot,
      identity,
      pid: child.pid ?? -1,
      startedAt: Date.now(),
      logFile,
      rss: [],
      workerEvents: [],
      bundleEvents: [],
      errors: 0,
      fatal: [],
      ...(crashAt ? { crashAt } : {}),
      spoolDir: this.spool.dir,
      ...(this.newPod ? { newPod: true } : {}),
    };
    this.newPod = false;
    this.incarnations.push(inc);
    this.current = inc;
    this.child = child;
    const out = createWriteStream(logFile);
    this.out = out;
    let ready = false;
    let partial = '';
    const onData = (chunk: Buffer): void => {
      out.write(chunk);
      partial += chunk.toString('utf8');
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        if (line.includes('serving /metrics')) ready = true;
        parseLine(inc, line);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        inc.endedAt ??= Date.now();
        inc.exit = { code, signal };
        if (!inc.endedBy && inc.crashAt && signal === 'SIGKILL') {
          inc.endedBy = `crash hook ${inc.crashAt}`;
        } else if (!inc.endedBy) {
          inc.endedBy = `unexpected exit (code ${code}, signal ${signal})`;
          this.cfg.log(
            `operator ${identity} exited on its own (code ${code}, signal ${signal}); see ${logFile}`,
          );
        }
        out.end();
        resolve();
      });
    });
    const deadline = Date.now() + timeoutMs;
    while (!ready) {
      if (inc.endedAt !== undefined)
        throw new Error(`operator ${identity} exited while starting; see ${logFile}:\n${tail(logFile)}`);
      if (Date.now() > deadline)
        throw new Error(`operator ${identity} did not serve /metrics within ${timeoutMs} ms; see ${logFile}`);
      await sleep(50);
    }
    return inc;
  }

  /** Resolves when the current incarnation has exited (or after `timeoutMs`); true if it exited. */
  async waitExit(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (!this.exited) return true;
    return Promise.race([this.exited.then(() => true), sleep(timeoutMs, signal).then(() => !this.running)]);
  }

  /** kill -9. Resolves once the process is gone. */
  async kill9(): Promise<void> {
    const inc = this.current;
    if (!inc || inc.endedAt !== undefined || !this.child) return;
    inc.endedBy = 'SIGKILL';
    this.child.kill('SIGKILL');
    await Promise.race([this.exited, sleep(10_000)]);
  }

  /** SIGTERM and wait for a clean exit (bounded; SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 40_000): Promise<void> {
    const inc = this.current;
    if (!inc || inc.endedAt !== undefined || !this.child) return;
    inc.endedBy = 'SIGTERM';
    const t0 = Date.now();
    this.child.kill('SIGTERM');
    const done = await Promise.race([this.exited!.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!done) {
      inc.endedBy = 'SIGTERM, then SIGKILL after the timeout';
      this.child.kill('SIGKILL');
      await Promise.race([this.exited, sleep(10_000)]);
    } else {
      inc.shutdownMs = Date.now() - t0;
    }
  }

  /** Samples VmRSS of the running incarnation. */
  sampleRss(now = Date.now()): void {
    const inc = this.current;
    if (!inc || inc.endedAt !== undefined) return;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${inc.pid}/status`, 'utf8'));
      if (m) inc.rss.push([now, Number(m[1])]);
    } catch {
      /* just exited */
    }
  }
}

/** Keeps what the checks need from one pino JSON line (exported for the checker's tests). */
export function parseLine(inc: Incarnation, line: string): void {
  if (!line.startsWith('{')) return;
  let o: {
    level?: number;
    time?: string;
    msg?: string;
    policy?: string;
    namespace?: string;
    err?: unknown;
    key?: string;
    reason?: string;
    bundles?: unknown;
    recovered?: unknown;
  };
  try {
    o = JSON.parse(line) as typeof o;
  } catch {
    return;
  }
  if ((o.level ?? 0) >= 50) inc.errors++;
  if ((o.level ?? 0) >= 60) inc.fatal.push(String(o.msg));
  const what =
    o.msg === 'worker started'
      ? 'started'
      : o.msg === 'stopping worker'
        ? 'stopping'
        : o.msg === 'worker stopped'
          ? 'stopped'
          : o.msg === 'worker exited on its own'
            ? 'exited'
            : undefined;
  const t = o.time ? Date.parse(o.time) : Date.now();
  if (what && o.policy)
    inc.workerEvents.push({
      t,
      identity: inc.identity,
      policy: o.policy,
      what,
      ...(o.reason ? { reason: String(o.reason) } : {}),
    });
  const b =
    o.msg === 'bundle uploaded and verified'
      ? 'uploaded'
      : o.msg === 'archived documents deleted'
        ? 'deleted'
        : undefined;
  if (b && o.policy && o.key)
    inc.bundleEvents.push({
      t,
      identity: inc.identity,
      policy: o.policy,
      key: o.key,
      what: b,
      ...(b === 'uploaded' && o.recovered === true ? { recovered: true } : {}),
    });
  if (o.msg?.startsWith('a bundle the ledger lists never reached the store') && o.policy && o.key)
    inc.bundleEvents.push({ t, identity: inc.identity, policy: o.policy, key: o.key, what: 'dropped' });
  if (o.msg === 'finishing the bundles the ledger lists' && o.policy && Array.isArray(o.bundles)) {
    for (const x of o.bundles as Array<{
      id?: unknown;
      key?: unknown;
      state?: unknown;
      fromStore?: unknown;
    }>) {
      if (typeof x.id !== 'string') continue;
      inc.bundleEvents.push({
        t,
        identity: inc.identity,
        policy: o.policy,
        key: typeof x.key === 'string' ? x.key : x.id,
        id: x.id,
        what: 'resumed',
        state: String(x.state),
        ...(x.fromStore === true ? { fromStore: true } : {}),
      });
    }
  }
}

function tail(file: string, n = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}
