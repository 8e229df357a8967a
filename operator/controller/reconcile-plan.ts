// The reconciler's plan: what it observed of a policy (Seen), what it remembers of it (PolicyState), and
// the pure decision from those to what should happen (Plan). reconciler.ts observes, acts and reports.
import type { ArchivePolicy } from '../api/schema.js';
import type { PolicyConfig } from '../archiver/config.js';
import type { WorkerSnapshot } from '../archiver/worker-api.js';
import type { EventInput } from './events.js';
import type { RunningWorker } from './workers.js';

export type Mode =
  | { kind: 'pending'; message?: string }
  | { kind: 'invalid'; message: string }
  | { kind: 'suspended' }
  | { kind: 'blocked'; reason: string; message: string }
  | { kind: 'running' };

/** What this replica remembers about a policy whose lease it holds. */
export interface PolicyState {
  uid: string;
  namespace: string;
  name: string;
  generation: number;
  mode: Mode;
  /** The last stopped worker's picture (lastBundle, times, lastError…). */
  lastSnapshot?: WorkerSnapshot;
  restarts: number;
  nextStartAt: number;
  exit?: { message: string; retryInMs: number };
  /** Last controller-level event (so it is not repeated on every reconcile). */
  lastEvent?: string;
  secretValues: string[];
}

/** What observe() found. */
export type Seen =
  | { kind: 'deleted' }
  | { kind: 'recreated' }
  | { kind: 'not-held'; handingBack: boolean }
  | { kind: 'invalid'; st: PolicyState; policy: ArchivePolicy; message: string }
  | { kind: 'suspended'; st: PolicyState; policy: ArchivePolicy }
  | { kind: 'blocked'; st: PolicyState; policy: ArchivePolicy; reason: string; message: string }
  | {
      kind: 'runnable';
      st: PolicyState;
      policy: ArchivePolicy;
      config: PolicyConfig;
      mongoUri: string;
      fingerprint: string;
      worker: RunningWorker | undefined;
    };

/** What decide() wants done. */
export type Plan =
  /** Forget the policy on this replica: stop its worker, write nothing. */
  | { kind: 'drop'; why: string }
  /** Nothing to do here (the lease is being handed back). */
  | { kind: 'leave' }
  /** No worker may run: stop it, and show why. */
  | { kind: 'stand'; stopWhy: string; releaseSecrets?: boolean; mode: Mode; event: EventInput }
  /** The running worker is the right one. */
  | { kind: 'keep' }
  /** Start a worker (replacing the running one, if `replacing` says why). */
  | { kind: 'start'; replacing?: string }
  /** Restart back-off still running. */
  | { kind: 'wait'; ms: number };

/** What should be, from what was seen; no side effects (`now` is the clock, for the restart back-off). */
export function decide(seen: Seen, now: number): Plan {
  switch (seen.kind) {
    case 'deleted':
      return { kind: 'drop', why: 'policy deleted' };
    case 'recreated':
      return { kind: 'drop', why: 'policy re-created' };
    case 'not-held':
      // Being handed back: the lease manager stops the worker and writes the final status.
      // Otherwise another replica runs it (or nobody yet): make sure nothing runs here; write nothing.
      return seen.handingBack ? { kind: 'leave' } : { kind: 'drop', why: 'lease not held' };
    case 'invalid':
      return {
        kind: 'stand',
        stopWhy: 'invalid spec',
        mode: { kind: 'invalid', message: seen.message },
        event: { type: 'Warning', reason: 'InvalidSpec', action: 'Validate', note: seen.message },
      };
    case 'suspended':
      return {
        kind: 'stand',
        stopWhy: 'suspended',
        releaseSecrets: true,
        mode: { kind: 'suspended' },
        event: {
          type: 'Normal',
          reason: 'Suspended',
          action: 'Suspend',
          note: 'spec.suspend is true: worker stopped',
        },
      };
    case 'blocked':
      return {
        kind: 'stand',
        stopWhy: seen.reason,
        mode: { kind: 'blocked', reason: seen.reason, message: seen.message },
        event: { type: 'Warning', reason: seen.reason, action: 'ResolveConnection', note: seen.message },
      };
    case 'runnable': {
      const rw = seen.worker;
      if (rw && !rw.exited) {
        if (!rw.stopRequested && rw.fingerprint === seen.fingerprint) return { kind: 'keep' };
        const replacing =
          rw.generation !== seen.st.generation
            ? `new generation ${seen.st.generation}`
            : rw.fingerprint !== seen.fingerprint
              ? 'connection Secret changed'
              : 'restart';
        return { kind: 'start', replacing };
      }
      const wait = seen.st.nextStartAt - now;
      return wait > 0 ? { kind: 'wait', ms: wait } : { kind: 'start' };
    }
  }
}
