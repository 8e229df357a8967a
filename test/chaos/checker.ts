// Checks every invariant of SPEC §5 (and the status counts) against the ledger and the final state.
// Each finding names the invariant, the policy and the evidence; nothing here is tolerant by default:
// a check that cannot be decided says so in `notes` instead of passing silently.
import type { ArchivePolicy } from '../../operator/api/schema.js';
import { decode, eligible, factsOf, type Facts } from './docs.js';
import type { DocRecord, Ledger } from './ledger.js';
import type { Incarnation } from './operators.js';
import type { PolicyFinal } from './final-state.js';
import type { PolicyState } from './policies.js';

export interface Violation {
  invariant: string;
  policy?: string;
  message: string;
}

export interface PolicySummary {
  name: string;
  written: number;
  present: number;
  deleted: number;
  archivedUnique: number;
  archivedCopies: number;
  bundles: number;
  duplicates: number;
  /** Of `duplicates`: copies the engine cannot avoid (see the duplicates check). */
  duplicatesExempt: number;
  lost: number;
  status?: ArchivePolicy['status'];
}

export interface CheckInput {
  namespace: string;
  states: PolicyState[];
  ledger: Ledger;
  finals: PolicyFinal[];
  statuses: Array<ArchivePolicy | undefined>;
  incarnations: Incarnation[];
  /** Time of the final MongoDB scan (for "still eligible" = not drained). */
  scanAt: number;
  /** Whether the ineligible-count gauge had time to refresh after the writer stopped. */
  ineligibleGaugeFresh: boolean;
  maxRssMb: number;
  /** Violations found during the run (an invalid spec accepted, a drain timeout…). */
  runViolations: Violation[];
  /** Secret values that must not appear in operator logs or statuses. */
  secrets: string[];
  logTexts: Array<{ identity: string; text: string }>;
}

export interface MemorySummary {
  peakMb: number;
  peakIdentity: string;
  /** Longest-lived incarnation: RSS median over its second quarter vs its last quarter (MB). */
  longest?: { identity: string; lifeS: number; earlyMb: number; lateMb: number };
}

export interface CheckResult {
  violations: Violation[];
  notes: string[];
  perPolicy: PolicySummary[];
  totals: {
    written: number;
    present: number;
    deleted: number;
    archivedUnique: number;
    archivedCopies: number;
    bundles: number;
    duplicates: number;
    duplicatesExempt: number;
    lost: number;
    staleArchivedUnguarded: number;
    /** Deletions explained by FerretDB's non-atomic deleteMany (see ferretRace). */
    ferretRaces: number;
    ambiguous: number;
    workerIntervals: number;
    handoversAcrossIncarnations: number;
  };
  memory: MemorySummary;
}

function anyEligible(s: PolicyState, f: Facts, atMs: number): boolean {
  return s.criteria.some((v) => eligible(f, v, atMs));
}

export function check(inp: CheckInput): CheckResult {
  const violations: Violation[] = [...inp.runViolations];
  const notes: string[] = [];
  const perPolicy: PolicySummary[] = [];
  const add = (invariant: string, policy: string | undefined, message: string): void => {
    violations.push({ invariant, ...(policy ? { policy } : {}), message });
  };
  let staleUnguarded = 0;
  let arrayFields = 0;
  let ferretRaces = 0;
  let ferretRaceNotes = 0;
  const bundleTimes = bundleTimesOf(inp.incarnations);

  const byPolicy: DocRecord[][] = inp.states.map(() => []);
  for (const rec of inp.ledger.docs.values()) byPolicy[rec.policy]!.push(rec);

  for (const [i, s] of inp.states.entries()) {
    const name = s.plan.name;
    const fin = inp.finals[i]!;
    const recs = byPolicy[i]!;
    const sum: PolicySummary = {
      name,
      written: recs.length,
      present: 0,
      deleted: 0,
      archivedUnique: fin.archived.size,
      archivedCopies: 0,
      bundles: fin.bundles.length,
      duplicates: 0,
      duplicatesExempt: 0,
      lost: 0,
    };
    perPolicy.push(sum);
    const known = new Set(recs.map((r) => r.key));
    const MAX_EXAMPLES = 5;
    const examples = new Map<string, number>();
    const example = (inv: string, msg: string): void => {
      const n = examples.get(inv) ?? 0;
      examples.set(inv, n + 1);
      if (n < MAX_EXAMPLES) add(inv, name, msg);
      else if (n === MAX_EXAMPLES) add(inv, name, `… more ${inv} findings for ${name} (see the ledger)`);
    };

    // ---- every document the writer wrote: in MongoDB or in S3, never neither (I1, I3)
    for (const rec of recs) {
      const here = fin.present.get(rec.key);
      if (here) {
        sum.present++;
        const okHashes = [rec.hash, ...(rec.altHashes ?? [])];
        if (!okHashes.includes(here.hash)) {
          example(
            'fidelity',
            `document ${rec.key} in MongoDB is not what the writer last wrote (the archiver must never modify documents)`,
          );
        }
        continue;
      }
      const copies = fin.archived.get(rec.key) ?? [];
      if (copies.length === 0) {
        if (rec.maybeNeverInserted) continue;
        sum.lost++;
        example(
          'I1/I3 lost',
          `document ${rec.key} (${rec.cls}, ${rec.updates} updates) is neither in MongoDB nor in any bundle`,
        );
        continue;
      }
      sum.deleted++;
      // The latest content must have been archived when the policy guards changes (I2 change guard),
      // and it must have been eligible under some spec this policy ever had (I2).
      const okHashes = [rec.hash, ...(rec.altHashes ?? [])];
      const staleArchive = !copies.some((c) => okHashes.includes(c.hash));
      const ineligible = !rec.ambiguous && !anyEligible(s, factsOf(s.plan, decode(rec.raw)), inp.scanAt);
      if ((staleArchive && s.plan.guard) || ineligible) {
        const race = ferretRace(s, rec, copies, bundleTimes, inp.scanAt);
        if (race) {
          ferretRaces++;
          if (ferretRaceNotes++ < 5) notes.push(`${name}: ${rec.key}: ${race}`);
        } else {
          if (staleArchive && s.plan.guard)
            example(
              'I2 change guard',
              `document ${rec.key} was deleted but no bundle holds its last content (changed ${rec.updates}×, last at ${iso(rec.lastAckAt)}; guard on rev; archived copies in ${copies.map((c) => c.bundle).join(', ')})`,
            );
          if (ineligible)
            example(
              'I2 ineligible deleted',
              `document ${rec.key} was deleted although its last content (acknowledged at ${iso(rec.lastAckAt)}) was never eligible (${s.plan.dryRun ? 'dryRun policy' : `criteria ${JSON.stringify(s.criteria.map((c) => [c.ageLimitDays, c.filterKind]))}`}); archived copies in ${copies.map((c) => c.bundle).join(', ')}`,
            );
        }
      } else if (staleArchive) staleUnguarded++;
    }

    // ---- bundles: intact, this policy's only, holding only documents that qualified (I4, I2)
    const seenCopies = new Map<string, number>();
    for (const b of fin.bundles) {
      if (b.error) {
        example('bundle integrity', `bundle ${b.key} cannot be read: ${b.error}`);
        continue;
      }
      const m = b.manifest;
      if (!m) {
        example('bundle integrity', `bundle ${b.key} has no manifest`);
        continue;
      }
      if (
        m.policy.name !== name ||
        m.policy.namespace !== inp.namespace ||
        m.database !== s.plan.database ||
        m.collection !== s.plan.collection
      ) {
        example(
          'I4 isolation',
          `bundle ${b.key} under ${name}'s prefix belongs to ${m.policy.namespace}/${m.policy.name} ${m.database}.${m.collection}`,
        );
      }
      if (m.documentCount !== b.documents)
        example(
          'bundle integrity',
          `bundle ${b.key}: manifest says ${m.documentCount} documents, payload holds ${b.documents}`,
        );
    }
    for (const [key, copies] of fin.archived) {
      if (!known.has(key))
        example(
          'I4 isolation',
          `bundle ${copies[0]!.bundle} holds ${key}, which the writer never wrote to ${s.plan.collection}`,
        );
      sum.archivedCopies += copies.length;
      for (const c of copies) {
        const k = `${key}\u0000${c.hash}`;
        seenCopies.set(k, (seenCopies.get(k) ?? 0) + 1);
        const b = fin.bundles.find((x) => x.key === c.bundle);
        const cutoff = b?.manifest ? Date.parse(b.manifest.cutoff) : NaN;
        if (c.facts.age === undefined)
          example(
            'I2 archived ineligible',
            `bundle ${c.bundle} holds ${key} whose archive field is missing or of a wrong type`,
          );
        else if (Number.isFinite(cutoff) && !(c.facts.age < cutoff))
          example(
            'I2 archived ineligible',
            `bundle ${c.bundle} holds ${key} aged ${new Date(c.facts.age).toISOString()}, not before the bundle's cutoff ${b!.manifest!.cutoff}`,
          );
        else if (!s.criteria.some((v) => eligible(c.facts, { ...v, dryRun: false }, inp.scanAt)))
          example(
            'I2 archived ineligible',
            `bundle ${c.bundle} holds ${key}, which no filter of the policy selects (status ${JSON.stringify(c.facts.status)})`,
          );
      }
    }
    // ---- no duplicates (I3): the ledger lets whoever takes a policy over (another replica, a new pod
    // with an empty spool) finish each bundle in flight, so no document is archived twice. Exempt only
    // what no engine can avoid: a copy in a bundle of the policy's earlier object (deleted with its
    // ledger while a bundle was in flight, then created again), and a dryRun policy's pass started
    // over because its selection (filter) changed (a dry run never deletes).
    const selectionChanged = s.plan.dryRun && new Set(s.criteria.map((c) => c.filterKind)).size > 1;
    let dupExample = '';
    let exemptExample = '';
    for (const [k, n] of seenCopies) {
      if (n <= 1) continue;
      const key = k.split('\u0000')[0]!;
      const hash = k.slice(key.length + 1);
      const bundles = (fin.archived.get(key) ?? []).filter((c) => c.hash === hash).map((c) => c.bundle);
      sum.duplicates += n - 1;
      const exempt = bundles.some((b) => s.baseline?.bundleKeys.has(b)) || selectionChanged;
      if (exempt) {
        sum.duplicatesExempt += n - 1;
        exemptExample ||= `${key} in ${bundles.join(' and ')}`;
      } else if (!dupExample) dupExample = `${key} in ${bundles.join(' and ')}`;
    }
    const strict = sum.duplicates - sum.duplicatesExempt;
    if (strict)
      add(
        'I3 duplicates',
        name,
        `${strict} document copies archived more than once, e.g. ${dupExample} (each bundle in flight is in the ledger: whoever takes the policy over must finish it, not archive its documents again)`,
      );
    if (sum.duplicatesExempt)
      notes.push(
        `${name}: ${sum.duplicatesExempt} duplicate document copies in S3 not enforced (${selectionChanged ? 'dryRun policy whose filter changed: its pass started over' : 'a bundle of the policy before it was deleted and created again'}), e.g. ${exemptExample}`,
      );

    // ---- drained: nothing eligible under the final spec is left in MongoDB
    const last = s.criteria[s.criteria.length - 1];
    if (last && !last.dryRun) {
      let left = 0;
      for (const d of fin.present.values()) if (eligible(d.facts, last, inp.scanAt)) left++;
      if (left > 0)
        add(
          'drain',
          name,
          `${left} documents eligible under the final spec are still in MongoDB after the quiesce phase`,
        );
    }

    // ---- status counts equal the truth
    const st = inp.statuses[i];
    sum.status = st?.status;
    if (!st) {
      add('status', name, `the ArchivePolicy is missing at the end`);
    } else {
      const t = st.status?.totals ?? {};
      const baseline = s.baseline;
      const truthDeleted = recs.filter(
        (r) =>
          !fin.present.has(r.key) &&
          (fin.archived.get(r.key)?.length ?? 0) > 0 &&
          !baseline?.absentKeys.has(r.key),
      ).length;
      const newBundles = fin.bundles.filter((b) => !baseline?.bundleKeys.has(b.key));
      const truthArchived = newBundles.reduce((n, b) => n + b.documents, 0);
      const since = baseline
        ? ` since it was created again at +${Math.round((baseline.at - inp.ledger.t0) / 1000)}s`
        : '';
      const tolerance = recs.filter((r) => r.insertRetried).length;
      // A baseline taken while the old worker still ran cannot be trusted to the document: note only.
      const countFinding = (msg: string): void => {
        if (baseline && !baseline.reliable) notes.push(`${name}: ${msg} (not enforced: unreliable baseline)`);
        else add('status counts', name, msg);
      };
      if (Math.abs((t.documentsDeleted ?? 0) - truthDeleted) > tolerance) {
        countFinding(
          `status.totals.documentsDeleted is ${t.documentsDeleted ?? 0}, but ${truthDeleted} of its documents were deleted${since}`,
        );
      }
      if ((t.documentsArchived ?? 0) !== truthArchived) {
        countFinding(
          `status.totals.documentsArchived is ${t.documentsArchived ?? 0}, but its bundles in S3${since} hold ${truthArchived} documents`,
        );
      }
      if ((t.bundlesUploaded ?? 0) !== newBundles.length) {
        countFinding(
          `status.totals.bundlesUploaded is ${t.bundlesUploaded ?? 0}, but S3 holds ${newBundles.length} of its bundles${since}`,
        );
      }
      if ((st.status?.spool?.documents ?? 0) !== 0)
        add(
          'drain',
          name,
          `status.spool.documents is ${st.status?.spool?.documents} after the quiesce phase`,
        );
      if (last) {
        // The engine counts a missing field or a wrong scalar type, not arrays (its documented choice:
        // only index-servable type checks); arrays are excluded from archiving all the same.
        let truthIneligible = 0;
        let arrays = 0;
        for (const d of fin.present.values()) {
          if (d.facts.age !== undefined || !eligibleFilterOnly(last, d.facts)) continue;
          if (d.facts.array) arrays++;
          else truthIneligible++;
        }
        arrayFields += arrays;
        // Whatever the estimate's age, it cannot exceed the documents ever written without a usable field.
        const everBad = recs.filter((r) => r.cls === 'bad').length;
        if ((t.documentsIneligible ?? 0) > everBad) {
          add(
            'status counts',
            name,
            `status.totals.documentsIneligible is ${t.documentsIneligible}, but only ${everBad} documents without a usable archive field were ever written to ${s.plan.collection} (${truthIneligible} are there now)`,
          );
        } else if ((t.documentsIneligible ?? 0) !== truthIneligible) {
          const msg = `status.totals.documentsIneligible is ${t.documentsIneligible ?? 0}, but ${truthIneligible} documents the filter selects have a missing or wrong-typed archive field`;
          if (inp.ineligibleGaugeFresh) add('status counts', name, msg);
          else
            notes.push(
              `${name}: ${msg} (not enforced: the estimate may not have refreshed since the writer stopped)`,
            );
        }
      }
      const text = JSON.stringify(st.status ?? {});
      for (const sec of inp.secrets)
        if (sec && text.includes(sec)) add('I7 secrets', name, 'the status contains a secret value');
    }
  }

  if (arrayFields)
    notes.push(
      `${arrayFields} documents whose archive field is an array are left in place and, by the engine's design, not counted as ineligible`,
    );

  // ---- single writer (I6): no two workers of a policy overlap in time, across all incarnations
  const intervals = workerIntervals(inp.incarnations);
  let handovers = 0;
  for (const [policy, list] of intervals) {
    list.sort((a, b) => a.start - b.start);
    for (let k = 1; k < list.length; k++) {
      if (list[k]!.identity !== list[k - 1]!.identity) handovers++;
      for (let j = 0; j < k; j++) {
        const a = list[j]!;
        const b = list[k]!;
        if (b.start < a.end) {
          const why = a.stopping
            ? `; it was asked to stop at ${iso(a.stopping.t)}${a.stopping.reason ? ` (${a.stopping.reason})` : ''} and took ${((a.end - a.stopping.t) / 1000).toFixed(1)}s`
            : '';
          add(
            'I6 single writer',
            policy,
            `workers overlap: ${a.identity} ran it ${iso(a.start)}–${iso(a.end)}${a.open ? ' (until its process ended)' : ''}, ${b.identity} started it at ${iso(b.start)}${why}`,
          );
        }
      }
    }
  }

  // ---- the operator itself: no crash on its own, no fatal log, no secret in logs (I7)
  for (const inc of inp.incarnations) {
    if (inc.endedBy?.startsWith('unexpected'))
      add('operator crash', undefined, `operator ${inc.identity} ${inc.endedBy}; see ${inc.logFile}`);
    for (const f of inc.fatal)
      add('operator crash', undefined, `operator ${inc.identity} logged fatal: ${f}`);
  }
  for (const { identity, text } of inp.logTexts) {
    for (const sec of inp.secrets)
      if (sec && text.includes(sec))
        add('I7 secrets', undefined, `operator ${identity}'s log contains a secret value`);
  }

  // ---- memory (I5): a ceiling, and no growth over the longest-lived incarnation
  const memory = memoryOf(inp.incarnations);
  if (memory.peakMb > inp.maxRssMb)
    add(
      'I5 memory',
      undefined,
      `peak RSS ${memory.peakMb} MB (${memory.peakIdentity}) is above the ${inp.maxRssMb} MB ceiling`,
    );
  if (memory.longest) {
    const { earlyMb, lateMb, identity, lifeS } = memory.longest;
    if (lateMb > earlyMb * 1.5 + 40)
      add(
        'I5 memory',
        undefined,
        `RSS of ${identity} grew from ${earlyMb} MB to ${lateMb} MB over ${lifeS}s`,
      );
  } else {
    notes.push(
      'memory growth: no operator incarnation lived long enough (60 s) to judge growth; only the ceiling was checked',
    );
  }

  const totals = perPolicy.reduce(
    (a, p) => ({
      ...a,
      written: a.written + p.written,
      present: a.present + p.present,
      deleted: a.deleted + p.deleted,
      archivedUnique: a.archivedUnique + p.archivedUnique,
      archivedCopies: a.archivedCopies + p.archivedCopies,
      bundles: a.bundles + p.bundles,
      duplicates: a.duplicates + p.duplicates,
      duplicatesExempt: a.duplicatesExempt + p.duplicatesExempt,
      lost: a.lost + p.lost,
    }),
    {
      written: 0,
      present: 0,
      deleted: 0,
      archivedUnique: 0,
      archivedCopies: 0,
      bundles: 0,
      duplicates: 0,
      duplicatesExempt: 0,
      lost: 0,
      staleArchivedUnguarded: staleUnguarded,
      ferretRaces,
      ambiguous: inp.ledger.stats.ambiguous,
      workerIntervals: [...intervals.values()].reduce((n, l) => n + l.length, 0),
      handoversAcrossIncarnations: handovers,
    },
  );
  return { violations, notes, perPolicy, totals, memory };
}

/**
 * When a bundle's documents may have been deleted: from each moment a worker uploaded the bundle or
 * took it over from the ledger (uploading or uploaded) until that worker ended (it may have died
 * mid-delete), and for the worker that logged the delete's end, from its start until then. All from
 * the operators' logs; nothing deletes a bundle's documents after its delete finished.
 *
 * `uploaded` is an upper bound of the upload's time: the first 'bundle uploaded and verified' line, or,
 * when no such line exists (the uploader was killed after recording the upload and before logging it),
 * the earliest later evidence that the object was in the store — a worker taking the bundle over in
 * state 'uploaded', or the end of its delete. A later bound only moves changes from "during the delete"
 * to "before the upload", where ferretRace excuses nothing it would not have excused anyway.
 */
interface DeleteWindows {
  uploaded: number;
  deleted: number;
  spans: Array<[number, number]>;
}

const BUNDLE_ID = /_([0-9a-z]+)\.tar(?:\.gz)?$/;

export function bundleTimesOf(incs: Incarnation[]): Map<string, DeleteWindows> {
  const intervals = workerIntervals(incs);
  const containing = (
    policy: string,
    identity: string,
    t: number,
  ): { start: number; end: number } | undefined =>
    (intervals.get(policy) ?? []).find((i) => i.identity === identity && i.start <= t && t <= i.end);
  const events = incs.flatMap((inc) => inc.bundleEvents);
  const out = new Map<string, DeleteWindows>();
  const deletes = new Map<string, (typeof events)[number]>();
  for (const e of events) {
    if (e.what === 'deleted' && e.t >= (deletes.get(e.key)?.t ?? 0)) deletes.set(e.key, e);
  }
  for (const [key, d] of deletes) {
    const id = BUNDLE_ID.exec(key)?.[1];
    const isResumed = (e: (typeof events)[number]): boolean =>
      e.what === 'resumed' && (e.key === key || (!!id && (e.id ?? e.key) === id));
    const starts = events.filter(
      (e) =>
        (e.what === 'uploaded' && e.key === key) ||
        (isResumed(e) && e.state !== 'open' && e.state !== 'sealed'),
    );
    // Evidence that the object was in the store, earliest first: its upload's log line, a worker
    // taking it over as 'uploaded', the end of its delete (deletes run only after verification).
    const inStore = [
      ...starts.filter((e) => e.what === 'uploaded' || e.state === 'uploaded' || e.state === 'deleting'),
      d,
    ].map((e) => e.t);
    const uploaded = Math.min(...inStore);
    const spans: Array<[number, number]> = starts
      .filter((e) => e.t <= d.t)
      .map((e) => [e.t, Math.min(d.t, containing(e.policy, e.identity, e.t)?.end ?? e.t)]);
    const deleter = containing(d.policy, d.identity, d.t);
    spans.push([Math.max(uploaded, deleter?.start ?? d.t), d.t]);
    out.set(key, { uploaded, deleted: d.t, spans });
  }
  return out;
}

/**
 * FerretDB (SQLite backend) runs a deleteMany as a query, then a delete of the matched _ids, not
 * atomically per document as MongoDB does: an update acknowledged between the two is deleted with the
 * document although it made it ineligible (shown by test/chaos/README.md's experiment). A deletion is
 * put down to this race only when all of these hold:
 *  - a bundle B holds an earlier content of the document, and the operators logged the end of B's
 *    delete (and its upload, or later evidence that it was in the store: see bundleTimesOf);
 *  - the content the document had just before B's upload (its upper bound) was deletable by B's delete
 *    (eligible, and for a change-guarded policy exactly what B holds);
 *  - every later change was acknowledged while B's delete may have been running (see bundleTimesOf).
 * An engine that ignored the delete predicate would also delete documents changed between their fetch
 * and the upload, which this never excuses.
 */
function ferretRace(
  s: PolicyState,
  rec: DocRecord,
  copies: Array<{ bundle: string; hash: string }>,
  times: Map<string, DeleteWindows>,
  atMs: number,
): string | undefined {
  const SLACK = 2000;
  for (const c of copies) {
    const t = times.get(c.bundle);
    if (!t) continue;
    const before = rec.history.filter((h) => h.at < t.uploaded - 500);
    const atStart = before[before.length - 1];
    if (!atStart) continue;
    if (s.plan.guard && atStart.hash !== c.hash) continue;
    if (!anyEligible(s, atStart.facts, atMs)) continue;
    const later = rec.history.filter((h) => h.at >= t.uploaded - 500);
    if (later.length === 0) continue;
    if (!later.every((h) => t.spans.some(([a, b]) => h.at >= a - 500 && h.at <= b + SLACK))) continue;
    return `changed at ${later.map((h) => iso(h.at)).join(', ')} while bundle ${c.bundle} may have been being deleted (${t.spans.map(([a, b]) => `${iso(a)}–${iso(b)}`).join(', ')}): FerretDB's non-atomic deleteMany removed it with the change (not counted; MongoDB evaluates the delete predicate atomically per document)`;
  }
  return undefined;
}

function eligibleFilterOnly(
  v: { filterKind: Parameters<typeof eligible>[1]['filterKind'] },
  f: Facts,
): boolean {
  return eligible(
    { age: 0, status: f.status },
    { ageLimitDays: 0, filterKind: v.filterKind, dryRun: false },
    1,
  );
}

interface Interval {
  identity: string;
  start: number;
  end: number;
  open: boolean;
  /** When it was asked to stop, and why (from the log). */
  stopping?: { t: number; reason?: string };
}

/** Per policy: [start, end] of every worker, from the operators' logs; a worker still running when its process ended ends then. */
export function workerIntervals(incs: Incarnation[]): Map<string, Interval[]> {
  const out = new Map<string, Interval[]>();
  for (const inc of incs) {
    const open = new Map<string, number>();
    const stopping = new Map<string, { t: number; reason?: string }>();
    const end = inc.endedAt ?? Date.now();
    for (const e of inc.workerEvents) {
      if (e.what === 'stopping') {
        if (open.has(e.policy) && !stopping.has(e.policy))
          stopping.set(e.policy, { t: e.t, ...(e.reason ? { reason: e.reason } : {}) });
        continue;
      }
      if (e.what === 'started') {
        if (open.has(e.policy)) {
          // Started twice without a stop in one process: that is two workers at once.
          const list = out.get(e.policy) ?? [];
          list.push({ identity: inc.identity, start: open.get(e.policy)!, end, open: true });
          out.set(e.policy, list);
        }
        open.set(e.policy, e.t);
      } else {
        const start = open.get(e.policy);
        if (start === undefined) continue;
        open.delete(e.policy);
        const st = stopping.get(e.policy);
        stopping.delete(e.policy);
        const list = out.get(e.policy) ?? [];
        list.push({ identity: inc.identity, start, end: e.t, open: false, ...(st ? { stopping: st } : {}) });
        out.set(e.policy, list);
      }
    }
    for (const [policy, start] of open) {
      const st = stopping.get(policy);
      const list = out.get(policy) ?? [];
      list.push({ identity: inc.identity, start, end, open: true, ...(st ? { stopping: st } : {}) });
      out.set(policy, list);
    }
  }
  return out;
}

function memoryOf(incs: Incarnation[]): MemorySummary {
  let peakKb = 0;
  let peakIdentity = '-';
  let longest: MemorySummary['longest'];
  let longestLife = 0;
  for (const inc of incs) {
    for (const [, kb] of inc.rss) {
      if (kb > peakKb) {
        peakKb = kb;
        peakIdentity = inc.identity;
      }
    }
    if (inc.rss.length < 8) continue;
    const life = inc.rss[inc.rss.length - 1]![0] - inc.rss[0]![0];
    if (life < 60_000 || life <= longestLife) continue;
    longestLife = life;
    const q = Math.floor(inc.rss.length / 4);
    const med = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const early = med(inc.rss.slice(q, 2 * q).map(([, kb]) => kb));
    const late = med(inc.rss.slice(3 * q).map(([, kb]) => kb));
    longest = {
      identity: inc.identity,
      lifeS: Math.round(life / 1000),
      earlyMb: Math.round(early / 1024),
      lateMb: Math.round(late / 1024),
    };
  }
  return { peakMb: Math.round(peakKb / 1024), peakIdentity, ...(longest ? { longest } : {}) };
}

const iso = (t: number): string => new Date(t).toISOString().slice(11, 23);
