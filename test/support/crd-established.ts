// Waits until CustomResourceDefinitions are served, by polling their Established condition.
//
// Not `kubectl wait --for=condition=Established`: right after `kubectl apply` creates a CRD, its status
// has no conditions yet, and kubectl wait (v1.36) then exits at once with
//   error: .status.conditions accessor error: <nil> is of the type <nil>, expected []interface{}
// (seen failing every test of a suite whose beforeAll installed the CRD). This poll treats "no
// conditions yet" and "not found yet" as "not yet", and gives up after a bounded time with what it saw.
//
// Self-contained (only kubectl on PATH and the caller's environment), so tests, the chaos campaign and
// the demo share it.
import { execFile } from 'node:child_process';

export interface WaitForCrdsOptions {
  /** Environment for kubectl (KUBECONFIG, PATH); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Give up after this long; default 60 s. */
  timeoutMs?: number;
  /** Poll interval; default 200 ms. */
  everyMs?: number;
}

interface CrdStatus {
  status?: { conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }> };
}

function getCrd(name: string, env: NodeJS.ProcessEnv): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'kubectl',
      ['get', 'customresourcedefinition', name, '-o', 'json'],
      { env, timeout: 30_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) =>
        resolve(err ? { ok: false, out: stderr || err.message } : { ok: true, out: stdout }),
    );
  });
}

/** What stands between `name` and Established=True, or undefined when it is established. */
async function notEstablished(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const r = await getCrd(name, env);
  if (!r.ok) return `kubectl get: ${r.out.trim()}`;
  const crd = JSON.parse(r.out) as CrdStatus;
  const conditions = crd.status?.conditions ?? [];
  const established = conditions.find((c) => c.type === 'Established');
  if (established?.status === 'True') return undefined;
  if (!established) return `no Established condition yet (conditions: ${JSON.stringify(conditions)})`;
  return `Established=${established.status} (${established.reason ?? ''}: ${established.message ?? ''})`;
}

/** Resolves when every CRD in `names` (e.g. archivepolicies.gochive.io) has Established=True. */
export async function waitForCrdsEstablished(names: string[], opts: WaitForCrdsOptions = {}): Promise<void> {
  const env = opts.env ?? process.env;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const everyMs = opts.everyMs ?? 200;
  const deadline = Date.now() + timeoutMs;
  let pending = [...names];
  const last = new Map<string, string>();
  for (;;) {
    const still: string[] = [];
    for (const name of pending) {
      const why = await notEstablished(name, env);
      if (why !== undefined) {
        still.push(name);
        last.set(name, why);
      }
    }
    pending = still;
    if (pending.length === 0) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `CRDs not Established after ${timeoutMs} ms: ${pending.map((n) => `${n}: ${last.get(n)}`).join('; ')}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
