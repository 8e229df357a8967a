// End to end through the chart: `helm install` with two policies into the test control plane, the
// operator running with the chart's ServiceAccount identity and exactly the chart's settings (flags
// taken from the rendered Deployment), documents archived to S3 and deleted from MongoDB; then a
// `helm upgrade` that adds a policy, changes an ageLimit and removes a policy, and the operator follows
// each change. Locally the operator is a child process; with GOCHIVE_E2E_IN_CLUSTER=1 (make kind-e2e)
// it is the chart's own Deployment.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BSON, MongoClient, type Db } from 'mongodb';
import { stringify } from 'yaml';
import { policyLeaseName } from '../../../operator/controller/lease-names.js';
import { serviceAccountKubeConfig } from '../../support/kube.js';
import { repoRoot, uniqueName } from '../../support/testenv.js';
import { assertBuilt } from '../badinput/harness.js';
import { e2eEnv } from './e2e-env.js';
import { chartDir, mustRun, parseManifests, runTool } from './helm.js';
import { archivedIds as archivedS3Ids, listKeys as listS3Keys } from '../../support/s3-bundles.js';

const DAY = 86_400_000;
const WAIT_MS = 90_000; // one policy's whole backlog takes a few seconds here
const TEST_MS = 300_000;
const env = e2eEnv();
const ns = uniqueName('e2e');
const release = 'gochive';
const dbName = uniqueName('chart_e2e').replace(/-/g, '_');
const bucket = uniqueName('charte2e').slice(0, 63);

let mongo: MongoClient;
let db: Db;
let s3: S3Client;
let spoolDir: string | undefined;
let operator: { child: ChildProcess; log: string[]; metricsPort: number } | undefined;

// ---- the policies, written as values entries (original form plus the S3 options a test store needs)

function entry(name: string, collection: string, ageLimit: string) {
  return {
    name,
    hostAddress: env.policyMongoHost,
    ageLimit,
    queryLimit: 100,
    archiveCheckInterval: 1,
    collection,
    database: dbName,
    archiveField: 'createdAt',
    s3: {
      bucket: `${bucket}/${name}/`,
      uploadInterval: 2,
      endpoint: env.policyS3Endpoint,
      forcePathStyle: true,
      region: env.s3.region,
      credentialsSecretRef: { name: 's3-credentials' },
    },
  };
}

function chartValues(policies: unknown[]) {
  return {
    mongodb: {
      uriTemplate: env.uriTemplate,
      ...(env.credentials ? { existingSecret: 'mongodb-credentials' } : {}),
    },
    // Watch only this test's namespace: other tests' policies elsewhere are not ours to run.
    operator: { watchNamespaces: [ns], leaseDurationSeconds: 6, logLevel: 'info' },
    terminationGracePeriodSeconds: 30,
    ...(env.image ? { image: { ...env.image, pullPolicy: 'Never' } } : {}),
    policies,
  };
}

// ---- seeding and checking

/** `count` documents whose createdAt lies between `fromDays` and `toDays` days ago. */
async function seed(collection: string, count: number, fromDays: number, toDays: number): Promise<void> {
  const now = Date.now();
  const docs = Array.from({ length: count }, (_, i) => ({
    _id: new BSON.ObjectId(),
    createdAt: new Date(now - (fromDays + ((toDays - fromDays) * i) / count) * DAY),
    kind: collection,
    seq: i,
  }));
  await db.collection(collection).insertMany(docs);
}

const olderThan = (collection: string, days: number) =>
  db.collection(collection).countDocuments({ createdAt: { $lt: new Date(Date.now() - days * DAY) } });

const listKeys = (prefix: string): Promise<string[]> => listS3Keys(s3, bucket, prefix);
const archivedIds = (prefix: string): Promise<string[]> => archivedS3Ids(s3, bucket, prefix);

interface PolicyStatus {
  phase?: string;
  observedGeneration?: number;
  totals?: { documentsArchived?: number; documentsDeleted?: number };
}

async function policy(name: string): Promise<{ generation: number; status: PolicyStatus } | undefined> {
  const r = await runTool('kubectl', ['get', 'archivepolicy', name, '-n', ns, '-o', 'json']);
  if (r.code !== 0) {
    if (/NotFound/.test(r.stderr)) return undefined;
    throw new Error(`kubectl get archivepolicy ${name}: ${r.stderr}`);
  }
  const o = JSON.parse(r.stdout) as { metadata: { generation: number }; status?: PolicyStatus };
  return { generation: o.metadata.generation, status: o.status ?? {} };
}

/** Polls `check` until it returns true; on timeout fails with `describe()` and the operator's log tail. */
async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  describe: () => Promise<unknown>,
  timeoutMs = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (operator && operator.child.exitCode !== null) break;
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  const exited =
    operator && operator.child.exitCode !== null
      ? ` (the operator exited with ${operator.child.exitCode})`
      : '';
  throw new Error(
    `timed out waiting for ${what}${exited}; last state: ${JSON.stringify(await describe())}\noperator log tail:\n${operatorLogTail()}`,
  );
}

function operatorLogTail(): string {
  return operator
    ? operator.log.join('').split('\n').slice(-40).join('\n')
    : '(operator runs in the cluster: kubectl logs)';
}

/** Policy `name` archived and deleted exactly the documents older than `days` of `collection`, and is Idle. */
async function waitArchived(name: string, collection: string, days: number, expected: number): Promise<void> {
  await waitFor(
    `${name} to archive ${expected} documents and go Idle`,
    async () => {
      const p = await policy(name);
      return (
        p?.status.phase === 'Idle' &&
        p.status.observedGeneration === p.generation &&
        p.status.totals?.documentsDeleted === expected &&
        (await olderThan(collection, days)) === 0
      );
    },
    async () => ({ policy: await policy(name), left: await olderThan(collection, days) }),
  );
}

// ---- the operator process (local mode)

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `gochive operator` with the flags of the installed Deployment, as the chart's ServiceAccount. */
async function startLocalOperator(): Promise<void> {
  // Builds dist/ when missing or stale (a plain jest run does not build first).
  assertBuilt('cli/main');
  const cli = path.join(repoRoot, 'dist', 'operator', 'cli', 'main.js');
  const manifest = parseManifests(await mustRun('helm', ['get', 'manifest', release, '-n', ns]));
  const deploy = manifest.find((o) => o.kind === 'Deployment')!;
  const pod = (
    deploy.spec as {
      template: { spec: { serviceAccountName: string; containers: Array<{ args: string[] }> } };
    }
  ).template.spec;
  const [command, ...flags] = pod.containers[0]!.args;
  // Only what cannot hold outside a pod changes: the spool lives in a temp dir, metrics on a free
  // loopback port. Every other flag (namespaces, URI template, credentials Secret, lease) is the chart's.
  spoolDir = await mkdtemp(path.join(os.tmpdir(), 'gochive-e2e-spool-'));
  const metricsPort = await freePort();
  const args = flags.map((f) =>
    f.startsWith('--spool-dir=')
      ? `--spool-dir=${spoolDir}`
      : f.startsWith('--metrics-bind-address=')
        ? `--metrics-bind-address=127.0.0.1:${metricsPort}`
        : f,
  );
  const kubeconfig = path.join(spoolDir, 'kubeconfig');
  await writeFile(kubeconfig, (await serviceAccountKubeConfig(ns, pod.serviceAccountName)).exportConfig(), {
    mode: 0o600,
  });
  const child = spawn(process.execPath, [cli, command!, ...args], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? os.tmpdir(),
      KUBECONFIG: kubeconfig,
      POD_NAME: `${release}-gochive-local`,
      POD_NAMESPACE: ns,
      // No AWS_* here: S3 credentials come from the policies' Secret, read with the chart's RBAC.
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => log.push(d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => log.push(d));
  operator = { child, log, metricsPort };
  await waitFor(
    'the operator to report ready on /readyz',
    async () =>
      (await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => undefined))?.status === 200,
    async () => ({ exitCode: child.exitCode }),
    60_000,
  );
}

async function stopLocalOperator(): Promise<number | null> {
  if (!operator) return null;
  const { child } = operator;
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

async function metrics(): Promise<string> {
  if (!operator) return '';
  return (await fetch(`http://127.0.0.1:${operator.metricsPort}/metrics`)).text();
}

// ---- lifecycle

beforeAll(async () => {
  mongo = await new MongoClient(env.mongoUri).connect();
  db = mongo.db(dbName);
  s3 = new S3Client({
    endpoint: env.s3.endpoint,
    region: env.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await mustRun('kubectl', ['create', 'namespace', ns]);
  await mustRun('kubectl', [
    'create',
    'secret',
    'generic',
    's3-credentials',
    '-n',
    ns,
    `--from-literal=AWS_ACCESS_KEY_ID=${env.s3.accessKeyId}`,
    `--from-literal=AWS_SECRET_ACCESS_KEY=${env.s3.secretAccessKey}`,
  ]);
  if (env.credentials) {
    await mustRun('kubectl', [
      'create',
      'secret',
      'generic',
      'mongodb-credentials',
      '-n',
      ns,
      `--from-literal=username=${env.credentials.username}`,
      `--from-literal=password=${env.credentials.password}`,
    ]);
  }
});

afterAll(async () => {
  const code = await stopLocalOperator();
  if (code !== null && code !== 0)
    process.stderr.write(`operator exited ${code}; log tail:\n${operatorLogTail()}\n`);
  await runTool('helm', ['uninstall', release, '-n', ns, '--wait=false'], { timeoutMs: 60_000 });
  await runTool('kubectl', ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
  if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
  await db?.dropDatabase().catch(() => undefined);
  await mongo?.close();
  if (s3) {
    for (const Key of await listKeys('').catch(() => [] as string[]))
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key })).catch(() => undefined);
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    s3.destroy();
  }
});

async function helm(verb: 'install' | 'upgrade', policies: unknown[]): Promise<void> {
  await mustRun(
    'helm',
    [verb, release, chartDir, '-n', ns, '-f', '-', ...(env.inCluster ? ['--wait', '--timeout', '5m'] : [])],
    { input: stringify(chartValues(policies)), timeoutMs: 360_000 },
  );
}

describe('chart e2e: helm install, the operator archives, helm upgrade changes follow', () => {
  const orders = entry('orders-log', 'orders_log', '92d');
  const clicks = entry('click-log', 'click_log', '90d');
  const pushes = entry('push-log', 'push_log', '30d');

  test(
    'helm install: both policies run; aged documents are archived to S3 and deleted',
    async () => {
      await seed('orders_log', 240, 100, 200); // eligible under 92d
      await seed('orders_log', 60, 0, 10);
      await seed('click_log', 80, 40, 60); // not eligible under 90d, eligible once it becomes 30d
      await seed('click_log', 40, 0, 10);
      await seed('push_log', 50, 31, 80); // for the policy the upgrade adds
      for (const c of ['orders_log', 'click_log', 'push_log'])
        await db.collection(c).createIndex({ createdAt: 1 });
      const ordersIds = (
        await db
          .collection('orders_log')
          .find({ createdAt: { $lt: new Date(Date.now() - 92 * DAY) } })
          .toArray()
      ).map((d) => (d._id as BSON.ObjectId).toHexString());

      await helm('install', [orders, clicks]);
      if (!env.inCluster) await startLocalOperator();

      await waitArchived('orders-log', 'orders_log', 92, 240);
      await waitArchived('click-log', 'click_log', 90, 0);
      expect(await db.collection('orders_log').countDocuments()).toBe(60);
      expect(await db.collection('click_log').countDocuments()).toBe(120);
      // Exactly the deleted documents are in the bundles, each once.
      expect(await archivedIds('orders-log/')).toEqual(ordersIds.sort());
      expect(await listKeys('click-log/')).toEqual([]);

      if (!env.inCluster) {
        // The series the chart's PrometheusRule alerts on exist, labelled by policy namespace and name.
        const m = await metrics();
        expect(m).toContain(`gochive_last_success_timestamp_seconds{namespace="${ns}",policy="orders-log"}`);
        expect(m).toMatch(
          new RegExp(`gochive_worker_state\\{namespace="${ns}",policy="orders-log",state="Idle"\\} 1`),
        );
      }
    },
    TEST_MS,
  );

  test(
    'helm upgrade: a policy added, an ageLimit changed, a policy removed — the operator follows each',
    async () => {
      await helm('upgrade', [{ ...clicks, ageLimit: '30d' }, pushes]);

      // Added: push-log archives its backlog.
      await waitArchived('push-log', 'push_log', 30, 50);
      // Changed: click-log now archives what is older than 30 days (the 40-60 day old documents).
      await waitArchived('click-log', 'click_log', 30, 80);
      expect(await db.collection('click_log').countDocuments()).toBe(40);
      expect(await archivedIds('click-log/')).toHaveLength(80);

      // Removed: the ArchivePolicy is gone and the operator released its Lease ...
      expect(await policy('orders-log')).toBeUndefined();
      const lease = policyLeaseName(ns, 'orders-log');
      await waitFor(
        `the Lease ${lease} of the removed policy to be deleted`,
        async () => (await runTool('kubectl', ['get', 'lease', lease, '-n', ns])).code !== 0,
        async () => (await runTool('kubectl', ['get', 'lease', lease, '-n', ns, '-o', 'yaml'])).stdout,
        60_000,
      );
      // ... and no longer archives: documents that would have been eligible stay where they are.
      await seed('orders_log', 25, 100, 110);
      const keysBefore = await listKeys('orders-log/');
      await new Promise((r) => setTimeout(r, 8_000)); // 8 fetch intervals and 4 upload intervals of the old policy
      expect(await olderThan('orders_log', 92)).toBe(25);
      expect(await listKeys('orders-log/')).toEqual(keysBefore);
    },
    TEST_MS,
  );

  test('the operator shuts down cleanly on SIGTERM and releases its Leases', async () => {
    if (env.inCluster) {
      // In a cluster the pod's termination is the kubelet's business; check the Deployment is healthy.
      await mustRun('kubectl', ['rollout', 'status', `deployment/${release}`, '-n', ns, '--timeout=120s']);
      return;
    }
    expect(await stopLocalOperator()).toBe(0);
    const leases = JSON.parse(await mustRun('kubectl', ['get', 'leases', '-n', ns, '-o', 'json'])) as {
      items: Array<{ metadata: { name: string }; spec?: { holderIdentity?: string } }>;
    };
    const held = leases.items.filter((l) => l.metadata.name.startsWith('gochive-') && l.spec?.holderIdentity);
    expect(held).toEqual([]);
  }, 120_000);
});
