// The reconcile decisions, driven with an in-memory worker double (the real engine is exercised by the
// integration tests under test/integration/operator).
import type { ArchivePolicy, ArchivePolicyStatus } from '../api/schema.js';
import type { ArchiveWorker, WorkerOptions, WorkerSnapshot } from '../archiver/worker-api.js';
import { applyChange, ledgerOfStatus, type LedgerStore } from '../archiver/ledger.js';
import { createLogger } from '../util/logger.js';
import type { EventInput } from './events.js';
import { zeroTotals } from '../archiver/counters.js';
import { OperatorMetrics } from './metrics.js';
import { minimalSpec } from './spec-fixture.js';
import { Reconciler } from './reconciler.js';
import type { StatusComputer } from './status-writer.js';
import { WorkerSupervisor } from './workers.js';

class FakeWorker implements ArchiveWorker {
  stopped = false;
  private finish!: (err?: Error) => void;
  private readonly done = new Promise<void>((resolve, reject) => {
    this.finish = (err) => (err ? reject(err) : resolve());
  });
  snap: WorkerSnapshot = { state: 'Starting', totals: zeroTotals(), spooledDocuments: 0, spooledBytes: 0 };
  constructor(readonly opts: WorkerOptions) {}
  run(): Promise<void> {
    return this.done;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    this.finish();
    await this.done.catch(() => undefined);
  }
  snapshot(): WorkerSnapshot {
    return this.snap;
  }
  emit(over: Partial<WorkerSnapshot>): void {
    this.snap = { ...this.snap, ...over };
    this.opts.events?.onSnapshot?.(this.snap);
  }
  crash(msg: string): void {
    this.finish(new Error(msg));
  }
}

/** A worker double that counts documentsArchived through its ledger, as the engine does. */
class CountingWorker extends FakeWorker {
  /** Counts n documents: one ledger step (the status, written at once), then shown. */
  archive(n: number): void {
    void this.opts.ledger!.update((cur) => ({ bundles: cur.bundles, add: { documentsArchived: n } }));
    this.emit({ state: 'Archiving' });
  }
}

/** The ledger over the fake API server's copy of the status (status-ledger.ts does this over HTTP). */
function memoryLedger(server: Map<string, ArchivePolicyStatus>, key: string): LedgerStore {
  const read = async () => ledgerOfStatus(server.get(key));
  return {
    read,
    update: async (step) => {
      const cur = ledgerOfStatus(server.get(key));
      const change = step(cur);
      if (!change) return cur;
      const next = applyChange(cur, change);
      const prev = server.get(key) ?? {};
      server.set(key, {
        ...prev,
        totals: { ...(prev.totals ?? {}), ...next.totals },
        ledger: { ...(next.epoch ? { epoch: next.epoch } : {}), bundles: next.bundles },
      });
      return next;
    },
  };
}

const baseSpec = { hostAddress: 'db1', ...minimalSpec };

function policy(
  over: {
    generation?: number;
    spec?: Record<string, unknown>;
    uid?: string;
    status?: ArchivePolicyStatus;
  } = {},
): ArchivePolicy {
  return {
    apiVersion: 'gochive.io/v1alpha1',
    kind: 'ArchivePolicy',
    metadata: { name: 'p1', namespace: 'team', uid: over.uid ?? 'uid-1', generation: over.generation ?? 1 },
    spec: { ...baseSpec, ...(over.spec ?? {}) } as ArchivePolicy['spec'],
    ...(over.status ? { status: over.status } : {}),
  };
}

/**
 * `server` stands for the API server's copy of the status (shared by "replicas" and "processes");
 * `journal` for the replica's spool.
 */
function setup(server = new Map<string, ArchivePolicyStatus>(), identity = 'replica-a') {
  const policies = new Map<string, ArchivePolicy>();
  const held = new Set<string>(['team/p1']);
  const created: FakeWorker[] = [];
  const events: EventInput[] = [];
  const computers = new Map<string, StatusComputer>();
  const requeues: Array<[string, number]> = [];
  const metrics = new OperatorMetrics();
  let secretData: Record<string, string> | undefined = { username: 'u', password: 'hunter22' };
  const log = createLogger({ level: 'silent' });
  const workers = new WorkerSupervisor({
    createWorker: (o) => {
      const w = new CountingWorker(o);
      created.push(w);
      return w;
    },
    spoolRoot: '/tmp/spool',
    log,
    onExit: (key, rw) => r.handleExit(key, rw),
  });
  const r = new Reconciler({
    identity,
    log,
    settings: {
      uriTemplate: 'mongodb://{username}:{password}@{host}:27017/',
      credentialsSecret: { namespace: 'ops', name: 'mongo' },
      usernameKey: 'username',
      passwordKey: 'password',
    },
    getPolicy: (k) => policies.get(k),
    isHeld: (k) => held.has(k),
    ownsStatus: (k) => held.has(k),
    workers,
    secrets: { use: () => undefined, release: () => undefined, get: async () => secretData },
    status: {
      request: (key, _ref, _cur, _rv, compute) => {
        computers.set(key, compute);
      },
      flush: async () => undefined,
      forget: (key) => computers.delete(key),
    },
    recordEvent: (_p, ev) => events.push(ev),
    forgetEvents: () => undefined,
    metrics,
    addSecrets: () => undefined,
    requeueAfter: (k, ms) => requeues.push([k, ms]),
    ledgerFor: (ns, name) => memoryLedger(server, `${ns}/${name}`),
    restartBackoff: { baseMs: 1000, maxMs: 10_000, jitter: 0 },
  });
  const status = (key = 'team/p1'): ArchivePolicyStatus | undefined => {
    // Computing the status from the server's copy and storing it stands for a (conditional) write.
    const s = computers.get(key)?.(server.get(key));
    if (s) server.set(key, s);
    return s;
  };
  return {
    r,
    policies,
    held,
    created: created as CountingWorker[],
    events,
    status,
    requeues,
    workers,
    metrics,
    setSecret: (d: Record<string, string> | undefined) => (secretData = d),
  };
}

const flush = () => new Promise((res) => setTimeout(res, 5));

describe('Reconciler', () => {
  it('starts a worker with the resolved config and URI, and reports Pending then the worker phase', async () => {
    const t = setup();
    t.policies.set('team/p1', policy());
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(1);
    const w = t.created[0]!;
    expect(w.opts.mongoUri).toBe('mongodb://u:hunter22@db1:27017/');
    expect(w.opts.config).toMatchObject({
      name: 'p1',
      namespace: 'team',
      collection: 'c',
      archiveCheckIntervalMs: 1000,
      uploadIntervalMs: 2000,
    });
    expect(w.opts.spoolRoot).toBe('/tmp/spool');
    expect(t.status()).toMatchObject({ phase: 'Pending', observedGeneration: 1, activeReplica: 'replica-a' });
    w.emit({ state: 'Archiving', backlog: 10 });
    expect(t.status()?.phase).toBe('Archiving');
    w.archive(10);
    w.emit({ state: 'Idle', backlog: 0 });
    expect(t.status()).toMatchObject({ phase: 'Idle', totals: { documentsArchived: 10 } });
    expect(t.events.map((e) => e.reason)).toContain('Started');
    // Level-based: reconciling again with nothing changed keeps the same worker.
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(1);
  });

  it('restarts on a new generation and carries the totals over', async () => {
    const server = new Map<string, ArchivePolicyStatus>([
      ['team/p1', { totals: { documentsArchived: 100 } }],
    ]);
    const t = setup(server);
    t.policies.set('team/p1', policy());
    await t.r.reconcile('team/p1');
    t.created[0]!.archive(7);
    expect(t.status()?.totals?.documentsArchived).toBe(107);
    t.policies.set('team/p1', policy({ generation: 2, spec: { ageLimit: '10d' } }));
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(2);
    expect(t.created[0]!.stopped).toBe(true);
    expect(t.created[1]!.opts.config.ageLimitMs).toBe(10 * 86_400_000);
    t.created[1]!.archive(1);
    expect(t.status()).toMatchObject({ observedGeneration: 2, totals: { documentsArchived: 108 } });
  });

  it('status writes keep the counts the ledger wrote, from any replica, and never add them again', async () => {
    const server = new Map<string, ArchivePolicyStatus>([
      ['team/p1', { totals: { documentsArchived: 100 } }],
    ]);
    const a = setup(server, 'replica-a');
    const b = setup(server, 'replica-b');
    a.policies.set('team/p1', policy());
    b.policies.set('team/p1', policy());
    await a.r.reconcile('team/p1');
    a.created[0]!.archive(10);
    await flush();
    expect(a.status()?.totals?.documentsArchived).toBe(110);
    expect(a.status()?.totals?.documentsArchived).toBe(110);
    // The lease moves to b (a was killed: it writes nothing more); b's worker counts through the ledger.
    a.held.delete('team/p1');
    await a.r.reconcile('team/p1');
    await b.r.reconcile('team/p1');
    b.created[0]!.archive(6);
    await flush();
    expect(b.status()?.totals?.documentsArchived).toBe(116);
    // A status computed from a base that already holds the counts adds nothing.
    expect(b.status()?.totals?.documentsArchived).toBe(116);
    expect(server.get('team/p1')?.totals?.documentsArchived).toBe(116);
  });

  it('a stopped worker keeps its last documentsIneligible (a gauge) in status', async () => {
    const t = setup();
    t.policies.set('team/p1', policy());
    await t.r.reconcile('team/p1');
    t.created[0]!.emit({ state: 'Idle', backlog: 0, totals: { ...zeroTotals(), documentsIneligible: 5 } });
    t.created[0]!.archive(1);
    expect(t.status()?.totals?.documentsIneligible).toBe(5);
    t.policies.set('team/p1', policy({ generation: 2, spec: { suspend: true } }));
    await t.r.reconcile('team/p1');
    expect(t.created[0]!.stopped).toBe(true);
    expect(t.status()?.totals?.documentsIneligible).toBe(5);
  });

  it('restarts when the credentials Secret changes', async () => {
    const t = setup();
    t.policies.set('team/p1', policy());
    await t.r.reconcile('team/p1');
    t.setSecret({ username: 'u', password: 'rotated99' });
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(2);
    expect(t.created[1]!.opts.mongoUri).toContain('rotated99');
  });

  it('stops on suspend (phase Suspended) and starts again on resume', async () => {
    const t = setup();
    t.policies.set('team/p1', policy());
    await t.r.reconcile('team/p1');
    t.policies.set('team/p1', policy({ generation: 2, spec: { suspend: true } }));
    await t.r.reconcile('team/p1');
    expect(t.created[0]!.stopped).toBe(true);
    expect(t.workers.size).toBe(0);
    expect(t.status()).toMatchObject({ phase: 'Suspended', observedGeneration: 2 });
    t.policies.set('team/p1', policy({ generation: 3, spec: { suspend: false } }));
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(2);
    expect(t.workers.size).toBe(1);
  });

  it('stops on delete and on losing the lease, writing nothing afterwards', async () => {
    const t = setup();
    t.policies.set('team/p1', policy());
    await t.r.reconcile('team/p1');
    t.held.delete('team/p1');
    await t.r.reconcile('team/p1');
    expect(t.created[0]!.stopped).toBe(true);
    expect(t.status()).toBeUndefined();
    t.held.add('team/p1');
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(2);
    t.policies.delete('team/p1');
    await t.r.reconcile('team/p1');
    expect(t.created[1]!.stopped).toBe(true);
    expect(t.workers.size).toBe(0);
  });

  it('marks an invalid spec Failed with the field named, and a missing Secret Blocked', async () => {
    const t = setup();
    t.policies.set('team/p1', policy({ spec: { queryLimit: -1 } }));
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(0);
    const s = t.status()!;
    expect(s.phase).toBe('Failed');
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ reason: 'InvalidSpec' });
    expect(s.conditions?.find((c) => c.type === 'Ready')?.message).toContain('queryLimit');
    const t2 = setup();
    t2.setSecret(undefined);
    t2.policies.set('team/p1', policy());
    await t2.r.reconcile('team/p1');
    expect(t2.created).toHaveLength(0);
    expect(t2.status()).toMatchObject({ phase: 'Blocked' });
    expect(t2.events.map((e) => e.reason)).toContain('SecretNotFound');
  });

  // A policy that got past the CRD (an older CRD, --validate=false on a cluster without the rules, a
  // direct etcd write): the operator's own validation refuses it before any worker exists (SPEC I9, §3).
  it.each([
    ['database admin', { database: 'admin' }, /database: "admin" is a MongoDB system database/],
    ['database local', { database: 'local' }, /database: "local" is a MongoDB system database/],
    ['database config', { database: 'config' }, /database: "config" is a MongoDB system database/],
    [
      'collection system.users',
      { collection: 'system.users' },
      /collection: "system\.users" is a MongoDB system collection/,
    ],
    [
      'a file:// destination',
      { s3: { bucket: 'file:///var/lib/gochive/archive', uploadInterval: 2 } },
      /s3\.bucket: "file:\/\/\/var\/lib\/gochive\/archive" is not allowed in an ArchivePolicy: .*not durable/,
    ],
  ])('never starts a worker for %s: Failed/InvalidSpec naming the field', async (_what, spec, says) => {
    const t = setup();
    t.policies.set('team/p1', policy({ spec }));
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(0);
    const s = t.status()!;
    expect(s.phase).toBe('Failed');
    const ready = s.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(ready?.message).toMatch(says);
    expect(t.events.map((e) => e.reason)).toContain('InvalidSpec');
  });

  it('restarts a worker that exits on its own after a growing back-off, reporting Degraded', async () => {
    const t = setup();
    t.policies.set('team/p1', policy());
    await t.r.reconcile('team/p1');
    t.created[0]!.crash('connect ECONNREFUSED mongodb://u:hunter22@db1:27017/');
    await flush();
    expect(t.requeues).toEqual([['team/p1', 1000]]);
    const s = t.status()!;
    expect(s.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'WorkerRestarting',
    });
    expect(JSON.stringify(s)).not.toContain('hunter22');
    // Too early: waits.
    const r = await t.r.reconcile('team/p1');
    expect(r && r.requeueAfterMs).toBeGreaterThan(0);
    expect(t.created).toHaveLength(1);
  });

  it('exports gochive_policy_phase for policies with and without a worker, and drops it with the lease', async () => {
    const t = setup();
    /** The phases at 1 for team/p1, from /metrics as Prometheus would scrape it. */
    const phases = async (): Promise<string[]> =>
      [
        ...(await t.metrics.render()).body.matchAll(
          /^gochive_policy_phase\{namespace="team",policy="p1",phase="(\w+)"\} (\d)$/gm,
        ),
      ]
        .filter((m) => m[2] === '1')
        .map((m) => m[1]!);
    const series = async (): Promise<number> =>
      ((await t.metrics.render()).body.match(/^gochive_policy_phase\{/gm) ?? []).length;

    t.policies.set('team/p1', policy({ spec: { queryLimit: -1 } }));
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(0);
    expect(await phases()).toEqual(['Failed']);
    expect(await series()).toBe(6); // one per phase, the others at 0

    t.setSecret(undefined);
    t.policies.set('team/p1', policy({ generation: 2 }));
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(0);
    expect(await phases()).toEqual(['Blocked']);

    t.setSecret({ username: 'u', password: 'hunter22' });
    await t.r.reconcile('team/p1');
    expect(await phases()).toEqual(['Pending']);
    t.created[0]!.emit({ state: 'Idle', backlog: 0 });
    expect(await phases()).toEqual(['Idle']);
    t.created[0]!.emit({ state: 'Failed', reason: 'IndexMissing' });
    expect(await phases()).toEqual(['Failed']);

    t.policies.set('team/p1', policy({ generation: 3, spec: { suspend: true } }));
    await t.r.reconcile('team/p1');
    expect(await phases()).toEqual(['Suspended']);

    // The lease moves to another replica: this one exports nothing for the policy any more.
    t.held.delete('team/p1');
    await t.r.reconcile('team/p1');
    expect(await series()).toBe(0);
    t.held.add('team/p1');
    await t.r.reconcile('team/p1');
    expect(await phases()).toEqual(['Suspended']);
    // Deleted: gone too.
    t.policies.delete('team/p1');
    await t.r.reconcile('team/p1');
    expect(await series()).toBe(0);
  });
});
