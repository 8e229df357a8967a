// `make demo`: the whole product on one machine, in a couple of minutes. Starts the local stack (or
// reuses a running one), seeds an event-log collection, installs the chart with one original-style
// policy (test/demo/values.yaml), runs the operator as the chart would, shows the policy's status until
// its backlog is archived, lists the bundles, checks the counts, and stops everything it started —
// also on Ctrl-C or failure. The Makefile builds gochive first (step 1).
//
// Settings (environment, e.g. `make demo DEMO_TIMEOUT=20m`):
//   DEMO_TIMEOUT  how long the policy may take to go Idle (default 20m: FerretDB scans, a busy machine is slow)
//   DEMO_DOCS     documents to seed (default 100000)
//   DEMO_KEEP=1   leave the stack, the data and the release in place at the end (the operator stops)
//   DEMO_LOG_LEVEL  the operator's log level (default: the values file's, info)
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { MongoClient } from 'mongodb';
import { parse, stringify } from 'yaml';
import { parseDuration } from '../../operator/api/duration.js';
import { parseEnvFile } from '../env/envfile.js';
import { acquire, release, up } from '../env/lifecycle.js';
import { envFilePath, repoRoot, stateDir } from '../env/paths.js';
import { dropLease, readState } from '../env/state.js';
import { e2eEnv } from '../integration/chart/e2e-env.js';
import { mustRun, runTool } from '../integration/chart/helm.js';
import { waitForCrdsEstablished } from '../support/crd-established.js';
import { mongoServerLabel } from '../support/testenv.js';
import { startLocalOperator, type LocalOperator } from './local-operator.js';
import { seedEvents } from './seed.js';
import { watchUntilIdle } from './status-watch.js';
import { duration, info, step, warn } from './ui.js';

const STEPS = 8;
const RELEASE = 'gochive';
const CUTOFF_DAYS = 92; // the entry's ageLimit
const SPAN_DAYS = 180;
// The repo root from package.json, wherever this runs from (test/demo or dist/test/demo).
const chartDir = path.join(repoRoot, 'charts', 'gochive');
const valuesFile = path.join(repoRoot, 'test', 'demo', 'values.yaml');
const crdFile = path.join(chartDir, 'crds', 'archivepolicies.gochive.io.yaml');
const cli = path.join(repoRoot, 'dist', 'operator', 'cli', 'main.js');
const rel = (p: string): string => path.relative(process.cwd(), p) || '.';

const settings = {
  timeoutMs: parseDuration(process.env.DEMO_TIMEOUT || '20m', 'DEMO_TIMEOUT'),
  docs: Number.parseInt(process.env.DEMO_DOCS || '100000', 10),
  keep: process.env.DEMO_KEEP === '1',
};
if (!Number.isInteger(settings.docs) || settings.docs < 1000)
  throw new Error(`DEMO_DOCS=${process.env.DEMO_DOCS}: use a whole number of at least 1000`);

// ---- what the demo started, so cleanup stops exactly that

const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const workDir = path.join(stateDir, 'demo', runId);
const started = {
  stack: undefined as Promise<{ started: boolean }> | undefined,
  stackStarted: false,
  /** state.json's createdAt of the stack we hold: tells whether it is still the same stack at the end. */
  stackCreatedAt: undefined as string | undefined,
  s3: undefined as S3Client | undefined,
  mongo: undefined as MongoClient | undefined,
  bucket: undefined as string | undefined,
  database: undefined as string | undefined,
  namespace: undefined as string | undefined,
  release: false,
  operator: undefined as LocalOperator | undefined,
};

// ---- interruption: the first Ctrl-C stops the current step and cleans up; a second one skips the cleanup

class Interrupted extends Error {}
const abort = new AbortController();
let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    signals++;
    if (signals === 1) {
      process.stdout.write(`\n`);
      warn(`${sig}: stopping the demo and cleaning up (press Ctrl-C again to skip the cleanup)`);
      abort.abort(new Interrupted(sig));
      return;
    }
    started.operator?.child.kill('SIGKILL');
    dropLease(process.pid);
    warn('cleanup skipped; `make testenv-down` stops the stack');
    process.exit(130);
  });
}

/** Rejects as soon as the demo is interrupted, whatever `p` is still doing. */
function abortable<T>(p: Promise<T>): Promise<T> {
  const { signal } = abort;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

// ---- steps

/** Step 2: reuse the running stack or start one; either way hold a lease on it while the demo runs. */
async function startStack(): Promise<void> {
  step(
    2,
    STEPS,
    'Starting the local stack: etcd + kube-apiserver, FerretDB (MongoDB wire protocol), versitygw (S3)',
  );
  info('(binaries are built from their Go modules on first use; that takes 10-15 minutes once)');
  started.stack = acquire(process.pid, (m) => info(m.replace(/^testenv: /, ''))).then((r) => {
    // Recorded here, not after the await below: an interrupted start still needs it in cleanup.
    started.stackCreatedAt = readState()?.createdAt;
    return r;
  });
  const { started: fresh } = await abortable(started.stack);
  started.stackStarted = fresh;
  // Same as `source .testenv/env`: KUBECONFIG, MONGODB_URI, AWS_*, and PATH with kubectl and helm first.
  Object.assign(process.env, parseEnvFile(readFileSync(envFilePath, 'utf8')));
  info(
    fresh
      ? 'started a stack for this demo; it stops at the end'
      : `reusing the stack that is already running (${rel(envFilePath)}); it keeps running afterwards`,
  );
  info(`kube-apiserver  ${serverOf(process.env.KUBECONFIG!)}`);
  info(`${mongoServerLabel(process.env.GOCHIVE_MONGO ?? 'ferretdb')}  ${process.env.MONGODB_URI}`);
  info(`versitygw (S3)  ${process.env.AWS_ENDPOINT_URL_S3}`);
}

function serverOf(kubeconfig: string): string {
  const m = /server:\s*(\S+)/.exec(readFileSync(kubeconfig, 'utf8'));
  return m?.[1] ?? kubeconfig;
}

interface DemoNames {
  namespace: string;
  database: string;
  collection: string;
  bucket: string;
  prefix: string;
  policy: string;
}

/** The values file's names; on a shared stack with a run suffix, so runs never meet. */
function namesFrom(values: DemoValues, shared: boolean): DemoNames {
  const p = values.policies[0]!;
  const [bucket, ...rest] = p.s3.bucket.split('/');
  const suffix = shared ? `-${runId}` : '';
  return {
    namespace: `gochive-demo${suffix}`,
    database: shared ? `${p.database}_${runId}` : p.database,
    collection: p.collection,
    bucket: `${bucket}${suffix}`,
    prefix: rest.filter(Boolean).join('/') + '/',
    policy: p.name,
  };
}

/** Step 3: the collection to archive. */
async function seed(names: DemoNames): Promise<{ seeded: number; olderThanCutoff: number }> {
  step(
    3,
    STEPS,
    `Seeding ${names.database}.${names.collection} with ${settings.docs} events over the last ${SPAN_DAYS} days`,
  );
  started.mongo = await abortable(
    new MongoClient(process.env.MONGODB_URI!, { serverSelectionTimeoutMS: 30_000 }).connect(),
  );
  started.database = names.database;
  const coll = started.mongo.db(names.database).collection(names.collection);
  if ((await coll.estimatedDocumentCount()) > 0) await coll.drop(); // a previous demo's leftovers
  const batchSize = 10_000;
  const tty = process.stdout.isTTY === true;
  const r = await abortable(
    seedEvents(coll, {
      count: settings.docs,
      spanDays: SPAN_DAYS,
      cutoffDays: CUTOFF_DAYS,
      batchSize,
      onProgress: (n) => {
        if (abort.signal.aborted) throw abort.signal.reason as Error;
        if (tty) process.stdout.write(`\r    inserted ${n}/${settings.docs}`);
      },
    }),
  );
  if (tty) process.stdout.write('\r\x1b[K');
  info(
    `inserted ${r.inserted} documents (createdAt, userId, event, payload) with insertMany in batches of ${batchSize}: ` +
      `${duration(r.insertMs)}, ${Math.round(r.inserted / (r.insertMs / 1000))} docs/s`,
  );
  info(
    `created the index {createdAt: 1} in ${duration(r.indexMs)} (the policy's archiveField must be indexed)`,
  );
  info(`${r.olderThanCutoff} of them are older than ${CUTOFF_DAYS} days: the policy will archive those`);
  return { seeded: r.inserted, olderThanCutoff: r.olderThanCutoff };
}

interface DemoValues {
  mongodb: Record<string, unknown>;
  operator?: Record<string, unknown>;
  policies: Array<{
    name: string;
    hostAddress: string;
    database: string;
    collection: string;
    s3: { bucket: string; endpoint?: string; region?: string; credentialsSecretRef?: { name: string } };
    [k: string]: unknown;
  }>;
  [k: string]: unknown;
}

/** Step 4: bucket, CRD, namespace, Secrets, and the chart with the demo values (local addresses filled in). */
async function install(values: DemoValues, names: DemoNames): Promise<void> {
  step(4, STEPS, 'Creating the S3 bucket, applying the CRD and installing the chart');
  const env = e2eEnv(); // the chart e2e's view of the stack: hostAddress and URI template for FerretDB
  started.s3 = new S3Client({
    endpoint: process.env.AWS_ENDPOINT_URL_S3!,
    region: process.env.AWS_REGION!,
    forcePathStyle: true,
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY!,
    },
  });
  await abortable(started.s3.send(new CreateBucketCommand({ Bucket: names.bucket })));
  started.bucket = names.bucket;
  info(`bucket s3://${names.bucket} created in versitygw`);

  await abortable(
    mustRun('kubectl', ['apply', '--server-side', '--force-conflicts', '-f', crdFile], {
      timeoutMs: 120_000,
    }),
  );
  await abortable(waitForCrdsEstablished(['archivepolicies.gochive.io'], { timeoutMs: 120_000 }));
  info(`kubectl apply --server-side -f ${rel(crdFile)}   (CRD archivepolicies.gochive.io, Established)`);

  await abortable(mustRun('kubectl', ['create', 'namespace', names.namespace]));
  started.namespace = names.namespace;
  const p = values.policies[0]!;
  const s3Secret = p.s3.credentialsSecretRef?.name ?? 'gochive-demo-s3';
  await abortable(
    mustRun('kubectl', [
      'create',
      'secret',
      'generic',
      s3Secret,
      '-n',
      names.namespace,
      `--from-literal=AWS_ACCESS_KEY_ID=${process.env.AWS_ACCESS_KEY_ID}`,
      `--from-literal=AWS_SECRET_ACCESS_KEY=${process.env.AWS_SECRET_ACCESS_KEY}`,
    ]),
  );
  info(
    `namespace ${names.namespace}; Secret ${s3Secret} with the versitygw keys (the policy's s3.credentialsSecretRef)`,
  );
  if (env.credentials) {
    await abortable(
      mustRun('kubectl', [
        'create',
        'secret',
        'generic',
        'gochive-demo-mongodb',
        '-n',
        names.namespace,
        `--from-literal=username=${env.credentials.username}`,
        `--from-literal=password=${env.credentials.password}`,
      ]),
    );
  }

  // The entry as written, with only the local addresses (and, on a shared stack, the names) filled in.
  const entry = {
    ...p,
    hostAddress: env.policyMongoHost,
    database: names.database,
    s3: {
      ...p.s3,
      bucket: `${names.bucket}/${names.prefix}`,
      endpoint: env.policyS3Endpoint,
      region: process.env.AWS_REGION!,
      credentialsSecretRef: { name: s3Secret },
    },
  };
  const effective: DemoValues = {
    ...values,
    mongodb: {
      ...values.mongodb,
      uriTemplate: env.uriTemplate,
      ...(env.credentials ? { existingSecret: 'gochive-demo-mongodb' } : {}),
    },
    // Run only this namespace's policies: other policies on a shared stack are not the demo's.
    operator: {
      ...values.operator,
      watchNamespaces: [names.namespace],
      ...(process.env.DEMO_LOG_LEVEL ? { logLevel: process.env.DEMO_LOG_LEVEL } : {}),
    },
    policies: [entry],
  };
  await mkdir(workDir, { recursive: true });
  const effectiveFile = path.join(workDir, 'values.yaml');
  await writeFile(effectiveFile, stringify(effective));
  await abortable(
    mustRun('helm', ['install', RELEASE, chartDir, '-n', names.namespace, '-f', effectiveFile], {
      timeoutMs: 300_000,
    }),
  );
  started.release = true;
  info(`helm install ${RELEASE} ${rel(chartDir)} -n ${names.namespace} -f ${rel(effectiveFile)}`);
  info(`(${rel(valuesFile)} with the local addresses filled in; mongodb.uriTemplate: ${env.uriTemplate})`);
  info('the policy entry, as in the original values.yaml:');
  info(stringify([entry]).trimEnd().replace(/^/gm, '  '));
}

/** Step 5. */
async function runOperator(names: DemoNames): Promise<LocalOperator> {
  step(
    5,
    STEPS,
    "Starting the operator (gochive operator) with the chart's flags, as the chart's ServiceAccount",
  );
  const op = await abortable(
    startLocalOperator({ release: RELEASE, namespace: names.namespace, workDir, readyTimeoutMs: 180_000 }),
  );
  started.operator = op;
  const sa = `system:serviceaccount:${names.namespace}:${RELEASE}`;
  info(`pid ${op.child.pid}, authenticated as ${sa}; /readyz answers 200`);
  info(`log: ${rel(op.logFile)}   metrics: ${op.metricsUrl}/metrics`);
  return op;
}

/** Step 7: `gochive ls` prints its own table; a second, JSON run gives the totals for the summary. */
async function listBundles(names: DemoNames): Promise<{ bundles: number; documents: number }> {
  const uri = `s3://${names.bucket}/${names.prefix}`;
  step(7, STEPS, `Listing the bundles: gochive ls --bucket ${uri}   (endpoint from AWS_ENDPOINT_URL_S3)`);
  const table = await abortable(runCli(['ls', '--bucket', uri, '--output', 'table']));
  if (table.code !== 0) throw new Error(`gochive ls exited ${table.code}:\n${table.stderr}`);
  info(table.stdout.trimEnd());
  const json = await abortable(runCli(['ls', '--bucket', uri, '--output', 'json']));
  if (json.code !== 0) throw new Error(`gochive ls --output json exited ${json.code}:\n${json.stderr}`);
  const rows = JSON.parse(json.stdout || '[]') as Array<{ documents?: number }>;
  return { bundles: rows.length, documents: rows.reduce((a, r) => a + (r.documents ?? 0), 0) };
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: repoRoot,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

// ---- the run

async function run(t0: number): Promise<void> {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'npm run build' (make demo does)`);
  const values = parse(readFileSync(valuesFile, 'utf8')) as DemoValues;
  if (values.policies?.length !== 1)
    throw new Error(`${rel(valuesFile)}: expected exactly one entry under policies`);

  await startStack();
  const names = namesFrom(values, !started.stackStarted);
  const seeded = await seed(names);
  await install(values, names);
  const op = await runOperator(names);

  step(
    6,
    STEPS,
    `Watching the policy: kubectl get archivepolicies -n ${names.namespace}   (until Idle, at most ${duration(settings.timeoutMs)})`,
  );
  const { policy: final, archivedAfterMs: archiveMs } = await watchUntilIdle({
    namespace: names.namespace,
    name: names.policy,
    operator: op,
    timeoutMs: settings.timeoutMs,
    intervalMs: 2000,
    expectedDeleted: seeded.olderThanCutoff,
    signal: abort.signal,
  });
  info(`Idle: the backlog was archived ${duration(archiveMs)} after the operator started`);

  const s3 = await listBundles(names);

  step(8, STEPS, 'Summary');
  const coll = started.mongo!.db(names.database).collection(names.collection);
  const cutoff = new Date(Date.now() - CUTOFF_DAYS * 86_400_000);
  const after = await abortable(coll.countDocuments({}));
  const stillOld = await abortable(coll.countDocuments({ createdAt: { $lt: cutoff } }));
  const totals = final.status?.totals ?? {};
  const deleted = totals.documentsDeleted ?? 0;
  info(
    `MongoDB  ${names.database}.${names.collection}: ${seeded.seeded} documents before, ${after} after` +
      ` (${stillOld} older than ${CUTOFF_DAYS}d left${stillOld > 0 ? ': aged past the limit after the last fetch' : ''})`,
  );
  info(`S3       s3://${names.bucket}/${names.prefix}: ${s3.documents} documents in ${s3.bundles} bundle(s)`);
  info(
    `Policy   archived ${totals.documentsArchived ?? 0}, deleted ${deleted}, bundles ${totals.bundlesUploaded ?? 0}` +
      `, duplicates ${totals.duplicatesUploaded ?? 0}`,
  );
  const problems: string[] = [];
  if (seeded.seeded - after !== deleted)
    problems.push(
      `MongoDB lost ${seeded.seeded - after} documents but the policy reports ${deleted} deleted`,
    );
  if (s3.documents < deleted)
    problems.push(`only ${s3.documents} documents are in S3 but ${deleted} were deleted`);
  if (deleted < seeded.olderThanCutoff)
    problems.push(
      `${seeded.olderThanCutoff} documents were older than ${CUTOFF_DAYS}d, only ${deleted} were archived`,
    );
  if (problems.length > 0) throw new Error(`the counts do not add up:\n${problems.join('\n')}`);
  info(`OK: every one of the ${deleted} documents deleted from MongoDB is in a verified bundle in S3.`);
  info(`Took ${duration(Date.now() - t0)} in all (archiving: ${duration(archiveMs)}).`);
}

// ---- cleanup: exactly what this run started, each part bounded and independent of the others

async function cleanup(ok: boolean): Promise<void> {
  process.stdout.write('\n==> Stopping what the demo started\n');
  const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      warn(`${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  };
  const op = started.operator;
  if (op) {
    await attempt('stopping the operator', async () => {
      const code = await op.stop(45_000);
      info(
        code === 0
          ? 'operator stopped (SIGTERM: workers stopped, Leases released)'
          : `operator exited with ${code}`,
      );
    });
  }
  if (!settings.keep) {
    const ns = started.namespace;
    if (started.release && ns)
      await attempt('helm uninstall', () =>
        mustRun('helm', ['uninstall', RELEASE, '-n', ns, '--wait=false'], { timeoutMs: 120_000 }),
      );
    if (ns)
      await attempt('deleting the namespace', () =>
        runTool('kubectl', ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found'], {
          timeoutMs: 60_000,
        }),
      );
    if (started.mongo && started.database) {
      const db = started.database;
      await attempt('dropping the database', () => started.mongo!.db(db).dropDatabase());
    }
    if (started.s3 && started.bucket)
      await attempt('deleting the bucket', () => emptyAndDeleteBucket(started.s3!, started.bucket!));
    if (ns || started.database) info('removed the release, namespace, database and bucket');
  }
  await started.mongo?.close().catch(() => undefined);
  started.s3?.destroy();

  if (started.stack) {
    await attempt('the local stack', async () => {
      // An interrupted start finishes (or fails) first, so no server is left behind half-recorded.
      const acquired = await started.stack!.catch(() => undefined);
      if (!acquired) return;
      const sameStack = readState()?.createdAt === started.stackCreatedAt;
      if (settings.keep && sameStack) {
        await up((m) => info(m.replace(/^testenv: /, ''))); // marks it started by hand: nothing stops it
        await release(process.pid);
        info(
          `left running (DEMO_KEEP=1): source ${rel(envFilePath)}; kubectl get archivepolicies -A; make testenv-down when done`,
        );
        return;
      }
      if (!sameStack) {
        // Someone restarted the stack while the demo ran: that one is not the demo's to stop.
        dropLease(process.pid);
        info('local stack left running: it was restarted by someone else during the demo');
        return;
      }
      const { stopped } = await release(process.pid, () => undefined);
      if (stopped) info('local stack stopped (etcd, kube-apiserver, FerretDB, versitygw); its data removed');
      else if (acquired.started) info('local stack left running: another run (jest) is using it now');
      else info('local stack left running (it was running before the demo)');
    });
  }
  if (ok && !settings.keep) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  else if (existsSync(workDir)) {
    await rm(path.join(workDir, 'spool'), { recursive: true, force: true }).catch(() => undefined);
    await rm(path.join(workDir, 'operator-kubeconfig'), { force: true }).catch(() => undefined);
    info(`logs kept in ${rel(workDir)}`);
  }
}

async function emptyAndDeleteBucket(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (r.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) break;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

async function main(): Promise<number> {
  const t0 = Number(process.env.DEMO_T0) || Date.now();
  let ok = false;
  try {
    await run(t0);
    ok = true;
  } catch (err) {
    if (abort.signal.aborted) warn('interrupted');
    else {
      process.stdout.write('\n==> The demo failed\n');
      warn(err instanceof Error ? err.message : String(err));
      if (started.operator) warn(`operator log: ${rel(started.operator.logFile)}`);
    }
  } finally {
    await cleanup(ok);
  }
  if (ok)
    process.stdout.write(
      '\nDone. Next: docs/operator.md (operating), docs/archivepolicy.md (policies), docs/restore.md (restore).\n',
    );
  return ok ? 0 : abort.signal.aborted ? 130 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
