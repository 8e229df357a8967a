import type { WorkerSnapshot } from '../archiver/worker-api.js';
import { computeStatus } from './status.js';
import { zeroTotals } from '../archiver/counters.js';

const ctx = (iso: string) => ({ replica: 'r1', now: new Date(iso) });
const snap = (over: Partial<WorkerSnapshot>): WorkerSnapshot => ({
  state: 'Idle',
  totals: zeroTotals(),
  spooledDocuments: 0,
  spooledBytes: 0,
  ...over,
});
const cond = (s: ReturnType<typeof computeStatus>, type: string) =>
  s.conditions!.find((c) => c.type === type)!;

describe('computeStatus', () => {
  it('maps worker states to phases and conditions', () => {
    const cases: Array<[WorkerSnapshot['state'], string, string]> = [
      ['Starting', 'Pending', 'Unknown'],
      ['Archiving', 'Archiving', 'True'],
      ['Idle', 'Idle', 'True'],
      ['Blocked', 'Blocked', 'False'],
      ['Failed', 'Failed', 'False'],
    ];
    for (const [state, phase, ready] of cases) {
      const s = computeStatus(
        undefined,
        {
          kind: 'running',
          generation: 3,
          snapshot: snap({ state, reason: state === 'Blocked' ? 'NoIndex' : undefined }),
        },
        ctx('2025-01-01T00:00:00Z'),
      );
      expect(s.phase).toBe(phase);
      expect(cond(s, 'Ready').status).toBe(ready);
      expect(s.observedGeneration).toBe(3);
      expect(cond(s, 'Ready').observedGeneration).toBe(3);
      expect(cond(s, 'Archiving').status).toBe(state === 'Archiving' ? 'True' : 'False');
    }
    const blocked = computeStatus(
      undefined,
      {
        kind: 'running',
        generation: 1,
        snapshot: snap({ state: 'Blocked', reason: 'NoIndex', message: 'create index {createdAt: 1}' }),
      },
      ctx('2025-01-01T00:00:00Z'),
    );
    expect(cond(blocked, 'Ready')).toMatchObject({
      reason: 'NoIndex',
      message: 'create index {createdAt: 1}',
    });
  });

  it('reports a throttle as the Throttled condition, with the measured value, only for policies that have one', () => {
    const seconds = { ReplicationLag: 0, QueryLatency: 4 };
    const on = computeStatus(
      undefined,
      {
        kind: 'running',
        generation: 2,
        snapshot: snap({
          state: 'Archiving',
          throttle: {
            active: true,
            reason: 'QueryLatency',
            message: 'median latency of the last 5 queries 812 ms is above maxQueryLatencyMilliseconds 500',
            seconds,
          },
        }),
      },
      ctx('2025-01-01T00:00:00Z'),
    );
    expect(on.phase).toBe('Archiving');
    expect(cond(on, 'Throttled')).toMatchObject({
      status: 'True',
      reason: 'QueryLatency',
      message: 'median latency of the last 5 queries 812 ms is above maxQueryLatencyMilliseconds 500',
      lastTransitionTime: '2025-01-01T00:00:00Z',
    });
    const off = computeStatus(
      on,
      {
        kind: 'running',
        generation: 2,
        snapshot: snap({ state: 'Archiving', throttle: { active: false, seconds } }),
      },
      ctx('2025-01-01T00:01:00Z'),
    );
    expect(cond(off, 'Throttled')).toMatchObject({
      status: 'False',
      reason: 'NotThrottled',
      lastTransitionTime: '2025-01-01T00:01:00Z',
    });
    const stopped = computeStatus(off, { kind: 'suspended', generation: 3 }, ctx('2025-01-01T00:02:00Z'));
    expect(cond(stopped, 'Throttled')).toMatchObject({ status: 'False', reason: 'NotRunning' });
    const none = computeStatus(
      undefined,
      { kind: 'running', generation: 1, snapshot: snap({ state: 'Archiving' }) },
      ctx('2025-01-01T00:00:00Z'),
    );
    expect(none.conditions!.map((c) => c.type)).toEqual(['Ready', 'Archiving', 'Degraded']);
  });

  it("keeps the ledger's fields (bundles in flight, dry-run position) as they are", () => {
    const prev = {
      ledger: { epoch: 'e1', bundles: [] },
      dryRunPosition: { selection: 'abc', mode: 'range' as const, lastAge: 'AAAA' },
    };
    const next = computeStatus(
      prev,
      { kind: 'running', generation: 1, snapshot: snap({ state: 'Starting' }) },
      ctx('2025-01-01T00:00:01Z'),
    );
    expect(next.ledger).toEqual(prev.ledger);
    expect(next.dryRunPosition).toEqual(prev.dryRunPosition);
  });

  it('keeps the totals the ledger wrote and copies the progress fields', () => {
    const s = computeStatus(
      { totals: { documentsArchived: 105, documentsDeleted: 5, bundlesUploaded: 3, bytesUploaded: 77 } },
      {
        kind: 'running',
        generation: 2,
        snapshot: snap({
          state: 'Archiving',
          // A worker's own figures (counts since it started) never replace the ledger's.
          totals: { ...zeroTotals(), documentsArchived: 5 },
          lastBundle: { key: 'k/1', documents: 5, bytes: 77, uploadedAt: '2025-01-01T00:00:00Z' },
          spooledDocuments: 3,
          spooledBytes: 300,
          backlog: 42.4,
          lastUploadTime: '2025-01-01T00:00:00Z',
        }),
      },
      ctx('2025-01-01T00:00:01Z'),
    );
    expect(s.totals).toMatchObject({
      documentsArchived: 105,
      documentsDeleted: 5,
      bundlesUploaded: 3,
      bytesUploaded: 77,
    });
    expect(s.lastBundle).toMatchObject({ key: 'k/1', documents: 5 });
    expect(s.spool).toEqual({ documents: 3, bytes: 300 });
    expect(s.backlog).toBe(42);
    expect(s.lastUploadTime).toBe('2025-01-01T00:00:00Z');
    expect(s.activeReplica).toBe('r1');
  });

  it('shows the last expiry pass, and keeps it while a worker that has not pruned yet runs', () => {
    const lastPrune = {
      time: '2025-01-01T00:00:00Z',
      cutoff: '2024-01-01T00:00:00Z',
      bundles: 3,
      bytes: 300,
      dryRun: false,
      kept: 1,
    };
    const s = computeStatus(
      undefined,
      { kind: 'running', generation: 1, snapshot: snap({ lastPrune }) },
      ctx('2025-01-01T00:00:01Z'),
    );
    expect(s.lastPrune).toEqual(lastPrune);
    const next = computeStatus(
      s,
      { kind: 'running', generation: 2, snapshot: snap({}) },
      ctx('2025-01-01T00:01:00Z'),
    );
    expect(next.lastPrune).toEqual(lastPrune);
  });

  it('reports documentsIneligible as the current count, not a sum over worker restarts', () => {
    const prev = { totals: { documentsIneligible: 7, documentsArchived: 3 } };
    const fresh = computeStatus(
      prev,
      { kind: 'running', generation: 1, snapshot: snap({ state: 'Starting' }) },
      ctx('2025-01-01T00:00:00Z'),
    );
    expect(fresh.totals).toMatchObject({ documentsIneligible: 7, documentsArchived: 3 });
    const measured = computeStatus(
      prev,
      {
        kind: 'running',
        generation: 1,
        snapshot: snap({
          state: 'Idle',
          backlog: 0,
          totals: { ...zeroTotals(), documentsIneligible: 8, documentsArchived: 1 },
        }),
      },
      ctx('2025-01-01T00:00:00Z'),
    );
    expect(measured.totals).toMatchObject({ documentsIneligible: 8, documentsArchived: 3 });
  });

  it('moves lastTransitionTime only when a condition status flips', () => {
    const obs = (state: WorkerSnapshot['state']) => ({
      kind: 'running' as const,
      generation: 1,
      snapshot: snap({ state }),
    });
    const a = computeStatus(undefined, obs('Archiving'), ctx('2025-01-01T00:00:00Z'));
    const b = computeStatus(a, obs('Archiving'), ctx('2025-01-01T00:05:00Z'));
    expect(cond(b, 'Ready').lastTransitionTime).toBe('2025-01-01T00:00:00Z');
    const c = computeStatus(b, obs('Idle'), ctx('2025-01-01T00:10:00Z'));
    expect(cond(c, 'Ready').lastTransitionTime).toBe('2025-01-01T00:00:00Z'); // still True
    expect(cond(c, 'Archiving').lastTransitionTime).toBe('2025-01-01T00:10:00Z'); // True -> False
    expect(cond(c, 'Archiving').reason).toBe('NoBacklog');
  });

  it('reports an error newer than the last progress as Degraded and not Ready, and clears it after progress', () => {
    const err = { time: '2025-01-01T00:00:10Z', stage: 'connect' as const, message: 'connection refused' };
    const s = computeStatus(
      undefined,
      {
        kind: 'running',
        generation: 1,
        snapshot: snap({ state: 'Idle', lastFetchTime: '2025-01-01T00:00:05Z', lastError: err }),
      },
      ctx('2025-01-01T00:00:11Z'),
    );
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'ConnectFailed' });
    expect(cond(s, 'Ready').status).toBe('False');
    expect(s.lastError).toMatchObject({ stage: 'connect', message: 'connection refused' });
    const r = computeStatus(
      s,
      {
        kind: 'running',
        generation: 1,
        snapshot: snap({ state: 'Idle', lastFetchTime: '2025-01-01T00:00:20Z', lastError: err }),
      },
      ctx('2025-01-01T00:00:21Z'),
    );
    expect(cond(r, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    expect(cond(r, 'Ready').status).toBe('True');
    expect(r.lastError).toBeDefined(); // the last error stays visible
  });

  it('reports a worker that exited and is being restarted as Degraded', () => {
    const s = computeStatus(
      undefined,
      {
        kind: 'running',
        generation: 1,
        snapshot: snap({ state: 'Starting' }),
        exited: { message: 'boom', retryInMs: 4000 },
      },
      ctx('2025-01-01T00:00:00Z'),
    );
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'WorkerRestarting' });
    expect(cond(s, 'Degraded').message).toContain('restarting in 4s');
  });

  it('covers the controller-level phases', () => {
    const t = ctx('2025-01-01T00:00:00Z');
    expect(computeStatus(undefined, { kind: 'suspended', generation: 4 }, t)).toMatchObject({
      phase: 'Suspended',
      observedGeneration: 4,
    });
    const inv = computeStatus(
      undefined,
      { kind: 'invalid', generation: 2, message: 'spec.queryLimit: must be at least 1' },
      t,
    );
    expect(inv.phase).toBe('Failed');
    expect(cond(inv, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'InvalidSpec',
      message: 'spec.queryLimit: must be at least 1',
    });
    const bl = computeStatus(
      undefined,
      { kind: 'blocked', generation: 1, reason: 'SecretNotFound', message: 'Secret x/y does not exist' },
      t,
    );
    expect(bl.phase).toBe('Blocked');
    expect(cond(bl, 'Ready').reason).toBe('SecretNotFound');
    // Totals of a stopped worker survive a suspend.
    const sus = computeStatus(
      { totals: { documentsArchived: 9 } },
      { kind: 'suspended', generation: 5, snapshot: snap({}) },
      t,
    );
    expect(sus.totals?.documentsArchived).toBe(9);
  });

  it('never writes an invalid condition reason', () => {
    const s = computeStatus(
      undefined,
      {
        kind: 'running',
        generation: 1,
        snapshot: snap({ state: 'Blocked', reason: 'no index!' }),
      },
      ctx('2025-01-01T00:00:00Z'),
    );
    expect(cond(s, 'Ready').reason).toMatch(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/);
  });
});
