// `npm run bench:operator`: ArchivePolicies served by the operator on the local test servers (reused when
// running, else started and stopped again). Prints peak RSS, idle CPU, apply -> first status, time until
// all Idle, API requests at idle and MongoDB connections. Asserts nothing about time; exits non-zero only
// when the run cannot complete, naming what died.
// BENCH_POLICIES (default 200), BENCH_REPLICAS (1), BENCH_TIMED (20), BENCH_IDLE_SECONDS (60),
// BENCH_DEADLINE_SECONDS (1200) size it; BENCH_OPERATOR_ARGS adds operator flags (e.g.
// '--lease-duration=60s'); BENCH_OPERATOR_NODE_ARGS (e.g. '--cpu-prof
// --cpu-prof-dir=/tmp/prof') profiles the operator processes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../integration/operator/harness.js';
import { formatBenchResult, runOperatorBench } from './operator-bench-run.js';
import { mongoServerLabel } from '../support/testenv.js';

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

async function main(): Promise<void> {
  testenv('acquire');
  try {
    loadEnvFile();
    const env = (k: string, d: number) => Number(process.env[k] ?? d);
    const result = await runOperatorBench({
      policies: env('BENCH_POLICIES', 200),
      replicas: env('BENCH_REPLICAS', 1),
      timed: env('BENCH_TIMED', 20),
      idleSeconds: env('BENCH_IDLE_SECONDS', 60),
      deadlineSeconds: env('BENCH_DEADLINE_SECONDS', 1200),
      operatorArgs: (process.env.BENCH_OPERATOR_ARGS ?? '').split(' ').filter(Boolean),
      operatorNodeArgs: (process.env.BENCH_OPERATOR_NODE_ARGS ?? '').split(' ').filter(Boolean),
      log: (line) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
    });
    process.stdout.write(
      `\n${formatBenchResult(result)}\nMongoDB server: ${mongoServerLabel(process.env.GOCHIVE_MONGO ?? 'ferretdb')}\n`,
    );
    if (process.env.BENCH_JSON) process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
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
