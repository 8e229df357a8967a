// Runs `gochive operator` as a local process the way an installed chart would run it in a pod: the
// container args of the release's rendered Deployment, its literal env values, and the identity of the
// chart's ServiceAccount (a TokenRequest token), so the chart's RBAC is what the operator gets.
// Only what cannot hold outside a pod changes: the spool lives in a local directory and metrics
// listen on a free loopback port. (The chart e2e test starts its operator the same way.)
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mustRun, parseManifests } from '../integration/chart/helm.js';
import { serviceAccountKubeConfig } from '../support/kube.js';
import { repoRoot } from '../env/paths.js';

interface PodSpec {
  serviceAccountName: string;
  containers: Array<{ args: string[]; env?: Array<{ name: string; value?: string }> }>;
}

export interface LocalOperator {
  child: ChildProcess;
  metricsUrl: string;
  logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (or null if killed). */
  stop(graceMs?: number): Promise<number | null>;
  /** The last `lines` lines of the operator's log. */
  logTail(lines?: number): string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts the operator for helm release `release` in `namespace`. `workDir` receives the spool, the
 * ServiceAccount kubeconfig and `operator.log`. Resolves once /readyz answers 200.
 */
export async function startLocalOperator(opts: {
  release: string;
  namespace: string;
  workDir: string;
  readyTimeoutMs?: number;
}): Promise<LocalOperator> {
  const cli = path.join(repoRoot, 'dist', 'operator', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'npm run build' first`);
  const manifest = parseManifests(
    await mustRun('helm', ['get', 'manifest', opts.release, '-n', opts.namespace], { timeoutMs: 120_000 }),
  );
  const deploy = manifest.find((o) => o.kind === 'Deployment');
  if (!deploy) throw new Error(`helm release ${opts.release} has no Deployment`);
  const pod = (deploy.spec as { template: { spec: PodSpec } }).template.spec;
  const container = pod.containers[0]!;
  const [command, ...flags] = container.args;

  const spoolDir = path.join(opts.workDir, 'spool');
  await mkdir(spoolDir, { recursive: true });
  const metricsPort = await freePort();
  const args = flags.map((f) =>
    f.startsWith('--spool-dir=')
      ? `--spool-dir=${spoolDir}`
      : f.startsWith('--metrics-bind-address=')
        ? `--metrics-bind-address=127.0.0.1:${metricsPort}`
        : f,
  );
  const kubeconfig = path.join(opts.workDir, 'operator-kubeconfig');
  const kc = await serviceAccountKubeConfig(opts.namespace, pod.serviceAccountName);
  await writeFile(kubeconfig, kc.exportConfig(), { mode: 0o600 });

  // Literal env values of the container (e.g. AWS_REGION from aws.region); fieldRefs are filled below.
  const chartEnv: Record<string, string> = {};
  for (const e of container.env ?? []) if (e.value !== undefined) chartEnv[e.name] = e.value;

  const logFile = path.join(opts.workDir, 'operator.log');
  const fd = openSync(logFile, 'a');
  // Detached: a Ctrl-C in the terminal reaches the demo, which then stops the operator with SIGTERM
  // (a clean shutdown releasing its Leases) instead of both racing.
  const child = spawn(process.execPath, [cli, command!, ...args], {
    cwd: repoRoot,
    detached: true,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? os.tmpdir(),
      ...chartEnv,
      KUBECONFIG: kubeconfig,
      POD_NAME: `${opts.release}-local`,
      POD_NAMESPACE: opts.namespace,
      // No AWS keys here: the policy's S3 credentials come from its Secret, read with the chart's RBAC.
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);

  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(child.exitCode ?? 1));
  });
  const logTail = (lines = 30): string => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no operator log)';
    }
  };
  const handle: LocalOperator = {
    child,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    logFile,
    logTail,
    async stop(graceMs = 45_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the operator exited during start (code ${child.exitCode}); log tail:\n${logTail()}`);
    const res = await fetch(`${handle.metricsUrl}/readyz`).catch(() => undefined);
    if (res?.status === 200) return handle;
    if (Date.now() > deadline) {
      await handle.stop(5_000);
      throw new Error(
        `the operator did not answer /readyz within ${Math.round((opts.readyTimeoutMs ?? 120_000) / 1000)}s; log tail:\n${logTail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
