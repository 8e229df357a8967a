// Reproduction of findings of the chaos campaign (see test/chaos/README.md, "Findings") about
// status.totals.documentsIneligible, a gauge (the worker's estimate sets the CURRENT number of
// documents without a usable archive field). Pure: the controller's status functions, no servers.
//   npx tsc -p . && node dist/test/chaos/repro/ineligible-count.js
// Checks (exit code 1 if any fails):
//  a. carried over a worker restart (spec edit) and a failover, the count stays 5 — it was summed
//     before commit 4074ac3;
//  b. once the worker has stopped (graceful shutdown, suspend, hand-over), the status still says 5 —
//     the reconciler's fold() zeroes the remembered snapshot's totals and applySnapshot then takes the
//     snapshot's 0 because the snapshot has a backlog.
import type { WorkerSnapshot, WorkerTotals } from '../../../operator/archiver/worker-api.js';
import { addTotals, computeStatus, totalsFromStatus } from '../../../operator/controller/status.js';

const zero: WorkerTotals = {
  documentsArchived: 0,
  documentsDeleted: 0,
  documentsSkipped: 0,
  documentsIneligible: 0,
  bundlesUploaded: 0,
  bytesUploaded: 0,
  duplicatesUploaded: 0,
};
// Five documents lack the archive field; every worker's estimate (which also sets the backlog) says 5.
const snapshot = (): WorkerSnapshot => ({
  state: 'Idle',
  totals: { ...zero, documentsIneligible: 5 },
  spooledDocuments: 0,
  spooledBytes: 0,
  backlog: 0,
});
const ctx = { replica: 'r0', now: new Date() };

const s1 = computeStatus(
  undefined,
  { kind: 'running', generation: 1, snapshot: snapshot(), totalsBase: zero },
  ctx,
);
// Spec edit: the reconciler folds worker 1 into the base and starts worker 2.
const base2 = addTotals(zero, snapshot().totals);
const s2 = computeStatus(
  s1,
  { kind: 'running', generation: 2, snapshot: snapshot(), totalsBase: base2 },
  ctx,
);
// Failover: the new replica starts from the totals in the status.
const s3 = computeStatus(
  s2,
  { kind: 'running', generation: 2, snapshot: snapshot(), totalsBase: totalsFromStatus(s2) },
  { ...ctx, replica: 'r1' },
);
// The worker stops (e.g. suspend or shutdown): fold() as in reconciler.ts, then the status of a
// policy whose worker is not running.
const base4 = addTotals(totalsFromStatus(s2), snapshot().totals);
const remembered: WorkerSnapshot = { ...snapshot(), totals: { ...zero } };
const s4 = computeStatus(
  s3,
  { kind: 'suspended', generation: 3, snapshot: remembered, totalsBase: base4 },
  { ...ctx, replica: 'r1' },
);

const a = [s1, s2, s3].map((s) => s.totals?.documentsIneligible);
const b = s4.totals?.documentsIneligible;
console.log(`documents without a usable archive field: 5 throughout`);
console.log(
  `a. running: worker 1 ${a[0]}, after a spec edit ${a[1]}, after a failover ${a[2]} -> ${a.every((x) => x === 5) ? 'ok' : 'BUG'}`,
);
console.log(`b. after the worker stopped: ${b} -> ${b === 5 ? 'ok' : 'BUG'}`);
process.exit(a.every((x) => x === 5) && b === 5 ? 0 : 1);
