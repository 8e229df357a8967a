// `gochive archive --statistics`: a summary at the end, in the spirit of pt-archiver's --statistics —
// what was done (counts), where the time went (per stage), and the rate.
import type { WorkerStats } from '../archiver/worker.js';
import type { Stage, WorkerSnapshot } from '../archiver/worker-api.js';
import { formatBytes } from '../util/format-bytes.js';

export interface StatisticsInput {
  label: string;
  source: string;
  destination: string;
  startedAt: Date;
  endedAt: Date;
  snapshot: WorkerSnapshot;
  stats: WorkerStats;
}

const STAGES: Stage[] = [
  'connect',
  'recover',
  'index',
  'fetch',
  'spool',
  'bundle',
  'upload',
  'delete',
  'cleanup',
];

export function formatStatistics(s: StatisticsInput): string {
  const seconds = Math.max(0.001, (s.endedAt.getTime() - s.startedAt.getTime()) / 1000);
  const t = s.snapshot.totals;
  const lines = [
    `Policy      ${s.label}`,
    `Started at  ${s.startedAt.toISOString()}, ended at ${s.endedAt.toISOString()} (${seconds.toFixed(1)} s)`,
    `Source      ${s.source}`,
    `Destination ${s.destination}`,
    `FETCHED     ${s.stats.documentsFetched}  (${s.stats.batches} queries)`,
    `ARCHIVED    ${t.documentsArchived}  in ${t.bundlesUploaded} bundle(s), ${formatBytes(t.bytesUploaded)} compressed`,
    `DELETED     ${t.documentsDeleted}`,
    `SKIPPED     ${t.documentsSkipped}  (changed or no longer eligible at delete time)`,
    `INELIGIBLE  ${t.documentsIneligible}  (archive field missing or of the wrong type; never archived)`,
    `DUPLICATES  ${t.duplicatesUploaded}`,
    `BACKLOG     ${s.snapshot.backlog ?? 'unknown'}`,
    `STATE       ${s.snapshot.state}${s.snapshot.reason ? ` (${s.snapshot.reason})` : ''}`,
    '',
    'Action          Time       Pct',
  ];
  let accounted = 0;
  for (const st of STAGES) {
    const v = s.stats.stageSeconds[st];
    if (v === undefined) continue;
    accounted += v;
    lines.push(
      `${st.padEnd(12)} ${v.toFixed(3).padStart(9)} ${((v / seconds) * 100).toFixed(2).padStart(8)}%`,
    );
  }
  lines.push(
    `${'other'.padEnd(12)} ${Math.max(0, seconds - accounted)
      .toFixed(3)
      .padStart(9)} ${((Math.max(0, seconds - accounted) / seconds) * 100).toFixed(2).padStart(8)}%`,
  );
  lines.push(
    `${'(estimates)'.padEnd(12)} ${s.stats.estimateSeconds.toFixed(3).padStart(9)} ${((s.stats.estimateSeconds / seconds) * 100).toFixed(2).padStart(8)}%  backlog/oldest/ineligible counts for status, within "other"`,
  );
  lines.push(
    `${'(server wait)'.padEnd(12)} ${s.stats.serverWaitSeconds.toFixed(3).padStart(9)} ${((s.stats.serverWaitSeconds / seconds) * 100).toFixed(2).padStart(8)}%  waiting for MongoDB replies (within the stages and estimates above)`,
  );
  const throttled = s.stats.throttledSeconds;
  if (throttled) {
    const total = throttled.ReplicationLag + throttled.QueryLatency;
    lines.push(
      `${'(throttled)'.padEnd(12)} ${total.toFixed(3).padStart(9)} ${((total / seconds) * 100).toFixed(2).padStart(8)}%  backing off under database pressure (ReplicationLag ${throttled.ReplicationLag.toFixed(3)} s, QueryLatency ${throttled.QueryLatency.toFixed(3)} s), included in the times above`,
    );
  }
  lines.push('', `Rate        ${(t.documentsArchived / seconds).toFixed(1)} documents/s archived`);
  if (s.snapshot.lastError)
    lines.push(
      `Last error  ${s.snapshot.lastError.time} ${s.snapshot.lastError.stage}: ${s.snapshot.lastError.message}`,
    );
  return `${lines.join('\n')}\n`;
}
