// Reproduction of a finding of the chaos campaign (see test/chaos/README.md, "Findings"):
// status.totals.documentsIneligible is a gauge (the worker's estimate sets it to the CURRENT count of
// documents without a usable archive field), but the controller carries it over worker restarts and
// failovers like a counter (totalsFromStatus -> totalsBase, addTotals on each stopped worker), so every
// restart adds the count again. The same carry-over applies to duplicatesUploaded, which the worker
// restores from its journal as a running total. Pure: no servers needed.
//   npx tsc -p . && node dist/test/chaos/repro/ineligible-gauge-summed.js
// Exit code 1 while the bug is present.
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
// Five documents in the collection lack the archive field; every worker's estimate reports 5.
const snapshot = (): WorkerSnapshot => ({
  state: 'Idle',
  totals: { ...zero, documentsIneligible: 5 },
  spooledDocuments: 0,
  spooledBytes: 0,
});
const ctx = { replica: 'r0', now: new Date() };

// Worker 1 runs and reports.
const s1 = computeStatus(
  undefined,
  { kind: 'running', generation: 1, snapshot: snapshot(), totalsBase: zero },
  ctx,
);
// The spec is edited: the reconciler folds worker 1's totals into the base and starts worker 2.
const base2 = addTotals(zero, snapshot().totals);
const s2 = computeStatus(
  s1,
  { kind: 'running', generation: 2, snapshot: snapshot(), totalsBase: base2 },
  ctx,
);
// The policy fails over to another replica, which starts from the totals in the status.
const s3 = computeStatus(
  s2,
  { kind: 'running', generation: 2, snapshot: snapshot(), totalsBase: totalsFromStatus(s2) },
  { ...ctx, replica: 'r1' },
);

console.log(`documents without a usable archive field: 5 throughout`);
console.log(
  `status.totals.documentsIneligible: worker 1 ${s1.totals?.documentsIneligible}, after a spec edit ${s2.totals?.documentsIneligible}, after a failover ${s3.totals?.documentsIneligible}`,
);
const bad = s3.totals?.documentsIneligible !== 5;
console.log(bad ? 'BUG PRESENT: the gauge is summed across workers' : 'ok');
process.exit(bad ? 1 : 0);
