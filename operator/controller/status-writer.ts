// Writes ArchivePolicy status through the /status subresource with a JSON merge patch, at most once per
// `minIntervalMs` per policy — except that a phase change is written at once. The status is computed
// lazily at write time, so a burst of worker snapshots collapses into one write of the newest picture,
// and nothing is written when the picture did not change. Every write is conditional on the
// resourceVersion its base status came from: the totals are computed from that base (status-totals.ts),
// so a base that is stale (another replica wrote since, or the informer lagged) is re-read on a 409
// Conflict and the status computed again, never overwritten blindly.
import type { ArchivePolicyStatus } from '../api/schema.js';
import { GROUP, PLURAL, VERSION } from '../api/schema.js';
import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/redact.js';
import { backoffDelay } from '../util/backoff.js';
import { isConflict, isNotFound, resourcePath, type KubeClient } from './kube-rest.js';

export type StatusComputer = (prev: ArchivePolicyStatus | undefined) => ArchivePolicyStatus | undefined;

interface Entry {
  namespace: string;
  name: string;
  compute?: StatusComputer;
  /** The status on the server as far as this writer knows, and the resourceVersion it was read or written at. */
  last?: ArchivePolicyStatus;
  resourceVersion?: string;
  lastJson?: string;
  lastWriteAt: number;
  writing?: Promise<void>;
  again: boolean;
  timer?: NodeJS.Timeout;
  timerAt?: number;
  failures: number;
}

export interface StatusWriterOptions {
  rest: KubeClient;
  log: Logger;
  minIntervalMs?: number;
  /**
   * Fields that change on every tick without telling anything new (lastFetchTime): a change to them
   * alone is written at most every `volatileIntervalMs`, so idle policies do not patch every few seconds.
   */
  volatileFields?: string[];
  volatileIntervalMs?: number;
  onWrite?: (result: 'ok' | 'error' | 'gone' | 'conflict') => void;
  now?: () => number;
}

export class StatusWriter {
  private readonly entries = new Map<string, Entry>();
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  private closed = false;

  private readonly volatileFields: string[];
  private readonly volatileIntervalMs: number;

  constructor(private readonly o: StatusWriterOptions) {
    this.minIntervalMs = o.minIntervalMs ?? 1000;
    this.now = o.now ?? Date.now;
    this.volatileFields = o.volatileFields ?? ['lastFetchTime'];
    this.volatileIntervalMs = o.volatileIntervalMs ?? 60_000;
  }

  /** The status without its volatile fields, for deciding whether anything worth a write changed. */
  private material(s: ArchivePolicyStatus | undefined): string {
    if (!s) return '';
    const copy: Record<string, unknown> = { ...s };
    for (const f of this.volatileFields) delete copy[f];
    return JSON.stringify(copy);
  }

  /**
   * Asks for the policy's status to be brought up to date. `current` is the status as last seen on the
   * server, at `resourceVersion` (used until this writer has written one itself).
   */
  request(
    key: string,
    ref: { namespace: string; name: string },
    current: ArchivePolicyStatus | undefined,
    resourceVersion: string | undefined,
    compute: StatusComputer,
  ): void {
    if (this.closed) return;
    let e = this.entries.get(key);
    if (!e) {
      e = { namespace: ref.namespace, name: ref.name, lastWriteAt: 0, again: false, failures: 0 };
      if (current) {
        e.last = current;
        e.lastJson = JSON.stringify(current);
      }
      if (resourceVersion) e.resourceVersion = resourceVersion;
      this.entries.set(key, e);
    }
    e.compute = compute;
    this.schedule(key, e);
  }

  /** The status this writer last wrote (or was seeded with). */
  last(key: string): ArchivePolicyStatus | undefined {
    return this.entries.get(key)?.last;
  }

  /**
   * Another writer of this replica (the ledger, status-ledger.ts) wrote the status: take it as the new
   * base, so the next write does not run into a 409 first.
   */
  rebase(key: string, status: ArchivePolicyStatus, resourceVersion: string | undefined): void {
    const e = this.entries.get(key);
    if (!e || e.writing) return; // a write in flight will meet the 409 and re-read
    e.last = status;
    e.lastJson = JSON.stringify(status);
    e.resourceVersion = resourceVersion;
    if (e.compute) this.schedule(key, e);
  }

  /** Writes the pending change now (ignoring the rate limit) and waits for it. */
  async flush(key: string): Promise<void> {
    const e = this.entries.get(key);
    if (!e) return;
    if (e.timer) {
      clearTimeout(e.timer);
      e.timer = undefined;
    }
    if (e.writing) await e.writing;
    if (e.compute) await this.write(key, e);
  }

  /** Drops a policy (deleted, or no longer ours) without writing. */
  forget(key: string): void {
    const e = this.entries.get(key);
    if (e?.timer) clearTimeout(e.timer);
    this.entries.delete(key);
  }

  async close(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((k) => this.flush(k).catch(() => undefined)));
    this.closed = true;
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
  }

  private schedule(key: string, e: Entry): void {
    if (e.writing) {
      e.again = true;
      return;
    }
    const next = e.compute?.(e.last);
    if (!next) return;
    if (JSON.stringify(next) === e.lastJson) return;
    const now = this.now();
    let at: number;
    if (e.failures > 0) {
      // Back off after errors, whatever changed.
      at = e.lastWriteAt + backoffDelay(e.failures, { baseMs: 1000, maxMs: 30_000, jitter: 0.2 });
    } else if (next.phase !== e.last?.phase) {
      at = now;
    } else if (e.last !== undefined && this.material(next) === this.material(e.last)) {
      at = e.lastWriteAt + this.volatileIntervalMs;
    } else {
      at = e.lastWriteAt + this.minIntervalMs;
    }
    if (at <= now) {
      if (e.timer) clearTimeout(e.timer);
      e.timer = undefined;
      void this.write(key, e);
      return;
    }
    if (e.timer && (e.timerAt ?? Infinity) <= at) return; // an earlier write is already planned
    if (e.timer) clearTimeout(e.timer);
    e.timerAt = at;
    e.timer = setTimeout(() => {
      e.timer = undefined;
      if (this.entries.get(key) === e && e.compute && !this.closed) void this.write(key, e);
    }, at - now);
    e.timer.unref();
  }

  private path(e: Entry): string {
    return policyStatusPath(e.namespace, e.name);
  }

  /** Reads the object's current status and resourceVersion as the new base. False if that failed. */
  private async reread(key: string, e: Entry): Promise<boolean> {
    try {
      const obj = await this.o.rest.request<{
        metadata?: { resourceVersion?: string };
        status?: ArchivePolicyStatus;
      }>({ method: 'GET', path: this.path(e) });
      if (this.entries.get(key) !== e) return true;
      e.last = obj?.status;
      e.lastJson = obj?.status ? JSON.stringify(obj.status) : undefined;
      e.resourceVersion = obj?.metadata?.resourceVersion;
      return true;
    } catch (err) {
      if (isNotFound(err)) {
        if (this.entries.get(key) === e) this.entries.delete(key);
        return true;
      }
      return false;
    }
  }

  private write(key: string, e: Entry): Promise<void> {
    if (e.writing) {
      e.again = true;
      return e.writing;
    }
    const run = async (): Promise<void> => {
      const next = e.compute?.(e.last);
      if (!next) return;
      const json = JSON.stringify(next);
      if (json === e.lastJson) return;
      e.lastWriteAt = this.now();
      try {
        const written = await this.o.rest.request<{ metadata?: { resourceVersion?: string } }>({
          method: 'PATCH',
          path: this.path(e),
          contentType: 'application/merge-patch+json',
          body: {
            ...(e.resourceVersion ? { metadata: { resourceVersion: e.resourceVersion } } : {}),
            status: next,
          },
        });
        e.last = next;
        e.lastJson = json;
        e.resourceVersion = written?.metadata?.resourceVersion;
        e.failures = 0;
        this.o.onWrite?.('ok');
      } catch (err) {
        if (isNotFound(err)) {
          // The policy is gone; nothing more to write.
          this.o.onWrite?.('gone');
          if (this.entries.get(key) === e) this.entries.delete(key);
          return;
        }
        if (isConflict(err) && (await this.reread(key, e))) {
          // Someone else changed the object since our base: compute again from what is there now.
          this.o.onWrite?.('conflict');
          e.again = true;
          e.lastWriteAt = 0;
          return;
        }
        e.failures++;
        e.again = true;
        this.o.onWrite?.('error');
        this.o.log.warn(
          { policy: e.name, namespace: e.namespace, err: errorMessage(err), failures: e.failures },
          'writing status failed; will retry',
        );
      }
    };
    e.writing = run().finally(() => {
      e.writing = undefined;
      if (e.again && this.entries.get(key) === e && !this.closed) {
        e.again = false;
        this.schedule(key, e);
      }
    });
    return e.writing;
  }
}

/** The /status subresource of an ArchivePolicy. */
export function policyStatusPath(namespace: string, name: string): string {
  return resourcePath({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace,
    name,
    subresource: 'status',
  });
}
