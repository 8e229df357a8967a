// The chaos campaign's checker must be able to fail: each invariant is fed a synthetic final state
// that breaks it (and a clean one that breaks nothing). No servers needed; it lives here because the
// campaign's code is under test/ (not a jest unit root).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BSON } from 'mongodb';
import { check, type CheckInput } from '../../chaos/checker.js';
import { factsOf, decode, makeDoc, makeUpdate, type NewDoc } from '../../chaos/docs.js';
import type { ArchivedCopy, PolicyFinal, PresentDoc } from '../../chaos/final-state.js';
import { Ledger } from '../../chaos/ledger.js';
import { parseLine, type Incarnation } from '../../chaos/operators.js';
import { makePlans, type PolicyPlan } from '../../chaos/plan.js';
import type { PolicyState } from '../../chaos/policies.js';
import { Rng } from '../../chaos/rng.js';

const NS = 'chaos-test';
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'chaos-checker-'));
});
const ledgers: Ledger[] = [];
afterAll(async () => {
  await Promise.all(ledgers.map((l) => l.close()));
  rmSync(dir, { recursive: true, force: true });
});

interface World {
  plan: PolicyPlan;
  state: PolicyState;
  ledger: Ledger;
  final: PolicyFinal;
  input: CheckInput;
  t0: number;
  bundle(key: string, docs: NewDoc[] | Array<{ key: string; raw: Buffer; hash: string }>): void;
  present(d: { key: string; raw: Buffer; hash: string }): void;
}

/** One guarded policy (p00: date format on `at`, no filter), an empty ledger and final state. */
function world(): World {
  const plan = makePlans(1, 'x')[0]!;
  expect(plan.guard).toBe(true);
  const t0 = Date.now() - 120_000;
  const ledger = new Ledger(path.join(dir, `ledger-${ledgers.length}.jsonl`), 1, t0);
  ledgers.push(ledger);
  const state: PolicyState = {
    plan,
    tuning: undefined as never,
    exists: true,
    criteria: [{ t: t0, ageLimitDays: 30, filterKind: 'none', dryRun: false }],
    deletions: 0,
    busy: false,
  };
  const final: PolicyFinal = { present: new Map(), bundles: [], archived: new Map() };
  const inc: Incarnation = {
    slot: 'r0',
    identity: 'r0-1',
    pid: 1,
    startedAt: t0,
    endedAt: t0 + 100_000,
    endedBy: 'SIGTERM',
    logFile: '-',
    rss: [[t0, 100_000]],
    workerEvents: [],
    bundleEvents: [],
    errors: 0,
    fatal: [],
    spoolDir: '-',
  };
  const input: CheckInput = {
    namespace: NS,
    states: [state],
    ledger,
    finals: [final],
    statuses: [
      {
        apiVersion: 'gochive.io/v1alpha1',
        kind: 'ArchivePolicy',
        metadata: { name: plan.name, generation: 1 },
        spec: {} as never,
        status: { totals: {}, spool: { documents: 0 } },
      },
    ],
    incarnations: [inc],
    scanAt: Date.now(),
    ineligibleGaugeFresh: true,
    maxRssMb: 512,
    runViolations: [],
    secrets: ['s3cr3t'],
    logTexts: [],
  };
  const w: World = {
    plan,
    state,
    ledger,
    final,
    input,
    t0,
    bundle(key, docs) {
      final.bundles.push({
        key,
        size: 1,
        documents: docs.length,
        manifest: {
          formatVersion: 1,
          bundleId: 'b',
          policy: { name: plan.name, namespace: NS },
          database: plan.database,
          collection: plan.collection,
          archiveField: 'at',
          archiveFieldFormat: 'date',
          cutoff: new Date(Date.now() - 30 * 86_400_000).toISOString(),
          documentCount: docs.length,
          files: [{ path: 'x', bytes: 1, sha256: '0'.repeat(64) }],
          compression: { codec: 'gzip', level: 6 },
          createdAt: new Date().toISOString(),
          gochiveVersion: 't',
        },
      });
      for (const d of docs) {
        const copy: ArchivedCopy = { bundle: key, hash: d.hash, facts: factsOf(plan, decode(d.raw)) };
        final.archived.set(d.key, [...(final.archived.get(d.key) ?? []), copy]);
      }
    },
    present(d) {
      const p: PresentDoc = { hash: d.hash, facts: factsOf(plan, decode(d.raw)) };
      final.present.set(d.key, p);
    },
  };
  return w;
}

const rng = new Rng(7);
function insert(w: World, cls: 'old' | 'new' | 'bad', at = w.t0 + 1000): NewDoc {
  const d = makeDoc(w.plan, cls, rng, Date.now());
  w.ledger.inserted(0, d, at, false);
  return d;
}
function setTotals(w: World, totals: Record<string, number>): void {
  w.input.statuses[0]!.status!.totals = totals;
}
const invariants = (w: World): string[] => check(w.input).violations.map((v) => v.invariant);

test('a clean final state passes every check', () => {
  const w = world();
  const a = insert(w, 'old');
  const b = insert(w, 'new');
  const c = insert(w, 'bad');
  w.bundle('p00/k1', [a]);
  w.present(b);
  w.present(c);
  setTotals(w, { documentsArchived: 1, documentsDeleted: 1, bundlesUploaded: 1, documentsIneligible: 1 });
  const r = check(w.input);
  expect(r.violations).toEqual([]);
  expect(r.totals).toMatchObject({ written: 3, deleted: 1, present: 2, lost: 0, duplicates: 0 });
});

test('a document neither in MongoDB nor in S3 is lost', () => {
  const w = world();
  insert(w, 'old');
  expect(invariants(w)).toContain('I1/I3 lost');
  expect(check(w.input).totals.lost).toBe(1);
});

test('a deleted document whose last content was never eligible violates I2', () => {
  const w = world();
  const d = insert(w, 'old');
  const u = makeUpdate(w.plan, d.raw, new Rng(1), Date.now());
  // Force a refresh (the archive field set to now): the document is no longer eligible.
  const refreshed = { ...u, kind: 'refresh' as const, set: { at: new Date() } };
  const doc = decode(d.raw);
  doc.at = new Date();
  doc.rev = new BSON.Int32(1);
  const raw = Buffer.from(BSON.serialize(doc));
  const rec = w.ledger.get(0, d.key)!;
  w.ledger.updated(
    rec,
    { ...refreshed, raw, hash: 'new-content', facts: factsOf(w.plan, doc) },
    'matched',
    w.t0 + 2000,
    false,
  );
  w.bundle('p00/k1', [d]); // the old content was archived, long after the change: no excuse
  w.input.incarnations[0]!.bundleEvents.push(
    { t: w.t0 + 60_000, identity: 'r0-1', policy: 'p00', key: 'p00/k1', what: 'uploaded' },
    { t: w.t0 + 61_000, identity: 'r0-1', policy: 'p00', key: 'p00/k1', what: 'deleted' },
  );
  setTotals(w, { documentsArchived: 1, documentsDeleted: 1, bundlesUploaded: 1 });
  const inv = invariants(w);
  expect(inv).toContain('I2 ineligible deleted');
  expect(inv).toContain('I2 change guard');
});

test('a change acknowledged while its bundle was being deleted is put down to the FerretDB race, not counted', () => {
  const w = world();
  const d = insert(w, 'old');
  const doc = decode(d.raw);
  doc.at = new Date();
  doc.rev = new BSON.Int32(1);
  const raw = Buffer.from(BSON.serialize(doc));
  const rec = w.ledger.get(0, d.key)!;
  w.ledger.updated(
    rec,
    { kind: 'refresh', set: {}, raw, hash: 'new-content', facts: factsOf(w.plan, doc) },
    'matched',
    w.t0 + 60_300,
    false,
  );
  w.bundle('p00/k1', [d]);
  w.input.incarnations[0]!.bundleEvents.push(
    { t: w.t0 + 60_000, identity: 'r0-1', policy: 'p00', key: 'p00/k1', what: 'uploaded' },
    { t: w.t0 + 60_500, identity: 'r0-1', policy: 'p00', key: 'p00/k1', what: 'deleted' },
  );
  setTotals(w, { documentsArchived: 1, documentsDeleted: 1, bundlesUploaded: 1 });
  const r = check(w.input);
  expect(r.violations).toEqual([]);
  expect(r.totals.ferretRaces).toBe(1);
});

/** A change that makes `d` ineligible (its archive field set to now), acknowledged at `at`. */
function refresh(w: World, d: NewDoc, at: number): void {
  const doc = decode(d.raw);
  doc.at = new Date();
  doc.rev = new BSON.Int32(1);
  const raw = Buffer.from(BSON.serialize(doc));
  w.ledger.updated(
    w.ledger.get(0, d.key)!,
    { kind: 'refresh', set: {}, raw, hash: 'new-content', facts: factsOf(w.plan, doc) },
    'matched',
    at,
    false,
  );
}

/**
 * Evidence chaos-short-seed-592072868: the uploader of a bundle was killed after recording the upload
 * and before logging 'bundle uploaded and verified'. Two later incarnations took the bundle over from
 * the ledger as 'uploaded' (t0+60 s, killed; t0+62 s) and the second finished its delete (t0+63 s).
 */
function takenOverWithoutUploadLine(w: World, changedAt: number): void {
  const d = insert(w, 'old');
  refresh(w, d, changedAt);
  const id = 'k7q2x9';
  const key = `p00/2026/01/01/p00_20260101T000000Z_${id}.tar.gz`;
  w.bundle(key, [d]);
  const inc = (identity: string, start: number, end: number): Incarnation => ({
    ...w.input.incarnations[0]!,
    identity,
    startedAt: start,
    endedAt: end,
    endedBy: 'SIGKILL',
    workerEvents: [{ t: start + 400, identity, policy: 'p00', what: 'started' }],
    bundleEvents: [],
  });
  const a = inc('r0-2', w.t0 + 59_500, w.t0 + 61_000);
  const b = inc('r0-3', w.t0 + 61_500, w.t0 + 100_000);
  a.bundleEvents.push({
    t: w.t0 + 60_000,
    identity: 'r0-2',
    policy: 'p00',
    key,
    id,
    what: 'resumed',
    state: 'uploaded',
  });
  b.bundleEvents.push(
    { t: w.t0 + 62_000, identity: 'r0-3', policy: 'p00', key, id, what: 'resumed', state: 'uploaded' },
    { t: w.t0 + 63_000, identity: 'r0-3', policy: 'p00', key, what: 'deleted' },
  );
  w.input.incarnations.push(a, b);
  setTotals(w, { documentsArchived: 1, documentsDeleted: 1, bundlesUploaded: 1 });
}

test('a bundle whose upload was never logged: taking it over as uploaded bounds its upload time, so a change during its delete is the FerretDB race', () => {
  const w = world();
  takenOverWithoutUploadLine(w, w.t0 + 62_400);
  const r = check(w.input);
  expect(r.violations).toEqual([]);
  expect(r.totals.ferretRaces).toBe(1);
});

test('a bundle whose upload was never logged: a change before anyone could have been deleting it stays a violation', () => {
  const w = world();
  // After the (unlogged) upload, before the first worker took the bundle over: no delete ran then.
  takenOverWithoutUploadLine(w, w.t0 + 55_000);
  const r = check(w.input);
  expect(r.totals.ferretRaces).toBe(0);
  expect(r.violations.map((v) => v.invariant)).toEqual(
    expect.arrayContaining(['I2 change guard', 'I2 ineligible deleted']),
  );
});

test('two incarnations running one policy at the same time violate I6', () => {
  const w = world();
  const [a] = w.input.incarnations;
  a!.workerEvents.push(
    { t: w.t0 + 1000, identity: 'r0-1', policy: 'p00', what: 'started' },
    { t: w.t0 + 9000, identity: 'r0-1', policy: 'p00', what: 'stopped' },
  );
  w.input.incarnations.push({
    ...a!,
    identity: 'r1-1',
    workerEvents: [{ t: w.t0 + 5000, identity: 'r1-1', policy: 'p00', what: 'started' }],
    bundleEvents: [],
  });
  expect(invariants(w)).toContain('I6 single writer');
});

test('status totals that differ from the truth are reported; the ineligible gauge may not exceed what was ever written', () => {
  const w = world();
  const a = insert(w, 'old');
  const c = insert(w, 'bad');
  w.bundle('p00/k1', [a]);
  w.present(c);
  setTotals(w, { documentsArchived: 1, documentsDeleted: 0, bundlesUploaded: 1, documentsIneligible: 2 });
  w.input.ineligibleGaugeFresh = false;
  const msgs = check(w.input).violations.map((v) => v.message);
  expect(msgs.some((m) => m.includes('documentsDeleted is 0, but 1'))).toBe(true);
  expect(msgs.some((m) => m.includes('documentsIneligible is 2, but only 1'))).toBe(true);
});

test('a foreign document or a bundle of another policy under the prefix violates I4', () => {
  const w = world();
  const a = insert(w, 'old');
  const stranger = makeDoc(w.plan, 'old', rng, Date.now());
  w.bundle('p00/k1', [a, stranger]);
  w.bundle('p00/k2', [insert(w, 'old')]);
  w.final.bundles[1]!.manifest!.policy.name = 'someone-else';
  const r = check(w.input);
  expect(r.violations.filter((v) => v.invariant === 'I4 isolation')).toHaveLength(2);
});

test('a document archived twice with the same content violates I3 (the ledger leaves no excuse after a failover or a new pod)', () => {
  const w = world();
  const a = insert(w, 'old');
  w.bundle('p00/k1', [a]);
  w.bundle('p00/k2', [a]);
  setTotals(w, { documentsArchived: 2, documentsDeleted: 1, bundlesUploaded: 2 });
  const r = check(w.input);
  expect(r.totals.duplicates).toBe(1);
  expect(r.violations.map((v) => v.invariant)).toEqual(['I3 duplicates']);
});

test('a copy in a bundle of the policy before it was deleted and created again is a duplicate no engine can avoid', () => {
  const w = world();
  const a = insert(w, 'old');
  w.bundle('p00/k1', [a]); // the old object's bundle, its deletes cut short by the policy's deletion
  w.bundle('p00/k2', [a]);
  w.state.baseline = {
    at: w.t0 + 5000,
    absentKeys: new Set(),
    bundleKeys: new Set(['p00/k1']),
    reliable: true,
  };
  setTotals(w, { documentsArchived: 1, documentsDeleted: 1, bundlesUploaded: 1 });
  const r = check(w.input);
  expect(r.violations).toEqual([]);
  expect(r.totals).toMatchObject({ duplicates: 1, duplicatesExempt: 1 });
});

test('memory above the ceiling or growing over a long-lived incarnation violates I5', () => {
  const w = world();
  const inc = w.input.incarnations[0]!;
  inc.rss = Array.from(
    { length: 100 },
    (_, i) => [w.t0 + i * 1000, (100 + i * 5) * 1024] as [number, number],
  );
  w.input.maxRssMb = 300;
  const msgs = check(w.input)
    .violations.filter((v) => v.invariant === 'I5 memory')
    .map((v) => v.message);
  expect(msgs.some((m) => m.includes('ceiling'))).toBe(true);
  expect(msgs.some((m) => m.includes('grew'))).toBe(true);
});

test('a secret in an operator log violates I7', () => {
  const w = world();
  w.input.logTexts = [{ identity: 'r0-1', text: '{"msg":"connect failed","err":"key s3cr3t rejected"}' }];
  expect(invariants(w)).toContain('I7 secrets');
});

test("the operators' log lines become bundle events (the ledger's recovery line, uploads, deletes, drops)", () => {
  const w = world();
  const inc = w.input.incarnations[0]!;
  const key = 'p00/2026/01/01/p00_20260101T000000Z_k7q2x9.tar.gz';
  const line = (o: object): void =>
    parseLine(inc, JSON.stringify({ level: 30, time: new Date(w.t0).toISOString(), policy: 'p00', ...o }));
  line({
    msg: 'finishing the bundles the ledger lists',
    bundles: [
      { id: 'k7q2x9', key, state: 'uploaded', documents: 3, fromStore: true },
      { id: 'zz11', key: 'p00/x_zz11.tar', state: 'uploading', documents: 1, fromStore: false },
    ],
  });
  line({ msg: 'bundle uploaded and verified', key, documents: 3, recovered: true });
  line({ msg: 'archived documents deleted', key, deleted: 3, skipped: 0 });
  line({ msg: 'a bundle the ledger lists never reached the store: dropped (…)', key: 'p00/x_zz11.tar' });
  expect(inc.bundleEvents.map((e) => [e.what, e.key, e.state, e.id])).toEqual([
    ['resumed', key, 'uploaded', 'k7q2x9'],
    ['resumed', 'p00/x_zz11.tar', 'uploading', 'zz11'],
    ['uploaded', key, undefined, undefined],
    ['deleted', key, undefined, undefined],
    ['dropped', 'p00/x_zz11.tar', undefined, undefined],
  ]);
  expect(inc.bundleEvents[0]).toMatchObject({ fromStore: true });
  expect(inc.bundleEvents[2]).toMatchObject({ recovered: true });
});
