// The operator end to end on the real servers, one policy through its life: apply → Pending →
// Archiving → Idle with totals equal to what MongoDB and S3 hold; kubectl's columns; a spec edit
// restarts the worker on the new generation; suspend stops all database traffic (seen by a proxy on the
// wire), resume continues; delete stops the worker and its traffic for good.
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import {
  apply,
  condition,
  ensureCrd,
  getPolicy,
  mustKubectl,
  OperatorProcess,
  sleep,
  waitFor,
} from './harness.js';
import { DAY, policyManifest, policySpec, readBundles, sandbox, seed, type Sandbox } from './fixtures.js';
import { PhaseRecorder } from './phase-recorder.js';

const NAME = 'events-archive';

describe('operator: one policy through its life', () => {
  let sb: Sandbox;
  let op: OperatorProcess;
  let rec: PhaseRecorder;

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-life');
    await seed(sb.db, 'events', 1500, 40); // eligible at ageLimit 30d
    await seed(sb.db, 'events', 200, 10, { tag: 'young' }); // eligible only once ageLimit is 5d
    rec = new PhaseRecorder(sb.namespace);
    await rec.start();
    op = await OperatorProcess.start({ name: 'life', args: [...sb.operatorArgs, '--lease-duration=6s'] });
    await waitFor('/readyz', async () => (await op.http('/readyz')).status === 200, 30_000);
  });

  afterAll(async () => {
    rec?.stop();
    await op?.stop();
    await sb?.cleanup();
  });

  const eligible = (days: number) =>
    sb.db.collection('events').countDocuments({ createdAt: { $lt: new Date(Date.now() - days * DAY) } });

  test('apply: Pending → Archiving → Idle, totals equal the truth in MongoDB and S3, kubectl shows the columns', async () => {
    await apply(policyManifest(sb.namespace, NAME, policySpec(sb)));
    const done = await waitFor(
      'the policy to archive and delete all 1500 eligible documents and go Idle',
      async () => {
        const p = await getPolicy(sb.namespace, NAME);
        return p?.status?.phase === 'Idle' && p.status.totals?.documentsDeleted === 1500 ? p : undefined;
      },
      180_000,
      500,
    );
    const phases = rec.phases(NAME);
    expect(phases[0]).toBe('Pending');
    expect(phases).toContain('Archiving');
    expect(phases.indexOf('Archiving')).toBeGreaterThan(0);
    expect(phases[phases.length - 1]).toBe('Idle');

    // The truth: MongoDB no longer holds eligible documents, the young ones are untouched…
    expect(await eligible(30)).toBe(0);
    expect(await sb.db.collection('events').countDocuments({})).toBe(200);
    // …and S3 holds exactly the 1500 archived documents, once each.
    const bundles = await readBundles(sb.s3, sb.bucket, 'events/');
    const ids = bundles.flatMap((b) => b.ids);
    expect(ids).toHaveLength(1500);
    expect(new Set(ids).size).toBe(1500);
    const sizes = await Promise.all(
      bundles.map(
        async (b) =>
          (await sb.s3.send(new HeadObjectCommand({ Bucket: sb.bucket, Key: b.key }))).ContentLength ?? 0,
      ),
    );
    const t = done.status!.totals!;
    expect(t.documentsArchived).toBe(1500);
    expect(t.documentsDeleted).toBe(1500);
    expect(t.bundlesUploaded).toBe(bundles.length);
    expect(t.bytesUploaded).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(bundles.map((b) => b.key)).toContain(done.status!.lastBundle!.key);
    expect(bundles.reduce((n, b) => n + b.manifest.documentCount, 0)).toBe(1500);
    expect(done.status!.observedGeneration).toBe(done.metadata.generation);
    expect(condition(done, 'Ready')).toMatchObject({ status: 'True', reason: 'WorkerRunning' });
    expect(condition(done, 'Archiving')).toMatchObject({ status: 'False', reason: 'NoBacklog' });
    expect(condition(done, 'Degraded')).toMatchObject({ status: 'False' });
    expect(done.status!.activeReplica).toMatch(/^[\w.-]+$/);

    // The real kubectl shows the printer columns with values.
    const table = await mustKubectl(['get', 'archivepolicies', '-n', sb.namespace]);
    const [header, row] = table.trim().split('\n');
    expect(header).toMatch(/^NAME\s+PHASE\s+READY\s+ARCHIVED\s+BACKLOG\s+LAST UPLOAD\s+AGE$/);
    expect(row).toMatch(new RegExp(`^${NAME}\\s+Idle\\s+True\\s+1500\\s+\\d+\\s+\\d+[smh]\\s+\\d+[smh]`));
    const wide = await mustKubectl(['get', 'ap', '-o', 'wide', '-n', sb.namespace]);
    const [wh, wr] = wide.trim().split('\n');
    expect(wh).toMatch(/DATABASE\s+COLLECTION\s+AGE LIMIT\s+DELETED/);
    expect(wr).toContain(sb.dbName);
    expect(wr).toMatch(/\s+events\s+30d\s+1500(\s|$)/);
    expect(wh).toMatch(/REPLICA/);
    expect(wr).toContain(done.status!.activeReplica!);
    process.stdout.write(`\n$ kubectl get archivepolicies\n${table}\n$ kubectl get ap -o wide\n${wide}\n`);

    // Events (events.k8s.io/v1) from the operator: started, bundles uploaded, deletes done.
    const events = JSON.parse(
      await mustKubectl(['get', 'events.v1.events.k8s.io', '-n', sb.namespace, '-o', 'json']),
    ) as {
      items: Array<{
        reason: string;
        reportingController: string;
        reportingInstance: string;
        eventTime: string;
        regarding: { name: string };
      }>;
    };
    const reasons = new Set(events.items.filter((e) => e.regarding.name === NAME).map((e) => e.reason));
    for (const r of ['Started', 'BundleUploaded', 'DocumentsDeleted']) expect(reasons).toContain(r);
    for (const e of events.items) {
      expect(e.reportingController).toBe('gochive.io/operator');
      expect(e.reportingInstance).toBe(done.status!.activeReplica);
      expect(e.eventTime).toMatch(/\.\d{6}Z$/);
    }

    // Metrics agree with the status.
    const metrics = await op.metrics();
    expect(metrics).toMatch(
      new RegExp(`gochive_documents_archived_total\\{namespace="${sb.namespace}",policy="${NAME}"\\} 1500`),
    );
    expect(metrics).toMatch(
      new RegExp(`gochive_documents_deleted_total\\{namespace="${sb.namespace}",policy="${NAME}"\\} 1500`),
    );
    expect(metrics).toMatch(
      new RegExp(`gochive_worker_state\\{namespace="${sb.namespace}",policy="${NAME}",state="Idle"\\} 1`),
    );
    expect(metrics).toMatch(/gochive_stage_duration_seconds_count\{[^}]*stage="upload"\} [1-9]/);
    expect(metrics).toMatch(
      new RegExp(
        `gochive_last_success_timestamp_seconds\\{namespace="${sb.namespace}",policy="${NAME}"\\} \\d`,
      ),
    );
    expect((await op.http('/healthz')).status).toBe(200);
  }, 300_000);

  test('editing ageLimit restarts the worker on the new generation; observedGeneration follows', async () => {
    const before = (await getPolicy(sb.namespace, NAME))!;
    await mustKubectl([
      'patch',
      'archivepolicy',
      NAME,
      '-n',
      sb.namespace,
      '--type=merge',
      '-p',
      '{"spec":{"ageLimit":"5d"}}',
    ]);
    const gen = before.metadata.generation! + 1;
    await op.waitForLog(
      'the restart for the new generation',
      (l) => l.msg === 'stopping worker' && l.reason === `new generation ${gen}`,
      30_000,
    );
    await op.waitForLog(
      'a worker on the new generation',
      (l) => l.msg === 'worker started' && l.generation === gen,
      30_000,
    );
    const p = await waitFor(
      'the 200 newly eligible documents to be archived under the new generation',
      async () => {
        const x = await getPolicy(sb.namespace, NAME);
        return x?.status?.observedGeneration === gen &&
          x.status.totals?.documentsDeleted === 1700 &&
          x.status.phase === 'Idle'
          ? x
          : undefined;
      },
      120_000,
      500,
    );
    expect(p.metadata.generation).toBe(gen);
    for (const c of p.status!.conditions!) expect(c.observedGeneration).toBe(gen);
    expect(p.status!.totals!.documentsArchived).toBe(1700); // carried over the restart, not reset
    expect(await sb.db.collection('events').countDocuments({})).toBe(0);
  }, 200_000);

  test('suspend: phase Suspended and no database operation at all; resume continues', async () => {
    await mustKubectl([
      'patch',
      'ap',
      NAME,
      '-n',
      sb.namespace,
      '--type=merge',
      '-p',
      '{"spec":{"suspend":true}}',
    ]);
    await waitFor(
      'phase Suspended',
      async () => (await getPolicy(sb.namespace, NAME))?.status?.phase === 'Suspended',
      30_000,
    );
    await waitFor(
      'the worker to close its MongoDB connections',
      () => sb.proxy.openConnections === 0,
      30_000,
    );
    const t0 = Date.now();
    await seed(sb.db, 'events', 300, 40, { tag: 'while-suspended', index: false }); // directly, not through the proxy
    await sleep(6000); // six fetch intervals
    expect(sb.proxy.dataCommands(t0)).toEqual([]);
    expect(sb.proxy.commands.filter((c) => c.at >= t0)).toEqual([]); // not even a heartbeat
    expect(sb.proxy.openConnections).toBe(0);
    expect(await sb.db.collection('events').countDocuments({ tag: 'while-suspended' })).toBe(300);
    const suspended = (await getPolicy(sb.namespace, NAME))!;
    expect(condition(suspended, 'Ready')).toMatchObject({ status: 'False', reason: 'Suspended' });
    expect(suspended.status!.totals!.documentsDeleted).toBe(1700);

    await mustKubectl([
      'patch',
      'ap',
      NAME,
      '-n',
      sb.namespace,
      '--type=merge',
      '-p',
      '{"spec":{"suspend":false}}',
    ]);
    await waitFor(
      'the documents inserted while suspended to be archived after resume',
      async () => {
        const x = await getPolicy(sb.namespace, NAME);
        return x?.status?.totals?.documentsDeleted === 2000 && x.status.phase === 'Idle';
      },
      120_000,
      500,
    );
    expect(sb.proxy.dataCommands(t0).length).toBeGreaterThan(0);
    expect(await sb.db.collection('events').countDocuments({})).toBe(0);
  }, 200_000);

  test('delete: the worker stops and no database operation follows', async () => {
    await mustKubectl(['delete', 'ap', NAME, '-n', sb.namespace, '--wait=true']);
    await op.waitForLog(
      'the worker to stop for the deleted policy',
      (l) => l.msg === 'worker stopped' && l.reason === 'policy deleted',
      30_000,
    );
    await waitFor(
      'the worker to close its MongoDB connections',
      () => sb.proxy.openConnections === 0,
      30_000,
    );
    const t0 = Date.now();
    await seed(sb.db, 'events', 50, 40, { tag: 'after-delete', index: false });
    await sleep(5000);
    expect(sb.proxy.commands.filter((c) => c.at >= t0)).toEqual([]);
    expect(await sb.db.collection('events').countDocuments({ tag: 'after-delete' })).toBe(50);
    expect(await op.runningPolicies()).toEqual(new Set());
    // Its lease is gone too (no garbage left in the lease namespace).
    await waitFor(
      'the policy lease to be deleted',
      async () => {
        const out = await mustKubectl([
          'get',
          'leases',
          '-n',
          sb.namespace,
          '-l',
          'gochive.io/lease-type=policy',
          '-o',
          'name',
        ]);
        return out.trim() === '';
      },
      30_000,
    );
    // The metrics series of the deleted policy are dropped.
    expect(await op.metrics()).not.toContain(`policy="${NAME}"`);
  }, 120_000);
});
