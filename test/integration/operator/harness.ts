// Shared pieces of the operator integration tests: kubectl against the test cluster, the CRD, unique
// namespaces, the operator as a real child process (so SIGTERM and kill -9 are real), and bounded waits.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { ArchivePolicy } from '../../../operator/api/schema.js';
import { adminKubeConfig } from '../../support/kube.js';
import { fileURLToPath } from 'node:url';
import { testEnv } from '../../support/testenv.js';
import { waitForCrdsEstablished } from '../../support/crd-established.js';

/** The repository root, whether this file runs from test/ (jest) or from dist/test/ (the benchmark). */
function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist') {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (package.json)');
    dir = up;
  }
  return dir;
}
export const repoRoot = findRepoRoot();

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real kubectl against the test cluster; never rejects. */
export function kubectl(
  args: string[],
  opts: { input?: string; kubeconfig?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const env = testEnv();
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      args,
      {
        env: { ...process.env, KUBECONFIG: opts.kubeconfig ?? env.kubeconfig, PATH: env.path },
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 << 20,
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        // A kubectl killed at the time limit has nothing on stderr: say why it ended.
        const killed = (err as { killed?: boolean } | null)?.killed
          ? `${stderr}(kubectl killed after ${opts.timeoutMs ?? 60_000} ms)`
          : stderr;
        resolve({ code, stdout, stderr: killed });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

export async function mustKubectl(
  args: string[],
  opts: { input?: string; kubeconfig?: string } = {},
): Promise<string> {
  const r = await kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Applies one or more objects (as YAML). */
export async function apply(objects: object | object[], kubeconfig?: string): Promise<void> {
  const docs = (Array.isArray(objects) ? objects : [objects]).map((o) => stringify(o)).join('---\n');
  await mustKubectl(['apply', '-f', '-'], { input: docs, ...(kubeconfig ? { kubeconfig } : {}) });
}

/** Installs the generated CRD (shared by every test; it is never deleted). */
export async function ensureCrd(): Promise<void> {
  await mustKubectl([
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    path.join(repoRoot, 'crds', 'archivepolicies.gochive.io.yaml'),
  ]);
  const env = testEnv();
  await waitForCrdsEstablished(['archivepolicies.gochive.io'], {
    env: { ...process.env, KUBECONFIG: env.kubeconfig, PATH: env.path },
  });
}

export async function createNamespace(name: string): Promise<void> {
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

export async function deleteNamespace(name: string): Promise<void> {
  await kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found']);
}

/** Polls `fn` until it returns a truthy value; fails after `timeoutMs` with `what` and the last value. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}`,
      );
    await sleep(everyMs);
  }
}

/** The ArchivePolicy as stored now (undefined when absent). */
export async function getPolicy(
  namespace: string,
  name: string,
  kc: KubeConfig = adminKubeConfig(),
): Promise<ArchivePolicy | undefined> {
  try {
    return (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: 'gochive.io',
      version: 'v1alpha1',
      namespace,
      plural: 'archivepolicies',
      name,
    })) as ArchivePolicy;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

export function condition(p: ArchivePolicy | undefined, type: string) {
  return p?.status?.conditions?.find((c) => c.type === type);
}

/** Compiled files `gochive operator` loads that are older than their sources (import graph of cli/operator.js). */
function staleFiles(): string[] {
  const entry = path.join(repoRoot, 'dist', 'operator', 'cli', 'operator.js');
  if (!existsSync(entry)) return ['operator/cli/operator.ts'];
  const seen = new Set<string>();
  const stale: string[] = [];
  const visit = (js: string, follow = true): void => {
    if (seen.has(js) || !existsSync(js)) return;
    seen.add(js);
    const src = path.join(repoRoot, path.relative(path.join(repoRoot, 'dist'), js)).replace(/\.js$/, '.ts');
    const srcTime = statSync(src, { throwIfNoEntry: false })?.mtimeMs;
    if (srcTime !== undefined && statSync(js).mtimeMs + 1000 < srcTime)
      stale.push(path.relative(repoRoot, src));
    if (!follow) return;
    const text = readFileSync(js, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\()\s*['"](\.{1,2}\/[^'"]+\.js)['"]/g))
      visit(path.resolve(path.dirname(js), m[1]!));
  };
  visit(entry);
  // main.js itself, not the other commands it can load.
  visit(path.join(repoRoot, 'dist', 'operator', 'cli', 'main.js'), false);
  return stale;
}

let built = false;

/**
 * Makes sure dist/ holds the operator as the sources are now: when a compiled file is older than its
 * source, runs `tsc -p .` once per test process (incremental; it emits even if another file has type
 * errors), serialised between processes by a lock directory.
 */
export function ensureBuilt(): void {
  if (built) return;
  const stale = staleFiles();
  if (stale.length > 0) {
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
      process.stderr.write(
        `operator tests: dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}; running tsc -p .\n`,
      );
      spawnSync(
        process.execPath,
        [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', repoRoot],
        { cwd: repoRoot, stdio: 'ignore', timeout: 300_000 },
      );
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
    // tsc leaves an output alone when its source only got a new mtime (same text): mark it current so
    // the next test file does not compile again for nothing.
    const now = new Date();
    for (const src of staleFiles()) {
      const js = path.join(repoRoot, 'dist', src).replace(/\.ts$/, '.js');
      if (existsSync(js)) utimesSync(js, now, now);
    }
    if (!existsSync(path.join(repoRoot, 'dist', 'operator', 'cli', 'operator.js')))
      throw new Error(
        'tsc did not produce dist/operator/cli/operator.js: run `npx tsc -p .` and look at its errors',
      );
  }
  built = true;
}

export interface LogLine {
  level: number;
  time: string;
  msg: string;
  [k: string]: unknown;
}

export interface OperatorStartOptions {
  /** Name used in the spool dir and in failure messages. */
  name: string;
  args: string[];
  env?: Record<string, string>;
  kubeconfig?: string;
  /** Reuse a spool directory (a restarted container with the same emptyDir); default: a fresh one. */
  spoolDir?: string;
  /** Leave the spool directory in place on stop() (for a successor to reuse). */
  keepSpool?: boolean;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
}

/** `gochive operator` as a child process, with its stderr (pino JSON) captured line by line. */
export class OperatorProcess {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  metricsPort = 0;
  keepSpool = false;
  readonly spoolDir: string;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    spoolDir: string,
  ) {
    this.spoolDir = spoolDir;
    let partial = '';
    const onData = (chunk: Buffer): void => {
      partial += chunk.toString('utf8');
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        if (!line.trim()) continue;
        this.raw.push(line);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          /* not JSON (should not happen) — kept in raw */
        }
        if (process.env.GOCHIVE_TEST_OPERATOR_LOGS) process.stderr.write(`[${name}] ${line}\n`);
      }
    };
    proc.stderr!.on('data', onData);
    proc.stdout!.on('data', onData);
    this.exited = new Promise((resolve) =>
      proc.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve({ code, signal });
      }),
    );
  }

  static async start(o: OperatorStartOptions): Promise<OperatorProcess> {
    ensureBuilt();
    const env = testEnv();
    const spoolDir = o.spoolDir ?? mkdtempSync(path.join(os.tmpdir(), `gochive-op-${o.name}-`));
    const proc = spawn(
      process.execPath,
      [
        ...(o.nodeArgs ?? []),
        path.join(repoRoot, 'dist', 'operator', 'cli', 'main.js'),
        'operator',
        `--kubeconfig=${o.kubeconfig ?? env.kubeconfig}`,
        '--metrics-bind-address=127.0.0.1:0',
        `--spool-dir=${spoolDir}`,
        ...o.args,
      ],
      {
        cwd: repoRoot,
        env: {
          PATH: env.path,
          HOME: process.env.HOME ?? os.homedir(),
          ...(o.env ?? {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const op = new OperatorProcess(o.name, proc, spoolDir);
    op.keepSpool = o.keepSpool ?? false;
    const serving = await op.waitForLog(
      'metrics server',
      (l) => l.msg === 'serving /metrics, /healthz and /readyz',
      30_000,
    );
    op.metricsPort = Number(String(serving.address).split(':').pop());
    return op;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Peak resident memory of the process so far (VmHWM), in bytes. */
  peakRssBytes(): number {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    if (!m) throw new Error(`no VmHWM in /proc/${this.pid}/status`);
    return Number(m[1]) * 1024;
  }

  logText(): string {
    return this.raw.join('\n');
  }

  /** Waits for a log line matching `pred` (already seen or future). */
  async waitForLog(what: string, pred: (l: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    return waitFor(
      `${this.name} to log ${what}`,
      () => {
        if (this.exitInfo)
          throw new Error(
            `${this.name} exited (${JSON.stringify(this.exitInfo)}) before logging ${what}:\n${this.raw.slice(-30).join('\n')}`,
          );
        return this.lines.find(pred);
      },
      timeoutMs,
      100,
    );
  }

  async http(pathname: string): Promise<{ status: number; body: string }> {
    const r = await fetch(`http://127.0.0.1:${this.metricsPort}${pathname}`);
    return { status: r.status, body: await r.text() };
  }

  async metrics(): Promise<string> {
    const r = await this.http('/metrics');
    if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
    return r.body;
  }

  /** Policies ("ns/name") whose worker this process reports running (state Starting, Archiving, Idle, Paused). */
  async runningPolicies(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const line of (await this.metrics()).split('\n')) {
      const m =
        /^gochive_worker_state\{namespace="([^"]+)",policy="([^"]+)",state="(Starting|Archiving|Idle|Paused)"\} 1$/.exec(
          line,
        );
      if (m) out.add(`${m[1]}/${m[2]}`);
    }
    return out;
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.exitInfo) this.proc.kill(sig);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `timeoutMs`; removes its spool dir. */
  async stop(timeoutMs = 40_000): Promise<void> {
    if (!this.exitInfo) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(t);
    }
    if (!this.keepSpool) rmSync(this.spoolDir, { recursive: true, force: true });
  }
}

/** Writes a kubeconfig file for `kc` (e.g. a ServiceAccount token config) and returns its path. */
export function writeKubeconfig(kc: KubeConfig): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gochive-kc-'));
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
  return file;
}
