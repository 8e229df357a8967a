// Shared pieces of the bad-input corpus and the security checks: running real processes (kubectl, helm,
// the built `gochive` CLI and operator) with bounded time, a TCP listener that counts connections (to
// prove "refused before any database operation"), and the CRD/namespace plumbing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, testEnv } from '../../support/testenv.js';
import { waitForCrdsEstablished } from '../../support/crd-established.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ProcResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process had to be killed at the time limit. */
  timedOut: boolean;
}

/** Spawns `cmd args`, feeds `input`, collects output; never rejects on a non-zero exit. */
export function runProcess(
  cmd: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? repoRoot,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? 128,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    child.stdin.on('error', () => undefined); // a process that exits before reading stdin is fine
    child.stdin.end(opts.input ?? '');
  });
}

/** The environment for kubectl/helm: the test env's PATH and KUBECONFIG, helm caches in .testenv. */
export function toolEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = testEnv();
  return {
    ...process.env,
    PATH: env.path,
    KUBECONFIG: env.kubeconfig,
    HELM_CACHE_HOME: path.join(repoRoot, '.testenv', 'helm', 'cache'),
    HELM_CONFIG_HOME: path.join(repoRoot, '.testenv', 'helm', 'config'),
    HELM_DATA_HOME: path.join(repoRoot, '.testenv', 'helm', 'data'),
    ...extra,
  };
}

export function kubectl(args: string[], input?: string, timeoutMs = 60_000): Promise<ProcResult> {
  return runProcess('kubectl', args, { input, env: toolEnv(), timeoutMs });
}

export async function mustKubectl(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

export function helm(args: string[], input?: string, timeoutMs = 60_000): Promise<ProcResult> {
  return runProcess('helm', args, { input, env: toolEnv(), timeoutMs });
}

export const chartDir = path.join(repoRoot, 'charts', 'gochive');
export const crdFile = path.join(repoRoot, 'crds', 'archivepolicies.gochive.io.yaml');
export const cliMain = path.join(repoRoot, 'dist', 'operator', 'cli', 'main.js');

/** Installs the generated CRD (idempotent with other test files doing the same). */
export async function ensureCrd(): Promise<void> {
  await mustKubectl([
    'apply',
    '--server-side',
    '--force-conflicts',
    '--field-manager=gochive-badinput-test',
    '-f',
    crdFile,
  ]);
  await waitForCrdsEstablished(['archivepolicies.gochive.io'], { env: toolEnv() });
}

export async function createNamespace(ns: string): Promise<void> {
  await mustKubectl(['create', 'namespace', ns]);
}

/** The test control plane runs no namespace controller: delete what we created, then the namespace. */
export async function deleteNamespace(ns: string): Promise<void> {
  await kubectl(['delete', 'archivepolicies', '--all', '-n', ns, '--ignore-not-found', '--wait=false']);
  await kubectl([
    'delete',
    'secrets,events.events.k8s.io,leases',
    '--all',
    '-n',
    ns,
    '--ignore-not-found',
    '--wait=false',
  ]);
  await kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
}

/**
 * An ArchivePolicy as JSON (which kubectl reads as YAML): JSON keeps every value's type exactly, where a
 * YAML rendering could be re-read by kubectl's YAML 1.1 parser differently (the string "yes" as true).
 */
export function manifest(ns: string, name: string, spec: unknown): string {
  return JSON.stringify({
    apiVersion: 'gochive.io/v1alpha1',
    kind: 'ArchivePolicy',
    metadata: { name, namespace: ns },
    spec,
  });
}

/** Every operator/ source (tests excluded) whose compiled file is missing or older than it. */
function staleModules(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(path.join(repoRoot, 'operator', dir), { withFileTypes: true })) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) {
        const m = rel.slice(0, -3);
        const src = statSync(path.join(repoRoot, 'operator', rel));
        const built = statSync(path.join(repoRoot, 'dist', 'operator', `${m}.js`), { throwIfNoEntry: false });
        if (!built || built.mtimeMs + 1000 < src.mtimeMs) out.push(m);
      }
    }
  };
  walk('');
  return out;
}

/**
 * Makes sure dist/ holds operator/ as its sources are now (CI builds first; locally other
 * people edit while tests run): when one is missing or older than its source, runs `tsc -p .` (it emits
 * even if an unrelated file has type errors), serialised with the other test files by a lock directory
 * shared with the operator tests. Fails with a clear message if a module the test names is still missing.
 */
export function assertBuilt(...modules: string[]): void {
  const stale = staleModules();
  if (stale.length === 0) return;
  const lock = path.join(os.tmpdir(), 'gochive-operator-tests-tsc.lock');
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline)
        throw new Error(`could not take ${lock} within 3 minutes (remove it if no build runs)`);
      spawnSync('sleep', ['0.5']);
    }
  }
  try {
    if (staleModules().length > 0) {
      spawnSync(
        process.execPath,
        [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', repoRoot],
        {
          cwd: repoRoot,
          stdio: 'ignore',
          timeout: 300_000,
        },
      );
      // tsc leaves an output alone when only its source's mtime changed: mark such outputs current.
      const now = new Date();
      for (const m of staleModules()) {
        const js = path.join(repoRoot, 'dist', 'operator', `${m}.js`);
        if (existsSync(js)) utimesSync(js, now, now);
      }
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  const still = [...new Set(['cli/main', ...modules, ...staleModules()])].filter(
    (m) => !existsSync(path.join(repoRoot, 'dist', 'operator', `${m}.js`)),
  );
  if (still.length)
    throw new Error(
      `dist/operator/${still[0]}.js is missing after \`tsc -p .\`: run it and look at its errors`,
    );
}

/** A minimal environment for the CLI: no AWS_* or MONGODB_* leaking in from the test runner. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? os.tmpdir(),
    // No instance-metadata lookups for credentials: tests never leave the loopback.
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

/** Runs the built `gochive` executable. */
export function gochive(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): Promise<ProcResult> {
  return runProcess(process.execPath, [cliMain, ...args], {
    env: cliEnv(opts.env),
    timeoutMs: opts.timeoutMs ?? 120_000,
    input: opts.input,
  });
}

/** A scratch directory removed by the returned function. */
export function scratchDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `gochive-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A TCP listener on 127.0.0.1 that counts connections and the bytes sent to it. As a "MongoDB" address it
 * proves that a refused input caused no database traffic at all; `mode: 'close'` refuses each connection
 * at once (like a crashed server), `'hang'` accepts and never answers (like a stalled one).
 */
export class ConnectionCounter {
  connections = 0;
  bytes = 0;
  port = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly mode: 'close' | 'hang' = 'close') {
    this.server = net.createServer((s) => {
      this.connections++;
      this.sockets.add(s);
      s.on('data', (d: Buffer) => (this.bytes += d.length));
      s.on('error', () => undefined);
      s.on('close', () => this.sockets.delete(s));
      if (this.mode === 'close') s.destroy();
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A loopback port with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stopProcess(child: ChildProcess | undefined, graceMs = 30_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Thrown inside a waitFor callback to stop waiting at once (e.g. the process under test died). */
export class GiveUp extends Error {}

/** Polls `fn` until it returns a truthy value; fails after `timeoutMs` naming `what` and the last value. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      if (e instanceof GiveUp) throw new Error(`gave up waiting for ${what}: ${e.message}`, { cause: e });
      last = e instanceof Error ? e.message : e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last: ${String(JSON.stringify(last)).slice(0, 1500)}`,
      );
    await sleep(everyMs);
  }
}
