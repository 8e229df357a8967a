// The throttle's latency signal (a moving median) and its gate (start, re-check, hysteresis, end), with a
// fake clock: each probe "takes" the latency the test scripts, so nothing depends on the machine's speed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BSON, type Collection, type Db, type Document } from 'mongodb';
import { repoRootFrom } from '../api/generate.js';
import { createLogger } from '../util/logger.js';
import type { ThrottleConfig } from './config.js';
import { LatencySignal } from './throttle-latency.js';
import { Throttle, type ThrottleChange } from './throttle.js';

describe('LatencySignal', () => {
  it('has no verdict before three samples', () => {
    const s = new LatencySignal();
    s.record(900);
    s.record(900);
    expect(s.median).toBeUndefined();
    expect(s.above(100)).toBe(false);
    s.record(900);
    expect(s.above(100)).toBe(true);
  });

  it('one slow query among fast ones does not move the median', () => {
    const s = new LatencySignal();
    for (const ms of [10, 12, 5000, 11, 9]) s.record(ms);
    expect(s.median).toBe(11);
    expect(s.above(100)).toBe(false);
  });

  it('three slow queries of the last five do', () => {
    const s = new LatencySignal();
    for (const ms of [10, 12, 11, 700, 800, 900]) s.record(ms);
    expect(s.median).toBe(700);
  });

  it('keeps only the last five samples', () => {
    const s = new LatencySignal();
    for (const ms of [900, 900, 900, 900, 900, 1, 1, 1]) s.record(ms);
    expect(s.median).toBe(1);
    expect(s.count).toBe(5);
  });
});

/** A throttle with a fake clock; probes take the scripted latencies in turn. */
function harness(cfg: Partial<ThrottleConfig>, probeMs: number[] = [], admin?: Db) {
  let now = 1_000;
  const changes: ThrottleChange[] = [];
  let probes = 0;
  let ticks = 0;
  const coll = {
    find: () => ({
      toArray: async () => {
        now += probeMs[Math.min(probes, probeMs.length - 1)]!;
        probes++;
        return [];
      },
    }),
  } as unknown as Collection;
  const ac = new AbortController();
  const t = new Throttle({
    cfg: { checkIntervalMs: 1, ...cfg },
    log: createLogger({ level: 'silent' }),
    signal: ac.signal,
    connect: async () => undefined,
    collection: () => coll,
    admin: () => admin,
    target: { database: 'd', collection: 'c', archiveField: 'createdAt', archiveFieldFormat: 'date' },
    cutoffMs: () => 0,
    secrets: [],
    onChange: (c) => changes.push(c),
    onTick: () => ticks++,
    clock: () => now,
  });
  return { t, changes, ac, probes: () => probes, ticks: () => ticks };
}

describe('Throttle gate: query latency', () => {
  it('stays open while the median is under the limit', async () => {
    const h = harness({ maxQueryLatencyMs: 100 });
    for (const ms of [20, 30, 400, 25, 30]) h.t.recordLatency(ms);
    await h.t.gate();
    expect(h.changes).toEqual([]);
    expect(h.probes()).toBe(0);
    expect(h.t.snapshot()).toEqual({ active: false, seconds: { ReplicationLag: 0, QueryLatency: 0 } });
  });

  it('closes above the limit and opens only once the median is at most 80% of it (hysteresis)', async () => {
    // Probes: 90 ms (under the 100 ms limit, above the 80 ms resume point) keeps it closed; then 70 ms.
    const h = harness({ maxQueryLatencyMs: 100 }, [90, 90, 90, 70, 70, 70]);
    for (const ms of [110, 120, 130]) h.t.recordLatency(ms);
    await h.t.gate();
    // medians after each probe: 115, 110, 90, 90, 90, 70 → the sixth opens the gate.
    expect(h.probes()).toBe(6);
    expect(h.changes.map((c) => [c.phase, c.reason])).toEqual([
      ['start', 'QueryLatency'],
      ['end', 'QueryLatency'],
    ]);
    expect(h.changes[0]!.message).toBe(
      'median latency of the last 3 queries 120 ms is above maxQueryLatencyMilliseconds 100; resumes at 80 ms or less: no new fetch or delete starts',
    );
    // The probes' time (the fake clock) is the throttled time.
    expect(h.changes[1]!.seconds).toBeCloseTo(0.48, 5);
    const snap = h.t.snapshot();
    expect(snap.active).toBe(false);
    expect(snap.seconds.QueryLatency).toBeCloseTo(0.48, 5);
    expect(h.ticks()).toBe(5);
  });

  it('a stop while throttled ends the throttle and returns', async () => {
    const h = harness({ maxQueryLatencyMs: 100 }, [500]);
    for (const ms of [500, 500, 500]) h.t.recordLatency(ms);
    const gate = h.t.gate();
    while (h.probes() < 2) await new Promise((r) => setTimeout(r, 1));
    expect(h.t.snapshot()).toMatchObject({ active: true, reason: 'QueryLatency' });
    h.ac.abort();
    await gate;
    expect(h.changes.at(-1)).toMatchObject({ phase: 'end', reason: 'QueryLatency' });
    expect(h.changes.at(-1)!.message).toMatch(/the worker is stopping/);
  });
});

describe('Throttle gate: replication lag', () => {
  const dir = path.join(repoRootFrom(import.meta.url), 'test/fixtures/replset');
  const status = BSON.EJSON.parse(readFileSync(path.join(dir, 'healthy-three-members.status.json'), 'utf8'), {
    relaxed: true,
  }) as Document;
  /** The recorded reply with the slowest secondary `lagSeconds` behind. */
  const withLag = (lagSeconds: number): Document => {
    const s = structuredClone(status);
    const members = s.members as Document[];
    members[2]!.optimeDate = new Date((members[0]!.optimeDate as Date).getTime() - lagSeconds * 1000);
    return s;
  };

  it('closes while the lag is above maxReplicationLag and opens at 80% of it', async () => {
    const lags = [45, 28, 25, 20];
    const sent: string[] = [];
    const admin = {
      command: async (cmd: Document) => {
        const name = Object.keys(cmd)[0]!;
        sent.push(name);
        if (name === 'hello') return { setName: 'rs0', isWritablePrimary: true, ok: 1 };
        if (name === 'replSetGetStatus') return withLag(lags.shift()!);
        return { config: { members: [] }, ok: 1 };
      },
    } as unknown as Db;
    const h = harness({ maxReplicationLagMs: 30_000 }, [], admin);
    await h.t.gate();
    expect(h.changes.map((c) => [c.phase, c.reason])).toEqual([
      ['start', 'ReplicationLag'],
      ['end', 'ReplicationLag'],
    ]);
    expect(h.changes[0]!.message).toBe(
      'replication lag 45.0s (db-2.example.net:27017 behind primary db-0.example.net:27017) is above maxReplicationLag 30s; resumes at 24s or less: no new fetch or delete starts',
    );
    expect(lags).toEqual([]); // 28 s and 25 s (under 30 s, over 24 s) kept it closed
    expect(sent.filter((c) => c === 'replSetGetStatus')).toHaveLength(4);
  });
});
