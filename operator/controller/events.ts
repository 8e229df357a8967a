// Kubernetes Events (events.k8s.io/v1) about ArchivePolicies: bundle uploaded, deletes done, failures.
// Aggregated the way the API intends: the first occurrence of a (policy, type, reason) creates an Event
// at once; repeats within the isolation window only bump its `series` (count, lastObservedTime), flushed at most every `seriesFlushMs`. A busy policy therefore writes a handful of Events an
// hour, not one per bundle. Recording never throws: Events are best effort.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../util/logger.js';
import { errorMessage, redactUri } from '../util/redact.js';
import type { KubeClient } from './kube-rest.js';
import { microTime } from './microtime.js';

export const REPORTING_CONTROLLER = 'gochive.io/operator';

export interface EventRegarding {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export interface EventInput {
  type: 'Normal' | 'Warning';
  /** CamelCase, e.g. BundleUploaded. */
  reason: string;
  /** What the operator did, CamelCase, e.g. Upload. */
  action: string;
  note: string;
}

interface Series {
  eventName: string;
  namespace: string;
  firstAt: number;
  count: number;
  lastObserved: number;
  note: string;
  /** Count already written to the API. */
  flushedCount: number;
  timer?: NodeJS.Timeout;
  creating?: Promise<boolean>;
}

export interface EventRecorderOptions {
  rest: KubeClient;
  /** reportingInstance: this replica's identity (pod name). */
  instance: string;
  log: Logger;
  /** Extra redaction (known secret values) applied to every note. */
  redact?: (text: string) => string;
  isolationWindowMs?: number;
  seriesFlushMs?: number;
  now?: () => number;
}

const MAX_NOTE = 1024;

export class EventRecorder {
  private readonly series = new Map<string, Series>();
  private readonly isolationMs: number;
  private readonly flushMs: number;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly o: EventRecorderOptions) {
    this.isolationMs = o.isolationWindowMs ?? 10 * 60_000;
    this.flushMs = o.seriesFlushMs ?? 30_000;
    this.now = o.now ?? Date.now;
  }

  record(regarding: EventRegarding, ev: EventInput): void {
    if (this.closed) return;
    const note = this.cleanNote(ev.note);
    const key = `${regarding.namespace}/${regarding.name}/${regarding.uid ?? ''}/${ev.type}/${ev.reason}`;
    const now = this.now();
    const s = this.series.get(key);
    if (s && now - s.firstAt < this.isolationMs) {
      s.count++;
      s.lastObserved = now;
      s.note = note;
      this.scheduleFlush(key, s);
      return;
    }
    if (s?.timer) clearTimeout(s.timer);
    const fresh: Series = {
      eventName: eventName(regarding.name, now),
      namespace: regarding.namespace,
      firstAt: now,
      count: 1,
      lastObserved: now,
      note,
      flushedCount: 1,
    };
    this.series.set(key, fresh);
    fresh.creating = this.create(regarding, ev, fresh);
  }

  /** Forgets a deleted policy's series (their Events are garbage-collected by the API server's TTL). */
  forget(namespace: string, name: string): void {
    const prefix = `${namespace}/${name}/`;
    for (const [k, s] of this.series) {
      if (!k.startsWith(prefix)) continue;
      if (s.timer) clearTimeout(s.timer);
      this.series.delete(k);
    }
  }

  /** Writes pending series updates and stops recording. */
  async close(): Promise<void> {
    this.closed = true;
    const pending: Array<Promise<void>> = [];
    for (const s of this.series.values()) {
      if (s.timer) clearTimeout(s.timer);
      if (s.count > s.flushedCount) pending.push(this.flush(s));
    }
    await Promise.all(pending);
  }

  private cleanNote(note: string): string {
    let out = redactUri(note);
    if (this.o.redact) out = this.o.redact(out);
    return out.length > MAX_NOTE ? `${out.slice(0, MAX_NOTE - 1)}…` : out;
  }

  private async create(regarding: EventRegarding, ev: EventInput, s: Series): Promise<boolean> {
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: s.eventName, namespace: regarding.namespace },
      eventTime: microTime(new Date(s.firstAt)),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.o.instance,
      action: ev.action,
      reason: ev.reason,
      type: ev.type,
      note: s.note,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        namespace: regarding.namespace,
        name: regarding.name,
        ...(regarding.uid ? { uid: regarding.uid } : {}),
      },
    };
    try {
      await this.o.rest.request({
        method: 'POST',
        path: `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(regarding.namespace)}/events`,
        body,
      });
      return true;
    } catch (err) {
      this.o.log.warn(
        { reason: ev.reason, namespace: regarding.namespace, policy: regarding.name, err: errorMessage(err) },
        'could not record event',
      );
      return false;
    }
  }

  private scheduleFlush(key: string, s: Series): void {
    if (s.timer || this.closed) return;
    const wait = Math.max(0, this.flushMs - ((this.now() - s.firstAt) % this.flushMs));
    s.timer = setTimeout(
      () => {
        s.timer = undefined;
        if (this.series.get(key) === s) void this.flush(s);
      },
      Math.min(wait, this.flushMs),
    );
    s.timer.unref();
  }

  private async flush(s: Series): Promise<void> {
    if (s.creating && !(await s.creating)) return;
    const count = s.count;
    if (count <= s.flushedCount) return;
    try {
      await this.o.rest.request({
        method: 'PATCH',
        path: `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(s.namespace)}/events/${encodeURIComponent(s.eventName)}`,
        contentType: 'application/merge-patch+json',
        // The API server keeps `note` immutable on events.k8s.io/v1 updates; only the series moves.
        body: { series: { count, lastObservedTime: microTime(new Date(s.lastObserved)) } },
      });
      s.flushedCount = Math.max(s.flushedCount, count);
    } catch (err) {
      this.o.log.debug({ event: s.eventName, err: errorMessage(err) }, 'could not update event series');
    }
  }
}

/** `<policy>.<hex time><random>`, like the API server's own event names; ≤ 253 characters. */
function eventName(policy: string, now: number): string {
  const suffix = `${now.toString(16)}${randomBytes(3).toString('hex')}`;
  return `${policy.slice(0, 253 - suffix.length - 1)}.${suffix}`;
}
