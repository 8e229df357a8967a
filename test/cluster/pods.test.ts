// The chart's Deployment as real pods on the one-node cluster (make test-cluster; test/cluster/run.sh):
// what only a kubelet can show. Two replicas start from the image, with the chart's read-only root,
// uid 65532 and no capabilities (checked inside the running containers); /metrics answers through the
// Service; then, while three policies are still archiving, `helm upgrade` rolls the pods, a pod is
// deleted and another evicted under the PodDisruptionBudget; the replacements (each with a new, empty
// spool emptyDir) finish the work, and every aged document ends up in S3 exactly once.
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BSON, MongoClient, type Db } from 'mongodb';
import { stringify } from 'yaml';
import { e2eEnv } from '../integration/chart/e2e-env.js';
import { chartDir, mustRun, runTool } from '../integration/chart/helm.js';
import { uniqueName } from '../support/testenv.js';
import { archivedIds as archivedS3Ids, listKeys as listS3Keys } from '../support/s3-bundles.js';

const DAY = 86_400_000;
const env = e2eEnv();
if (!env.inCluster || !env.image)
  throw new Error('test/cluster runs against the one-node cluster only: use make test-cluster');
const ns = uniqueName('pods');
const release = 'gochive';
const dbName = uniqueName('cluster_pods').replace(/-/g, '_');
const bucket = uniqueName('clusterpods').slice(0, 63);
// Enough aged documents, fetched in small pages, that the backlog outlasts the rollout, the deletion
// and the eviction below (each policy moves about queryLimit documents per check interval).
const POLICIES = ['alpha-log', 'beta-log', 'gamma-log'];
const AGED = 1500;
const RECENT = 100;
const AGE_DAYS = 30;

let mongo: MongoClient;
let db: Db;
let s3: S3Client;
const seeded = new Map<string, string[]>(); // policy -> hex _ids of its aged documents

const collectionOf = (policy: string) => policy.replace(/-/g, '_');

function values(rollout: string) {
  return {
    replicaCount: 2,
    podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
    image: { ...env.image, pullPolicy: 'Never' },
    mongodb: { uriTemplate: env.uriTemplate },
    operator: { watchNamespaces: [ns], leaseDurationSeconds: 6, logLevel: 'info' },
    terminationGracePeriodSeconds: 30,
    // A pod-template change, so `helm upgrade` rolls the pods.
    podAnnotations: { 'gochive.test/rollout': rollout },
    policies: POLICIES.map((name) => ({
      name,
      hostAddress: env.policyMongoHost,
      ageLimit: `${AGE_DAYS}d`,
      queryLimit: 20,
      archiveCheckInterval: 1,
      collection: collectionOf(name),
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
    })),
  };
}

async function helm(verb: 'install' | 'upgrade', rollout: string): Promise<void> {
  await mustRun('helm', [verb, release, chartDir, '-n', ns, '-f', '-', '--wait', '--timeout', '5m'], {
    input: stringify(values(rollout)),
    timeoutMs: 360_000,
  });
}

async function kubectlJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await mustRun('kubectl', [...args, '-o', 'json'])) as T;
}

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  status: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}

const podReady = (p: Pod) =>
  !p.metadata.deletionTimestamp &&
  p.status.phase === 'Running' &&
  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

async function pods(): Promise<Pod[]> {
  return (
    await kubectlJson<{ items: Pod[] }>([
      'get',
      'pods',
      '-n',
      ns,
      '-l',
      `app.kubernetes.io/instance=${release}`,
    ])
  ).items;
}

async function readyPods(): Promise<Pod[]> {
  return (await pods()).filter(podReady);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  const state = await runTool('kubectl', ['get', 'pods,archivepolicies', '-n', ns, '-o', 'wide']);
  throw new Error(`timed out waiting for ${what}; state:\n${state.stdout}${state.stderr}`);
}

/** Runs `node -e script` inside the operator container of `pod`; returns stdout. */
function execNode(pod: string, script: string): Promise<string> {
  return mustRun('kubectl', ['exec', '-n', ns, pod, '-c', 'operator', '--', 'node', '-e', script]);
}

interface Ap {
  metadata: { name: string; generation: number };
  status?: {
    phase?: string;
    observedGeneration?: number;
    totals?: { documentsArchived?: number; documentsDeleted?: number };
  };
}

async function policies(): Promise<Ap[]> {
  return (await kubectlJson<{ items: Ap[] }>(['get', 'archivepolicies', '-n', ns])).items;
}

const aged = (policy: string) =>
  db
    .collection(collectionOf(policy))
    .countDocuments({ createdAt: { $lt: new Date(Date.now() - AGE_DAYS * DAY) } });

/** Documents still to archive, over all policies. */
async function backlog(): Promise<number> {
  let n = 0;
  for (const p of POLICIES) n += await aged(p);
  return n;
}

const listKeys = (prefix: string): Promise<string[]> => listS3Keys(s3, bucket, prefix);
const archivedIds = (prefix: string): Promise<string[]> => archivedS3Ids(s3, bucket, prefix);

/** Asks the API server to evict `pod`; returns the HTTP outcome as kubectl reports it. */
function evict(pod: string) {
  return runTool('kubectl', ['create', '--raw', `/api/v1/namespaces/${ns}/pods/${pod}/eviction`, '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: pod, namespace: ns },
    }),
  });
}

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
  const now = Date.now();
  for (const p of POLICIES) {
    const docs = [
      ...Array.from({ length: AGED }, (_, i) => ({
        _id: new BSON.ObjectId(),
        createdAt: new Date(now - (AGE_DAYS + 1 + (i % 300)) * DAY),
        seq: i,
      })),
      ...Array.from({ length: RECENT }, (_, i) => ({
        _id: new BSON.ObjectId(),
        createdAt: new Date(now - (i % 10) * DAY),
        seq: AGED + i,
      })),
    ];
    await db.collection(collectionOf(p)).insertMany(docs);
    await db.collection(collectionOf(p)).createIndex({ createdAt: 1 });
    seeded.set(
      p,
      docs
        .slice(0, AGED)
        .map((d) => d._id.toHexString())
        .sort(),
    );
  }
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
});

afterAll(async () => {
  await runTool('helm', ['uninstall', release, '-n', ns, '--wait', '--timeout', '2m'], {
    timeoutMs: 150_000,
  });
  await runTool('kubectl', ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
  await db?.dropDatabase().catch(() => undefined);
  await mongo?.close();
  if (s3) {
    for (const Key of await listKeys('').catch(() => [] as string[]))
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key })).catch(() => undefined);
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    s3.destroy();
  }
});

describe('the chart Deployment as pods on a one-node cluster', () => {
  let podNames: string[] = [];

  test('helm install: two replicas run from the image and become Ready (the kubelet probes them)', async () => {
    await helm('install', '1');
    const ready = await readyPods();
    expect(ready).toHaveLength(2);
    podNames = ready.map((p) => p.metadata.name);
  }, 400_000);

  test('inside the container: uid/gid 65532, no capabilities, no privilege gain, read-only root, writable spool', async () => {
    for (const pod of podNames) {
      const status = await execNode(
        pod,
        "process.stdout.write(require('fs').readFileSync('/proc/1/status','utf8'))",
      );
      const field = (name: string) =>
        new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/);
      expect(field('Uid')).toEqual(['65532', '65532', '65532', '65532']);
      expect(field('Gid')).toEqual(['65532', '65532', '65532', '65532']);
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
        expect([set, field(set)]).toEqual([set, ['0000000000000000']]);
      expect(field('NoNewPrivs')).toEqual(['1']);
      expect(field('Seccomp')).toEqual(['2']); // RuntimeDefault: a filter is installed

      const writes = await execNode(
        pod,
        `const fs = require('fs');
         const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); fs.unlinkSync(p); return 'ok'; } catch (e) { return e.code; } };
         process.stdout.write(JSON.stringify({
           root: tryWrite('/probe'), app: tryWrite('/app/probe'),
           spool: tryWrite(process.env.GOCHIVE_SPOOL_DIR + '/probe'), tmp: tryWrite('/tmp/probe'),
           token: fs.statSync('/var/run/secrets/kubernetes.io/serviceaccount/token').size > 0,
         }));`,
      );
      expect(JSON.parse(writes)).toEqual({
        root: 'EROFS',
        app: 'EROFS',
        spool: 'ok',
        tmp: 'ok',
        token: true,
      });
    }
  }, 120_000);

  test('/metrics through the Service: the API server proxy and the ClusterIP from another pod', async () => {
    await waitFor('a policy to report its first archived documents', async () =>
      (await policies()).some((p) => (p.status?.totals?.documentsArchived ?? 0) > 0),
    );
    const viaProxy = await mustRun('kubectl', [
      'get',
      '--raw',
      `/api/v1/namespaces/${ns}/services/${release}-metrics:http-metrics/proxy/metrics`,
    ]);
    expect(viaProxy).toMatch(new RegExp(`gochive_worker_state\\{namespace="${ns}",policy="[a-z-]+",state="`));
    // kube-proxy's rules: pod -> ClusterIP -> a pod behind the Service (possibly the caller itself).
    const svc = await kubectlJson<{ spec: { clusterIP: string; ports: Array<{ port: number }> } }>([
      'get',
      'service',
      `${release}-metrics`,
      '-n',
      ns,
    ]);
    const url = `http://${svc.spec.clusterIP}:${svc.spec.ports[0]!.port}/metrics`;
    const viaClusterIp = await execNode(
      podNames[0]!,
      `fetch(${JSON.stringify(url)}).then(r => r.text()).then(t => process.stdout.write(t), e => { console.error(e); process.exit(1); })`,
    );
    expect(viaClusterIp).toContain('gochive_');
  }, 240_000);

  test('helm upgrade while the policies archive: every pod is replaced and the work goes on', async () => {
    const before = await backlog();
    expect(before).toBeGreaterThan(0); // still archiving: the rollout happens mid-work
    const old = new Set((await pods()).map((p) => p.metadata.uid));
    await helm('upgrade', '2');
    await waitFor('the old pods to be gone and two new ones Ready', async () => {
      const all = await pods();
      return all.every((p) => !old.has(p.metadata.uid)) && all.filter(podReady).length === 2;
    });
    podNames = (await readyPods()).map((p) => p.metadata.name);
  }, 400_000);

  test('kubectl delete pod: the Deployment replaces it', async () => {
    const victim = podNames[0]!;
    await mustRun('kubectl', ['delete', 'pod', victim, '-n', ns, '--wait=false']);
    await waitFor('a replacement pod to be Ready', async () => {
      const ready = await readyPods();
      return ready.length === 2 && ready.every((p) => p.metadata.name !== victim);
    });
    podNames = (await readyPods()).map((p) => p.metadata.name);
  }, 240_000);

  test('eviction: the PodDisruptionBudget lets one pod go and refuses the second', async () => {
    await waitFor('the PodDisruptionBudget to allow one disruption', async () => {
      const pdb = await kubectlJson<{ status?: { disruptionsAllowed?: number; currentHealthy?: number } }>([
        'get',
        'pdb',
        release,
        '-n',
        ns,
      ]);
      return pdb.status?.disruptionsAllowed === 1 && pdb.status.currentHealthy === 2;
    });
    const [first, second] = podNames;
    const ok = await evict(first!);
    expect([ok.code, ok.stderr]).toEqual([0, '']);
    // The eviction of the first pod used up the budget until its replacement is Ready.
    const refused = await evict(second!);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/disruption budget|TooManyRequests|429/i);
    await waitFor('the evicted pod to be replaced and two pods Ready', async () => {
      const ready = await readyPods();
      return ready.length === 2 && ready.every((p) => p.metadata.name !== first);
    });
  }, 240_000);

  test('the replacements finish the work: 0 documents lost, 0 held twice, `kubectl get ap` tells the truth', async () => {
    await waitFor(
      'every policy to archive its whole backlog and go Idle',
      async () => {
        const aps = await policies();
        return (
          aps.length === POLICIES.length &&
          aps.every(
            (p) =>
              p.status?.phase === 'Idle' &&
              p.status.observedGeneration === p.metadata.generation &&
              p.status.totals?.documentsDeleted === AGED,
          ) &&
          (await backlog()) === 0
        );
      },
      600_000,
    );
    for (const p of POLICIES) {
      // In MongoDB: exactly the recent documents remain.
      expect(await db.collection(collectionOf(p)).countDocuments()).toBe(RECENT);
      // In S3: exactly the aged documents, each once.
      expect(await archivedIds(`${p}/`)).toEqual(seeded.get(p));
    }
    // The printer columns users see.
    const table = await mustRun('kubectl', [
      'get',
      'ap',
      '-n',
      ns,
      '--no-headers',
      '-o',
      'custom-columns=NAME:.metadata.name,PHASE:.status.phase,ARCHIVED:.status.totals.documentsArchived',
    ]);
    const rows = table
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .sort((a, b) => a[0]!.localeCompare(b[0]!));
    expect(rows).toEqual(
      POLICIES.map((p) => [p, 'Idle', String(AGED)]).sort((a, b) => a[0]!.localeCompare(b[0]!)),
    );
    const wide = await mustRun('kubectl', ['get', 'ap', '-n', ns]);
    for (const p of POLICIES) expect(wide).toMatch(new RegExp(`^${p}\\s+Idle\\s+True\\s+${AGED}\\s`, 'm'));
  }, 700_000);
});
