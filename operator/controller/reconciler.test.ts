// The reconcile decisions, driven with an in-memory worker double (the real engine is exercised by the
// integration tests under test/integration/operator).
import type { ArchivePolicy, ArchivePolicyStatus } from '../api/schema.js';
import type { ArchiveWorker, WorkerOptions, WorkerSnapshot, WorkerTotals } from '../archiver/worker-api.js';
import { createLogger } from '../util/logger.js';
import type { EventInput } from './events.js';
import { OperatorMetrics, zeroTotals } from './metrics.js';
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

/** The journal the real engine keeps in the spool: the totals not yet acknowledged (totals outbox). */
interface OutboxJournal {
  unacked: number;
  holder?: OutboxWorker;
}

/** A worker double with the totals outbox: counts documentsArchived, carries what was never acknowledged. */
class OutboxWorker extends FakeWorker {
  private count: number;
  private acked = 0;
  constructor(
    opts: WorkerOptions,
    private readonly journal: OutboxJournal,
  ) {
    super(opts);
    this.count = journal.unacked; // a restarted worker reports the remainder
    journal.holder = this;
    this.snap = { ...this.snap, totals: { ...zeroTotals(), documentsArchived: this.count } };
  }
  override run(): Promise<void> {
    this.emit({}); // the carried totals, as the engine reports them once its journal is loaded
    return super.run();
  }
  archive(n: number): void {
    this.count += n;
    this.journal.unacked = this.count - this.acked; // journaled with the transition
    this.emit({ state: 'Archiving', totals: { ...zeroTotals(), documentsArchived: this.count } });
  }
  override async stop(): Promise<void> {
    await super.stop();
    if (this.journal.holder === this) this.journal.holder = undefined;
  }
  async acknowledgeTotals(t: WorkerTotals): Promise<boolean> {
    this.acked = Math.max(this.acked, Math.min(t.documentsArchived, this.count));
    if (this.journal.holder && this.journal.holder !== this) return false; // a newer worker holds the spool
    this.journal.unacked = this.count - this.acked;
    return true;
  }
}

const baseSpec = {
  hostAddress: 'db1',
  ageLimit: '30d',
  archiveCheckInterval: 1,
  collection: 'c',
  database: 'd',
  archiveField: 'createdAt',
  s3: { bucket: 'bucket/p/', uploadInterval: 2 },
};

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

function setup(journal?: OutboxJournal) {
  const policies = new Map<string, ArchivePolicy>();
  const held = new Set<string>(['team/p1']);
  const created: FakeWorker[] = [];
  const events: EventInput[] = [];
  const computers = new Map<string, StatusComputer>();
  const onWritten = new Map<string, (s: ArchivePolicyStatus) => void>();
  const written = new Map<string, ArchivePolicyStatus>();
  const requeues: Array<[string, number]> = [];
  let secretData: Record<string, string> | undefined = { username: 'u', password: 'hunter22' };
  const log = createLogger({ level: 'silent' });
  const workers = new WorkerSupervisor({
    createWorker: (o) => {
      const w = journal ? new OutboxWorker(o, journal) : new FakeWorker(o);
      created.push(w);
      return w;
    },
    spoolRoot: '/tmp/spool',
    log,
    onExit: (key, rw) => r.handleExit(key, rw),
  });
  const r = new Reconciler({
    identity: 'replica-a',
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
      request: (key, _ref, _cur, compute, written) => {
        computers.set(key, compute);
        if (written) onWritten.set(key, written);
      },
      flush: async () => undefined,
      forget: (key) => computers.delete(key),
    },
    recordEvent: (_p, ev) => events.push(ev),
    forgetEvents: () => undefined,
    metrics: new OperatorMetrics(),
    addSecrets: () => undefined,
    requeueAfter: (k, ms) => requeues.push([k, ms]),
    restartBackoff: { baseMs: 1000, maxMs: 10_000, jitter: 0 },
  });
  const status = (key = 'team/p1'): ArchivePolicyStatus | undefined => {
    // Computing the status here stands for writing it; the writer then reports it written.
    const s = computers.get(key)?.(written.get(key));
    if (s) {
      written.set(key, s);
      onWritten.get(key)?.(s);
    }
    return s;
  };
  return {
    r,
    policies,
    held,
    created,
    events,
    status,
    requeues,
    workers,
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
    w.emit({ state: 'Idle', backlog: 0, totals: { ...zeroTotals(), documentsArchived: 10 } });
    expect(t.status()).toMatchObject({ phase: 'Idle', totals: { documentsArchived: 10 } });
    expect(t.events.map((e) => e.reason)).toContain('Started');
    // Level-based: reconciling again with nothing changed keeps the same worker.
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(1);
  });

  it('restarts on a new generation and carries the totals over', async () => {
    const t = setup();
    t.policies.set('team/p1', policy({ status: { totals: { documentsArchived: 100 } } }));
    await t.r.reconcile('team/p1');
    t.created[0]!.emit({ state: 'Idle', totals: { ...zeroTotals(), documentsArchived: 7 } });
    expect(t.status()?.totals?.documentsArchived).toBe(107);
    t.policies.set('team/p1', policy({ generation: 2, spec: { ageLimit: '10d' } }));
    await t.r.reconcile('team/p1');
    expect(t.created).toHaveLength(2);
    expect(t.created[0]!.stopped).toBe(true);
    expect(t.created[1]!.opts.config.ageLimitMs).toBe(10 * 86_400_000);
    t.created[1]!.emit({ state: 'Idle', totals: { ...zeroTotals(), documentsArchived: 1 } });
    expect(t.status()).toMatchObject({ observedGeneration: 2, totals: { documentsArchived: 108 } });
  });

  it('totals outbox: a kill -9 between status writes loses nothing, a restart counts nothing twice', async () => {
    const journal: OutboxJournal = { unacked: 0 };
    const t = setup(journal);
    t.policies.set('team/p1', policy({ status: { totals: { documentsArchived: 100 } } }));
    await t.r.reconcile('team/p1');
    const a = t.created[0] as OutboxWorker;
    a.archive(7);
    expect(t.status()?.totals?.documentsArchived).toBe(107); // written and acknowledged
    await flush();
    expect(journal.unacked).toBe(0);
    a.archive(3); // counted and journaled, but the process dies before the next status write
    expect(journal.unacked).toBe(3);

    // A new operator process: status said 107; the restarted worker carries the 3.
    journal.holder = undefined;
    const t2 = setup(journal);
    t2.policies.set('team/p1', policy({ status: { totals: { documentsArchived: 107 } } }));
    await t2.r.reconcile('team/p1');
    expect(t2.status()?.totals?.documentsArchived).toBe(110);
    await flush();
    expect(journal.unacked).toBe(0);
    const b = t2.created[0] as OutboxWorker;
    b.archive(5); // not written yet

    // Restart in the same process (new generation): the unacknowledged 5 move to the next worker, once.
    t2.policies.set(
      'team/p1',
      policy({ generation: 2, spec: { ageLimit: '10d' }, status: { totals: { documentsArchived: 110 } } }),
    );
    await t2.r.reconcile('team/p1');
    expect(t2.created).toHaveLength(2);
    const c = t2.created[1] as OutboxWorker;
    c.archive(2);
    expect(t2.status()?.totals?.documentsArchived).toBe(117);
    await flush();
    expect(journal.unacked).toBe(0);

    // Suspended: the stopped worker's last counts are written and acknowledged to its journal, so a
    // later start (here: another process) does not count them again.
    c.archive(4);
    t2.policies.set('team/p1', policy({ generation: 3, spec: { suspend: true } }));
    await t2.r.reconcile('team/p1');
    expect(t2.status()?.totals?.documentsArchived).toBe(121);
    await flush();
    expect(journal.unacked).toBe(0);
    expect(t2.status()?.totals?.documentsArchived).toBe(121);
    const t3 = setup(journal);
    t3.policies.set('team/p1', policy({ status: { totals: { documentsArchived: 121 } } }));
    await t3.r.reconcile('team/p1');
    expect(t3.status()?.totals?.documentsArchived).toBe(121);
  });

  it('a stopped worker keeps its last documentsIneligible (a gauge) in status', async () => {
    const t = setup();
    t.policies.set('team/p1', policy());
    await t.r.reconcile('team/p1');
    t.created[0]!.emit({ state: 'Idle', backlog: 0, totals: { ...zeroTotals(), documentsIneligible: 5 } });
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
});
