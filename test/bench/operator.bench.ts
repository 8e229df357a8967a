// `npm run bench:operator`: 200 ArchivePolicies in one operator process, on the local test servers
// (reused when running, else started and stopped again). Prints peak RSS, idle CPU %, and the median
// time from `kubectl apply` of a policy to its first status update over 20 applies. Asserts nothing.
// BENCH_POLICIES (default 200), BENCH_TIMED (default 20) and BENCH_IDLE_SECONDS (default 60) size it.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Watch } from '@kubernetes/client-node';
import type { ArchivePolicy } from '../../operator/api/schema.js';
import { adminKubeConfig } from '../support/kube.js';
import {
  apply,
  ensureCrd,
  mustKubectl,
  OperatorProcess,
  repoRoot,
  sleep,
  waitFor,
} from '../integration/operator/harness.js';
import { policyManifest, policySpec, sandbox } from '../integration/operator/fixtures.js';

const POLICIES = Number(process.env.BENCH_POLICIES ?? 200);
const TIMED = Number(process.env.BENCH_TIMED ?? 20);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60);

function testenv(cmd: 'acquire' | 'release'): void {
  const r = spawnSync(
    process.execPath,
    [path.join(repoRoot, 'dist', 'test', 'env', 'cli.js'), cmd, '--pid', String(process.pid)],
    { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.status !== 0) throw new Error(`testenv ${cmd} failed (${r.status ?? r.signal})`);
}

function loadEnvFile(): void {
  for (const line of readFileSync(path.join(repoRoot, '.testenv', 'env'), 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!;
    if (v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1).replace(/'\\''/g, "'");
    process.env[m[1]!] = m[1] === 'PATH' ? `${v}:${process.env.PATH ?? ''}` : v;
  }
}

/** utime+stime of a process in seconds, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hz = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100;
  return ticks / hz;
}

function procStatusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function main(): Promise<void> {
  testenv('acquire');
  loadEnvFile();
  await ensureCrd();
  const sb = await sandbox('op-bench');
  let op: OperatorProcess | undefined;
  let watch: AbortController | undefined;
  try {
    const names = Array.from({ length: POLICIES }, (_, i) => `bench-${String(i).padStart(3, '0')}`);
    process.stdout.write(
      `operator benchmark: ${POLICIES} policies (seed-like intervals: fetch every 9 s, upload every 65 s), one operator process\n`,
    );
    // Each policy has its own indexed collection with a few young documents: nothing eligible (idle).
    for (const n of names) {
      await sb.db.collection(n).createIndex({ createdAt: 1 });
      await sb.db
        .collection(n)
        .insertMany(Array.from({ length: 5 }, (_, i) => ({ createdAt: new Date(Date.now() - i * 1000), i })));
    }
    const created = new Map<string, number>();
    const firstStatus = new Map<string, number>();
    watch = await new Watch(adminKubeConfig()).watch(
      `/apis/gochive.io/v1alpha1/namespaces/${sb.namespace}/archivepolicies`,
      {},
      (type: string, obj: ArchivePolicy) => {
        const n = obj.metadata.name;
        if (type === 'ADDED' && !created.has(n)) created.set(n, Date.now());
        if (obj.status?.phase && !firstStatus.has(n)) firstStatus.set(n, Date.now());
      },
      () => undefined,
    );
    const spec = (n: string) =>
      policySpec(sb, { archiveCheckInterval: 9, queryLimit: 2000, s3: { uploadInterval: 65 } }, n);

    const t0 = Date.now();
    // BENCH_OPERATOR_NODE_ARGS (e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof') profiles the operator.
    op = await OperatorProcess.start({
      name: 'bench',
      args: [...sb.operatorArgs, '--status-min-interval=1s'],
      nodeArgs: (process.env.BENCH_OPERATOR_NODE_ARGS ?? '').split(' ').filter(Boolean),
    });
    const bulk = names.slice(0, POLICIES - TIMED);
    for (let i = 0; i < bulk.length; i += 50)
      await apply(bulk.slice(i, i + 50).map((n) => policyManifest(sb.namespace, n, spec(n))));
    await waitFor(
      `${bulk.length} policies to report a status`,
      () => bulk.every((n) => firstStatus.has(n)),
      600_000,
      500,
    );
    const bulkSeconds = (Date.now() - t0) / 1000;

    // 20 timed applies, one at a time, each to its first status update.
    const fromApply: number[] = [];
    const fromCreate: number[] = [];
    for (const n of names.slice(POLICIES - TIMED)) {
      const start = Date.now();
      await mustKubectl(['apply', '-f', '-'], {
        input: JSON.stringify(policyManifest(sb.namespace, n, spec(n))),
      });
      await waitFor(`${n} to report a status`, () => firstStatus.has(n), 60_000, 10);
      fromApply.push(firstStatus.get(n)! - start);
      fromCreate.push(firstStatus.get(n)! - (created.get(n) ?? start));
      await sleep(500);
    }
    await waitFor(
      'every policy Idle',
      async () => {
        const out = await mustKubectl([
          'get',
          'ap',
          '-n',
          sb.namespace,
          '-o',
          'jsonpath={.items[*].status.phase}',
        ]);
        const phases = out.split(' ').filter(Boolean);
        return phases.length === POLICIES && phases.every((p) => p === 'Idle');
      },
      600_000,
      2000,
    );

    // Idle: let start-up work settle, then measure CPU over a quiet window.
    await sleep(15_000);
    const counter = (text: string, re: RegExp): number =>
      [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
    const statusRe = /^gochive_status_writes_total\{result="ok"\} (\d+)/gm;
    const leaseRe = /^gochive_lease_writes_total\{[^}]*\} (\d+)/gm;
    const m0 = await op.metrics();
    const c0 = cpuSeconds(op.pid);
    const w0 = Date.now();
    await sleep(IDLE_SECONDS * 1000);
    const idleCpu = ((cpuSeconds(op.pid) - c0) / ((Date.now() - w0) / 1000)) * 100;
    const m1 = await op.metrics();
    const window = (Date.now() - w0) / 1000;
    const statusPerSec = (counter(m1, statusRe) - counter(m0, statusRe)) / window;
    const leasePerSec = (counter(m1, leaseRe) - counter(m0, leaseRe)) / window;
    const peakRss = procStatusKb(op.pid, 'VmHWM') / 1024;
    const rss = procStatusKb(op.pid, 'VmRSS') / 1024;
    const metrics = await op.metrics();
    const leases = /^gochive_leases_held (\d+)/m.exec(metrics)?.[1];
    const workers = (metrics.match(/^gochive_worker_state\{[^}]*state="Idle"\} 1$/gm) ?? []).length;

    const rows: Array<[string, string]> = [
      ['policies', String(POLICIES)],
      ['workers Idle / leases held', `${workers} / ${leases}`],
      [`time to first status for the first ${bulk.length} (bulk apply)`, `${bulkSeconds.toFixed(1)} s`],
      ['peak RSS (VmHWM)', `${peakRss.toFixed(0)} MiB`],
      ['RSS at the end', `${rss.toFixed(0)} MiB`],
      [`idle CPU (over ${IDLE_SECONDS} s, % of one core)`, `${idleCpu.toFixed(1)} %`],
      [
        'idle API writes: status patches / lease writes',
        `${statusPerSec.toFixed(1)}/s / ${leasePerSec.toFixed(1)}/s`,
      ],
      [
        `median kubectl apply -> first status (${TIMED} applies)`,
        `${median(fromApply).toFixed(0)} ms (min ${Math.min(...fromApply)}, max ${Math.max(...fromApply)})`,
      ],
      ['median object created -> first status', `${median(fromCreate).toFixed(0)} ms`],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(`\n${rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')}\n`);
  } finally {
    watch?.abort();
    await op?.stop();
    await sb.cleanup();
    testenv('release');
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:operator failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
