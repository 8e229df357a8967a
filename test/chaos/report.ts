// The campaign's table (stdout) and JSON report.
import type { CampaignResult } from './campaign.js';
import { FAULT_KINDS } from './faults.js';
import { fmtDuration } from './time.js';

const FAULT_LABEL: Record<string, string> = {
  'operator-kill': 'kill -9 operator (then restart)',
  'crash-point': 'operator killed at an engine crash point',
  'replica-start': 'start second replica',
  'replica-stop': 'SIGTERM second replica',
  'replica-replace': 'kill -9 replica, new pod, empty spool',
  'mongo-kill': 'FerretDB kill -9, down, restart',
  'mongo-stall': 'FerretDB SIGSTOP/SIGCONT',
  'mongo-restart': 'FerretDB SIGTERM + restart',
  's3-kill': 'versitygw kill -9, down, restart',
  's3-stall': 'versitygw SIGSTOP/SIGCONT',
  's3-restart': 'versitygw SIGTERM + restart',
  'spool-fill': 'spool volume filled (ENOSPC)',
  'spool-cap': 'policy spool cap squeezed to 1Ki',
  'policy-edit': 'policy spec edited',
  'policy-suspend': 'policy suspended, resumed',
  'policy-delete': 'policy deleted, created again',
  'bad-edit': 'invalid spec submitted',
};

export function renderTable(r: CampaignResult): string {
  const c = r.check;
  const t = c.totals;
  const lines: string[] = [];
  const row = (label: string, value: string | number, note = ''): void => {
    lines.push(`  ${label.padEnd(38)} ${String(value).padStart(8)}${note ? `   ${note}` : ''}`);
  };
  const total = Object.values(r.faults).reduce((a, b) => a + b, 0);
  const o = r.options;
  lines.push('');
  lines.push(
    `gochive chaos campaign — ${o.mode} mode, seed ${o.seed}, ${o.policies} policies, ${fmtDuration(o.durationMs)} of faults, ${fmtDuration(r.phases.checked ?? 0)} in all`,
  );
  lines.push('');
  lines.push('faults injected');
  for (const k of FAULT_KINDS)
    row(
      FAULT_LABEL[k] ?? k,
      r.faults[k] ?? 0,
      k === 'operator-kill' && r.twoReplicaKills
        ? `${r.twoReplicaKills} while two replicas ran`
        : k === 'replica-replace' && r.newPods !== undefined
          ? `${r.newPods} new pods started on an empty spool`
          : k === 'spool-fill' && !r.spoolMounted
            ? 'n/a: no tmpfs (not root)'
            : '',
    );
  row('total', total, r.faultErrors ? `${r.faultErrors} faults could not complete (see log)` : '');
  lines.push('');
  lines.push('documents');
  const l = r.ledger;
  row(
    'written',
    l.inserted,
    `old ${l.byClass.old}, new ${l.byClass.new}, no usable archive field ${l.byClass.bad}`,
  );
  row(
    'changed while possibly in flight',
    l.updates,
    `${l.updatesMatched} applied, ${l.updatesGone} found already archived`,
  );
  row('archived (unique)', t.archivedUnique, `${t.archivedCopies} copies in ${t.bundles} bundles`);
  row('deleted from MongoDB', t.deleted);
  row('still in MongoDB', t.present);
  row('lost (must be 0)', t.lost);
  row(
    'duplicates in S3 (must be 0)',
    t.duplicates,
    t.duplicatesExempt
      ? `${t.duplicatesExempt} after a delete + re-create or a dryRun selection change (allowed)`
      : '',
  );
  if (t.ferretRaces)
    row(
      'deleted by FerretDB delete race',
      t.ferretRaces,
      "changed during its bundle's delete; test-server limit, not counted (test/chaos/README.md)",
    );
  if (t.staleArchivedUnguarded)
    row(
      'deleted with an older archived copy',
      t.staleArchivedUnguarded,
      'policies without changeGuardFields (allowed)',
    );
  lines.push('');
  lines.push('operators');
  row(
    'incarnations',
    r.incarnations,
    `${r.leaseHolders} lease holders, ${r.leaseHandovers} lease handovers seen`,
  );
  row(
    'worker runs (from logs)',
    t.workerIntervals,
    `${t.handoversAcrossIncarnations} moved between incarnations`,
  );
  const m = c.memory;
  row('peak RSS (MB)', m.peakMb, `${m.peakIdentity}, ceiling ${o.maxRssMb} MB`);
  if (m.longest)
    row(
      'RSS early → late (MB)',
      `${m.longest.earlyMb}→${m.longest.lateMb}`.padStart(8),
      `${m.longest.identity}, lived ${m.longest.lifeS}s`,
    );
  const sd = r.shutdown.filter((s) => s.ms !== undefined).map((s) => s.ms!);
  if (sd.length) row('SIGTERM → exit (max ms)', Math.max(...sd), `${sd.length} graceful stops`);
  lines.push('');
  const byInv = new Map<string, number>();
  for (const v of c.violations) byInv.set(v.invariant, (byInv.get(v.invariant) ?? 0) + 1);
  lines.push('invariants');
  for (const inv of [
    'I1/I3 lost',
    'I2 ineligible deleted',
    'I2 change guard',
    'I2 archived ineligible',
    'I3 duplicates',
    'I4 isolation',
    'I5 memory',
    'I6 single writer',
    'I7 secrets',
    'status counts',
    'drain',
    'bundle integrity',
    'fidelity',
    'operator crash',
    'shutdown',
    'validation',
  ]) {
    row(inv, byInv.get(inv) ?? 0, byInv.get(inv) ? 'VIOLATED' : 'ok');
  }
  for (const [inv, n] of byInv) if (!lines.some((x) => x.includes(`  ${inv} `))) row(inv, n, 'VIOLATED');
  row('invariant violations (must be 0)', c.violations.length);
  if (c.violations.length) {
    lines.push('');
    lines.push('violations');
    for (const v of c.violations.slice(0, 60))
      lines.push(`  - [${v.invariant}]${v.policy ? ` ${v.policy}:` : ''} ${v.message}`);
    if (c.violations.length > 60) lines.push(`  … ${c.violations.length - 60} more in the JSON report`);
  }
  if (c.notes.length) {
    lines.push('');
    lines.push('notes');
    for (const n of c.notes.slice(0, 30)) lines.push(`  - ${n}`);
  }
  lines.push('');
  lines.push(
    c.violations.length === 0
      ? `RESULT: PASS (seed ${o.seed})`
      : `RESULT: FAIL — ${c.violations.length} violation(s) (seed ${o.seed}; logs and ledger kept in ${r.runDir})`,
  );
  return lines.join('\n');
}

export function toJson(r: CampaignResult): string {
  return JSON.stringify(
    {
      ...r,
      check: {
        ...r.check,
        perPolicy: r.check.perPolicy.map((p) => ({
          ...p,
          status: p.status
            ? { phase: p.status.phase, totals: p.status.totals, spool: p.status.spool }
            : undefined,
        })),
      },
    },
    null,
    2,
  );
}
