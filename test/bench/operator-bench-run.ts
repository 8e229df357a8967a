// One run of the operator benchmark: N ArchivePolicies (each its own small, indexed collection with
// nothing eligible, so they all end Idle) on the local test servers, served by one or more operator
// processes. Returns figures; asserts nothing about time. It fails only when it cannot complete, and
// then names what died: an operator process that exited, the benchmark's own view of the API server,
// or the policies that never reported (with their phase and the operator's worker states).
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { adminKubeConfig } from '../support/kube.js';
import { ensureCrd, mustKubectl, OperatorProcess, sleep } from '../integration/operator/harness.js';
import { policyManifest, policySpec, sandbox, type Sandbox } from '../integration/operator/fixtures.js';
import { PolicyWatch } from './policy-watch.js';

export interface BenchOptions {
  policies: number;
  /** Policies applied one at a time, each timed to its first status (taken from `policies`). */
  timed: number;
  idleSeconds: number;
  replicas: number;
  /** The whole run gives up after this long. */
  deadlineSeconds: number;
  /** Extra operator flags (e.g. --lease-duration=60s). */
  operatorArgs?: string[];
  /** Node flags for the operator processes (e.g. --cpu-prof). */
  operatorNodeArgs?: string[];
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface ReplicaFigures {
  identity: string;
  peakRssMiB: number;
  endRssMiB: number;
  idleCpuPercent: number;
  leasesHeld: number;
  /** Leases acquired over the whole run (more than held: leases were lost or handed back and taken again). */
  leaseAcquisitions: number;
  /** Leases this replica fenced itself from, not renewed within the renew deadline, over the whole run. */
  leasesLostAtDeadline: number;
  statusWritesPerMin: number;
  leaseWritesPerMin: number;
}

export interface BenchResult {
  options: Omit<BenchOptions, 'log' | 'operatorNodeArgs' | 'operatorArgs'>;
  replicas: ReplicaFigures[];
  /** Apply of the first policy to the first status of the last of the bulk. */
  bulkFirstStatusSeconds: number;
  /** Apply of the first policy to every policy Idle. */
  allIdleSeconds: number;
  applyToFirstStatusMs: number[];
  idleWindowSeconds: number;
  /** API-server requests per minute at idle, by "VERB resource", the benchmark's own removed. */
  apiRequestsPerMin: Record<string, number>;
  mongoConnections: number;
  watch: string;
  firstStatusesFoundByRelist: number;
  loadAverage: string;
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
}

/** utime+stime of a process in seconds, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}
const clockTicks = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

function procStatusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const sum = (text: string, re: RegExp): number =>
  [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);

/** apiserver_request_total summed by "VERB resource" (resource requests only). */
async function apiserverRequests(): Promise<Map<string, number>> {
  const text = await mustKubectl(['get', '--raw', '/metrics']);
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^apiserver_request_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (!labels.resource) continue;
    const key = `${labels.verb} ${labels.resource}`;
    out.set(key, (out.get(key) ?? 0) + Number(m[2]));
  }
  return out;
}

export async function runOperatorBench(o: BenchOptions): Promise<BenchResult> {
  const log = o.log ?? (() => undefined);
  const deadline = Date.now() + o.deadlineSeconds * 1000;
  const ops: OperatorProcess[] = [];
  let watch: PolicyWatch | undefined;
  let sb: Sandbox | undefined;

  /** Waits for `done`; throws at once if an operator process or the watch died, and at the deadline. */
  const until = async (what: string, done: () => boolean, detail: () => Promise<string>): Promise<void> => {
    for (;;) {
      const exited = ops.find((op) => op.exitInfo);
      if (exited)
        throw new Error(
          `operator ${exited.name} exited (${JSON.stringify(exited.exitInfo)}) while waiting for ${what}; its last log lines:\n${exited.raw.slice(-20).join('\n')}`,
        );
      if (watch?.dead)
        throw new Error(`the benchmark's policy watch died while waiting for ${what}: ${watch.dead}`);
      if (done()) return;
      if (Date.now() > deadline)
        throw new Error(
          `gave up after the ${o.deadlineSeconds} s deadline waiting for ${what}: ${await detail().catch((e: unknown) => String(e))}`,
        );
      await sleep(20);
    }
  };

  /** Which policies are behind, what the benchmark saw of them and what the operators report. */
  const behind = (pred: (name: string) => boolean, names: string[]) => async (): Promise<string> => {
    const late = names.filter((n) => !pred(n));
    const states = new Map<string, string>();
    for (const op of ops) {
      const metrics = await op.metrics().catch(() => '');
      for (const m of metrics.matchAll(
        /^gochive_worker_state\{namespace="[^"]+",policy="([^"]+)",state="(\w+)"\} 1$/gm,
      ))
        states.set(m[1]!, `${op.name}:${m[2]}`);
    }
    const sample = late
      .slice(0, 10)
      .map(
        (n) =>
          `${n} (seen phase ${watch!.policies.get(n)?.phase ?? 'none'}, worker ${states.get(n) ?? 'none'})`,
      );
    return `${late.length} of ${names.length} not there, e.g. ${sample.join('; ')}; ${watch!.describe()}`;
  };

  try {
    await ensureCrd();
    sb = await sandbox('op-bench');
    const names = Array.from({ length: o.policies }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
    log(`seeding ${o.policies} collections`);
    const db = sb.db;
    for (let i = 0; i < names.length; i += 16)
      await Promise.all(
        names.slice(i, i + 16).map(async (n) => {
          await db.collection(n).createIndex({ createdAt: 1 });
          await db
            .collection(n)
            .insertMany(
              Array.from({ length: 5 }, (_, j) => ({ createdAt: new Date(Date.now() - j * 1000), j })),
            );
        }),
      );

    const kc = adminKubeConfig();
    watch = new PolicyWatch(kc, { namespace: sb.namespace });
    await watch.start();
    const spec = (n: string) =>
      policySpec(sb!, { archiveCheckInterval: 9, queryLimit: 2000, s3: { uploadInterval: 65 } }, n);

    log(`starting ${o.replicas} operator process(es)`);
    for (let r = 0; r < o.replicas; r++)
      ops.push(
        await OperatorProcess.start({
          name: `bench-${r}`,
          args: [
            ...sb.operatorArgs,
            '--status-min-interval=1s',
            `--identity=bench-replica-${r}`,
            ...(o.operatorArgs ?? []),
          ],
          nodeArgs: o.operatorNodeArgs ?? [],
        }),
      );

    const t0 = Date.now();
    const bulk = names.slice(0, o.policies - o.timed);
    // Created through the API, a few at a time, each retried: `kubectl apply` of 50 objects at once
    // outlasted kubectl's 60 s limit on a loaded machine with 1,000 policies.
    log(`creating ${bulk.length} policies`);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const create = (n: string) =>
      custom.createNamespacedCustomObject({
        group: 'gochive.io',
        version: 'v1alpha1',
        namespace: sb!.namespace,
        plural: 'archivepolicies',
        body: policyManifest(sb!.namespace, n, spec(n)),
      });
    const createRetried = async (n: string): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          await create(n);
          return;
        } catch (err) {
          const code = (err as { code?: number }).code;
          if (code === 409) return; // an earlier attempt got through after all
          if (attempt >= 5 || Date.now() > deadline) throw new Error(`creating policy ${n}`, { cause: err });
          await sleep(1000 * attempt);
        }
      }
    };
    for (let i = 0; i < bulk.length; i += 8) await Promise.all(bulk.slice(i, i + 8).map(createRetried));
    const hasStatus = (n: string) => watch!.policies.get(n)?.firstStatusAt !== undefined;
    await until(
      `${bulk.length} policies to report a status`,
      () => bulk.every(hasStatus),
      behind(hasStatus, bulk),
    );
    const bulkFirstStatusSeconds =
      (Math.max(...bulk.map((n) => watch!.policies.get(n)!.firstStatusAt!)) - t0) / 1000;
    log(
      `bulk: every policy has a status after ${bulkFirstStatusSeconds.toFixed(1)} s; timing ${o.timed} applies`,
    );

    // Timed applies, one at a time through the API (kubectl's own start-up would dominate), each to
    // the first status the watch delivers.
    const applyToFirstStatusMs: number[] = [];
    for (const n of names.slice(o.policies - o.timed)) {
      const start = Date.now();
      await create(n);
      await until(`${n} to report a status`, () => hasStatus(n), behind(hasStatus, [n]));
      applyToFirstStatusMs.push(watch.policies.get(n)!.firstStatusAt! - start);
      await sleep(500);
    }

    const isIdle = (n: string) => watch!.policies.get(n)?.phase === 'Idle';
    await until('every policy Idle', () => names.every(isIdle), behind(isIdle, names));
    const allIdleSeconds = (Date.now() - t0) / 1000;
    log(
      `all ${o.policies} Idle after ${allIdleSeconds.toFixed(1)} s; settling, then ${o.idleSeconds} s idle window`,
    );

    // Idle: let start-up work settle, then measure over a quiet window with the relist paused.
    await sleep(Math.min(15_000, Math.max(0, deadline - Date.now() - o.idleSeconds * 1000)));
    watch.pauseResync(true);
    const statusRe = /^gochive_status_writes_total\{result="ok"\} (\d+)/gm;
    const leaseRe = /^gochive_lease_writes_total\{[^}]*\} (\d+)/gm;
    const api0 = await apiserverRequests();
    const own0 = { ...watch.requests };
    const before = await Promise.all(
      ops.map(async (op) => ({ metrics: await op.metrics(), cpu: cpuSeconds(op.pid) })),
    );
    const w0 = Date.now();
    await until(
      `the ${o.idleSeconds} s idle window`,
      () => Date.now() - w0 >= o.idleSeconds * 1000,
      async () => '',
    );
    const window = (Date.now() - w0) / 1000;
    const replicas: ReplicaFigures[] = [];
    for (const [i, op] of ops.entries()) {
      const cpu = cpuSeconds(op.pid);
      const m = await op.metrics();
      replicas.push({
        identity: `bench-replica-${i}`,
        peakRssMiB: procStatusMiB(op.pid, 'VmHWM'),
        endRssMiB: procStatusMiB(op.pid, 'VmRSS'),
        idleCpuPercent: ((cpu - before[i]!.cpu) / window) * 100,
        leasesHeld: Number(/^gochive_leases_held (\d+)/m.exec(m)?.[1] ?? NaN),
        leaseAcquisitions: Number(/^gochive_lease_writes_total\{op="acquire"\} (\d+)/m.exec(m)?.[1] ?? 0),
        leasesLostAtDeadline: op.lines.filter(
          (l) =>
            l.msg === 'lease lost; stopping worker' && l.reason === 'not renewed within the renew deadline',
        ).length,
        statusWritesPerMin: ((sum(m, statusRe) - sum(before[i]!.metrics, statusRe)) / window) * 60,
        leaseWritesPerMin: ((sum(m, leaseRe) - sum(before[i]!.metrics, leaseRe)) / window) * 60,
      });
    }
    const api1 = await apiserverRequests();
    const apiRequestsPerMin: Record<string, number> = {};
    for (const [k, v] of api1) {
      let d = v - (api0.get(k) ?? 0);
      if (k === 'LIST archivepolicies') d -= watch.requests.list - own0.list;
      if (k === 'WATCH archivepolicies') d -= watch.requests.watch - own0.watch;
      if (d > 0) apiRequestsPerMin[k] = (d / window) * 60;
    }
    watch.pauseResync(false);
    const mongoConnections = sb.proxy.openConnections;

    return {
      options: {
        policies: o.policies,
        timed: o.timed,
        idleSeconds: o.idleSeconds,
        replicas: o.replicas,
        deadlineSeconds: o.deadlineSeconds,
      },
      replicas,
      bulkFirstStatusSeconds,
      allIdleSeconds,
      applyToFirstStatusMs,
      idleWindowSeconds: window,
      apiRequestsPerMin,
      mongoConnections,
      watch: watch.describe(),
      firstStatusesFoundByRelist: [...watch.policies.values()].filter((p) => p.firstStatusByList).length,
      loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    };
  } catch (err) {
    // The operators' whole logs, for the post-mortem the error message can only start.
    const files = ops.map((op) => {
      const file = path.join(os.tmpdir(), `gochive-bench-${op.name}-${process.pid}.log`);
      writeFileSync(file, op.logText());
      return file;
    });
    if (files.length) log(`operator logs: ${files.join(', ')}`);
    throw err;
  } finally {
    watch?.stop();
    await Promise.all(ops.map((op) => op.stop()));
    await sb?.cleanup();
  }
}

export function formatBenchResult(r: BenchResult): string {
  const ms = r.applyToFirstStatusMs;
  const total = (f: (x: ReplicaFigures) => number) => r.replicas.reduce((n, x) => n + f(x), 0);
  const per = (f: (x: ReplicaFigures) => number, digits: number, unit: string) =>
    r.replicas.length > 1
      ? `${total(f).toFixed(digits)}${unit} (${r.replicas.map((x) => f(x).toFixed(digits)).join(' + ')})`
      : `${total(f).toFixed(digits)}${unit}`;
  const api = Object.entries(r.apiRequestsPerMin)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ');
  const apiTotal = Object.values(r.apiRequestsPerMin).reduce((a, b) => a + b, 0);
  const rows: Array<[string, string]> = [
    ['policies / operator processes', `${r.options.policies} / ${r.replicas.length}`],
    ['leases held', per((x) => x.leasesHeld, 0, '')],
    [
      'leases acquired / lost at the renew deadline (whole run)',
      `${per((x) => x.leaseAcquisitions, 0, '')} / ${per((x) => x.leasesLostAtDeadline, 0, '')}`,
    ],
    ['peak RSS (VmHWM)', per((x) => x.peakRssMiB, 0, ' MiB')],
    ['RSS at the end', per((x) => x.endRssMiB, 0, ' MiB')],
    [`idle CPU (${r.idleWindowSeconds.toFixed(0)} s, % of one core)`, per((x) => x.idleCpuPercent, 1, ' %')],
    [
      `apply -> first status (${ms.length} applies)`,
      `median ${quantile(ms, 0.5).toFixed(0)} ms, p95 ${quantile(ms, 0.95).toFixed(0)} ms, max ${Math.max(...ms)} ms`,
    ],
    [
      `first status for the first ${r.options.policies - r.options.timed} (bulk apply)`,
      `${r.bulkFirstStatusSeconds.toFixed(1)} s`,
    ],
    ['first apply -> all Idle', `${r.allIdleSeconds.toFixed(1)} s`],
    ['API requests/min at idle (all clients but the benchmark)', `${apiTotal.toFixed(1)}: ${api || 'none'}`],
    [
      '  of which status writes / lease writes',
      `${per((x) => x.statusWritesPerMin, 1, '')} / ${per((x) => x.leaseWritesPerMin, 1, '')}`,
    ],
    ['MongoDB connections open at idle', String(r.mongoConnections)],
    ['benchmark watch', `${r.watch}; first statuses found by relist: ${r.firstStatusesFoundByRelist}`],
    ['load average at the end', r.loadAverage],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}
