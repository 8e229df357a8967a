// What an ArchivePolicy's status should say, computed from what the controller observes (pure: no I/O,
// so it is unit-tested exhaustively). Conditions follow the Kubernetes API conventions: CamelCase
// reasons, observedGeneration, and lastTransitionTime that moves only when a condition's status flips.
import type { ArchivePolicyCondition, ArchivePolicyPhase, ArchivePolicyStatus } from '../api/schema.js';
import type { WorkerSnapshot } from '../archiver/worker-api.js';
import { rfc3339 } from './microtime.js';
import { zeroTotals } from '../archiver/counters.js';

/** The last worker picture of a policy whose worker is not running (any more). */
interface Remembered {
  snapshot?: WorkerSnapshot;
}

/** What the controller knows about a policy at the moment the status is computed. */
export type Observation =
  | ({ kind: 'pending'; generation: number; message?: string } & Remembered)
  | ({ kind: 'invalid'; generation: number; message: string } & Remembered)
  | ({ kind: 'suspended'; generation: number } & Remembered)
  /** The controller cannot start a worker until the user acts (missing Secret, no URI template…). */
  | ({ kind: 'blocked'; generation: number; reason: string; message: string } & Remembered)
  | {
      kind: 'running';
      generation: number;
      snapshot: WorkerSnapshot;
      /** The worker exited on its own and is restarted after `retryInMs` (crash, or Blocked/Failed). */
      exited?: { message: string; retryInMs: number };
    };

export interface StatusContext {
  replica: string;
  now: Date;
}

const MAX_MESSAGE = 4096;

type CondStatus = 'True' | 'False' | 'Unknown';
interface Cond {
  status: CondStatus;
  reason: string;
  message: string;
}

export function computeStatus(
  prev: ArchivePolicyStatus | undefined,
  obs: Observation,
  ctx: StatusContext,
): ArchivePolicyStatus {
  const out: ArchivePolicyStatus = { ...(prev ?? {}) };
  out.observedGeneration = obs.generation;
  out.activeReplica = ctx.replica;
  let phase: ArchivePolicyPhase;
  let ready: Cond;
  let archiving: Cond;
  let degraded: Cond = { status: 'False', reason: 'AsExpected', message: 'no recent errors' };

  const snap = obs.snapshot;
  // The counts are the ledger's (written with each step, archiver/ledger.ts) and are kept as they are;
  // documentsIneligible is a gauge: a worker's figure replaces the previous one once it has estimated.
  out.totals = {
    ...zeroTotals(),
    ...(prev?.totals ?? {}),
    ...(snap?.backlog !== undefined ? { documentsIneligible: snap.totals.documentsIneligible } : {}),
  };
  if (obs.kind !== 'running' && snap) applySnapshot(out, snap);
  switch (obs.kind) {
    case 'pending':
      phase = 'Pending';
      ready = {
        status: 'Unknown',
        reason: 'Starting',
        message: obs.message ?? 'waiting for a worker to start',
      };
      archiving = { status: 'False', reason: 'Starting', message: 'the worker has not started yet' };
      break;
    case 'invalid':
      phase = 'Failed';
      ready = { status: 'False', reason: 'InvalidSpec', message: obs.message };
      archiving = {
        status: 'False',
        reason: 'InvalidSpec',
        message: 'the spec is invalid; nothing runs until it is fixed',
      };
      break;
    case 'suspended':
      phase = 'Suspended';
      ready = {
        status: 'False',
        reason: 'Suspended',
        message: 'spec.suspend is true; set it to false to resume',
      };
      archiving = { status: 'False', reason: 'Suspended', message: 'suspended' };
      break;
    case 'blocked':
      phase = 'Blocked';
      ready = { status: 'False', reason: obs.reason, message: obs.message };
      archiving = { status: 'False', reason: obs.reason, message: 'blocked until the problem is fixed' };
      break;
    case 'running': {
      const s = obs.snapshot;
      applySnapshot(out, s);
      const err = s.lastError;
      const lastProgress = Math.max(time(s.lastFetchTime), time(s.lastUploadTime), time(s.lastSuccessTime));
      const erroring = !!err && time(err.time) > lastProgress;
      if (erroring)
        degraded = {
          status: 'True',
          reason: `${camel(err.stage)}Failed`,
          message: `${err.message} (retrying with back-off)`,
        };
      if (obs.exited) {
        degraded = {
          status: 'True',
          reason: 'WorkerRestarting',
          message: `${obs.exited.message}; restarting in ${Math.round(obs.exited.retryInMs / 1000)}s`,
        };
      }
      switch (s.state) {
        case 'Starting':
        case 'Stopped':
          phase = s.state === 'Stopped' && prev?.phase ? prev.phase : 'Pending';
          ready = erroring
            ? { status: 'False', reason: degraded.reason, message: degraded.message }
            : {
                status: 'Unknown',
                reason: 'Starting',
                message: 'the worker is connecting and checking the index',
              };
          archiving = {
            status: 'False',
            reason: 'Starting',
            message: 'the worker has not started archiving yet',
          };
          break;
        case 'Archiving':
          phase = 'Archiving';
          ready = { status: 'True', reason: 'WorkerRunning', message: `worker running on ${ctx.replica}` };
          archiving = {
            status: 'True',
            reason: 'BacklogPresent',
            message:
              s.backlog !== undefined
                ? `about ${s.backlog} documents eligible`
                : 'eligible documents are being archived',
          };
          break;
        case 'Idle':
          phase = 'Idle';
          ready = { status: 'True', reason: 'WorkerRunning', message: `worker running on ${ctx.replica}` };
          archiving = { status: 'False', reason: 'NoBacklog', message: 'no document is eligible right now' };
          break;
        case 'Paused': {
          const spoolFull = /spool/i.test(s.reason ?? '');
          phase = spoolFull ? 'Archiving' : 'Idle';
          ready = { status: 'True', reason: 'WorkerRunning', message: `worker running on ${ctx.replica}` };
          archiving = { status: 'False', reason: s.reason ?? 'Paused', message: s.message ?? 'paused' };
          break;
        }
        case 'Blocked':
          phase = 'Blocked';
          ready = {
            status: 'False',
            reason: s.reason ?? 'Blocked',
            message: s.message ?? 'the worker refuses to run until the problem is fixed',
          };
          archiving = { status: 'False', reason: s.reason ?? 'Blocked', message: 'blocked' };
          break;
        case 'Failed':
          phase = 'Failed';
          ready = {
            status: 'False',
            reason: s.reason ?? 'WorkerFailed',
            message: s.message ?? s.lastError?.message ?? 'the worker failed',
          };
          archiving = { status: 'False', reason: s.reason ?? 'WorkerFailed', message: 'failed' };
          break;
      }
      // Running but erroring (e.g. MongoDB unreachable): not Ready, whatever the last state was.
      if (erroring && ready.status === 'True')
        ready = { status: 'False', reason: degraded.reason, message: degraded.message };
      break;
    }
  }
  out.phase = phase;
  out.conditions = [
    condition(prev, 'Ready', ready, obs.generation, ctx.now),
    condition(prev, 'Archiving', archiving, obs.generation, ctx.now),
    condition(prev, 'Degraded', degraded, obs.generation, ctx.now),
  ];
  const throttled = throttledCondition(prev, obs);
  if (throttled) out.conditions.push(condition(prev, 'Throttled', throttled, obs.generation, ctx.now));
  return out;
}

/**
 * Throttled (spec.throttle only): True with reason ReplicationLag or QueryLatency and the measured value
 * while the worker backs off. A policy without a throttle has no such condition; one whose worker is
 * not running keeps it, False.
 */
function throttledCondition(prev: ArchivePolicyStatus | undefined, obs: Observation): Cond | undefined {
  const t = obs.kind === 'running' ? obs.snapshot.throttle : undefined;
  if (t?.active && t.reason) return { status: 'True', reason: t.reason, message: t.message ?? 'backing off' };
  if (t) return { status: 'False', reason: 'NotThrottled', message: 'no limit of spec.throttle is exceeded' };
  if (obs.kind !== 'running' && prev?.conditions?.some((c) => c.type === 'Throttled'))
    return { status: 'False', reason: 'NotRunning', message: 'no worker runs for this policy' };
  return undefined;
}

function applySnapshot(out: ArchivePolicyStatus, s: WorkerSnapshot): void {
  if (s.lastBundle) {
    out.lastBundle = {
      key: s.lastBundle.key,
      documents: s.lastBundle.documents,
      bytes: s.lastBundle.bytes,
      ...(s.lastBundle.archiveFieldMin ? { archiveFieldMin: s.lastBundle.archiveFieldMin } : {}),
      ...(s.lastBundle.archiveFieldMax ? { archiveFieldMax: s.lastBundle.archiveFieldMax } : {}),
      uploadedAt: s.lastBundle.uploadedAt,
    };
  }
  out.spool = { documents: s.spooledDocuments, bytes: s.spooledBytes };
  if (s.backlog !== undefined) out.backlog = Math.max(0, Math.round(s.backlog));
  if (s.oldestEligibleAgeSeconds !== undefined)
    out.oldestEligibleAgeSeconds = Math.max(0, Math.round(s.oldestEligibleAgeSeconds));
  if (s.lastFetchTime) out.lastFetchTime = s.lastFetchTime;
  if (s.lastUploadTime) out.lastUploadTime = s.lastUploadTime;
  if (s.lastSuccessTime) out.lastSuccessTime = s.lastSuccessTime;
  if (s.lastPrune) out.lastPrune = { ...s.lastPrune };
  if (s.lastError)
    out.lastError = {
      time: s.lastError.time,
      stage: s.lastError.stage,
      message: truncate(s.lastError.message),
    };
}

function condition(
  prev: ArchivePolicyStatus | undefined,
  type: string,
  c: Cond,
  generation: number,
  now: Date,
): ArchivePolicyCondition {
  const old = prev?.conditions?.find((x) => x.type === type);
  const lastTransitionTime =
    old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : rfc3339(now);
  return {
    type,
    status: c.status,
    observedGeneration: generation,
    lastTransitionTime,
    reason: validReason(c.reason),
    message: truncate(c.message),
  };
}

/** Reasons must match ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$; engine reasons are trusted but checked. */
function validReason(reason: string): string {
  const cleaned = reason.replace(/[^A-Za-z0-9_,:]/g, '');
  return /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/.test(cleaned) ? cleaned : 'Unknown';
}

function camel(stage: string): string {
  return stage.charAt(0).toUpperCase() + stage.slice(1);
}

function time(t: string | undefined): number {
  const v = t ? Date.parse(t) : NaN;
  return Number.isFinite(v) ? v : 0;
}

function truncate(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 1)}…` : s;
}
