// What the benchmark knows about the ArchivePolicies of one namespace: when each was first seen and
// when it first had a status phase, kept current by list-then-watch. The earlier benchmark watched once
// and ignored the watch ending: when the API server closed the stream (or it stalled), the benchmark
// waited out its 10-minute timeout. Here every end of the watch (error, server-side close, no event for
// `stallMs`) restarts it from the last resourceVersion, a 410 Gone relists, and a relist every
// `resyncMs` catches anything a watch missed (counted, so a lossy watch shows in the figures). It gives
// up only when the API server cannot be listed for `deadAfterMs`, and then says so.
import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { ArchivePolicy } from '../../operator/api/schema.js';

export interface PolicyWatchOptions {
  namespace: string;
  /** Server-side watch timeout: the stream is closed and re-opened at least this often. */
  watchSeconds?: number;
  /** A watch that delivered nothing (not even a bookmark) for this long is presumed stalled. */
  stallMs?: number;
  resyncMs?: number;
  deadAfterMs?: number;
}

export interface PolicySeen {
  /** First time the object was seen (watch ADDED or a list). */
  seenAt: number;
  /** First time it carried status.phase. */
  firstStatusAt?: number;
  /** True when the first status was found by a relist, not the watch (its time is late). */
  firstStatusByList?: boolean;
  phase?: string;
}

export class PolicyWatch {
  readonly policies = new Map<string, PolicySeen>();
  /** Requests this watcher made to the API server, by kind (to subtract from the server's counts). */
  readonly requests = { list: 0, watch: 0 };
  watchRestarts = 0;
  relists = 0;
  lastWatchError?: string;
  /** Set when the watcher gave up: the reason. */
  dead?: string;

  private readonly api: CustomObjectsApi;
  private readonly path: string;
  private resourceVersion?: string;
  private current?: AbortController;
  private stopped = false;
  private resyncPaused = false;
  private lastEventAt = 0;
  private lastListOkAt = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private readonly o: Required<PolicyWatchOptions>;

  constructor(
    private readonly kc: KubeConfig,
    o: PolicyWatchOptions,
  ) {
    this.o = { watchSeconds: 60, stallMs: 90_000, resyncMs: 10_000, deadAfterMs: 120_000, ...o };
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.path = `/apis/gochive.io/v1alpha1/namespaces/${o.namespace}/archivepolicies`;
  }

  async start(): Promise<void> {
    // A CRD just created answers 429 "storage is (re)initializing" for a moment: retry until `dead`.
    for (;;) {
      try {
        await this.relist();
        break;
      } catch (err) {
        if (this.dead) throw new Error(this.dead, { cause: err });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    void this.openWatch();
    this.timers.push(
      setInterval(() => {
        if (!this.resyncPaused) void this.relist().catch(() => undefined);
      }, this.o.resyncMs),
      setInterval(() => this.checkStall(), 5000),
    );
  }

  /** Stops the periodic relist (e.g. while API traffic is measured); the watch keeps running. */
  pauseResync(paused: boolean): void {
    this.resyncPaused = paused;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.current?.abort();
  }

  private observe(obj: ArchivePolicy, byList: boolean): void {
    const name = obj.metadata?.name;
    if (!name) return;
    const now = Date.now();
    let p = this.policies.get(name);
    if (!p) this.policies.set(name, (p = { seenAt: now }));
    const phase = obj.status?.phase;
    if (phase && p.firstStatusAt === undefined) {
      p.firstStatusAt = now;
      p.firstStatusByList = byList;
    }
    if (phase) p.phase = phase;
  }

  private async relist(): Promise<void> {
    this.requests.list++;
    try {
      const r = (await this.api.listNamespacedCustomObject({
        group: 'gochive.io',
        version: 'v1alpha1',
        namespace: this.o.namespace,
        plural: 'archivepolicies',
      })) as { items: ArchivePolicy[]; metadata?: { resourceVersion?: string } };
      this.relists++;
      this.lastListOkAt = Date.now();
      for (const item of r.items) this.observe(item, true);
      // Only the first list sets where the watch starts; later lists must not move a running watch back.
      this.resourceVersion ??= r.metadata?.resourceVersion;
    } catch (err) {
      this.lastWatchError = `list: ${err instanceof Error ? err.message : String(err)}`;
      if (Date.now() - this.lastListOkAt > this.o.deadAfterMs)
        this.dead = `the API server could not be listed for ${this.o.deadAfterMs / 1000} s (${this.lastWatchError})`;
      throw err;
    }
  }

  private async openWatch(): Promise<void> {
    if (this.stopped || this.dead) return;
    this.requests.watch++;
    this.lastEventAt = Date.now();
    let ended = false;
    const end = (why: string | undefined, gone = false): void => {
      if (ended) return;
      ended = true;
      this.current?.abort();
      if (this.stopped) return;
      this.watchRestarts++;
      if (why) this.lastWatchError = why;
      if (gone) this.resourceVersion = undefined;
      // A failing API server is retried once a second; the relist (and `dead`) says when it is gone.
      setTimeout(
        () => {
          const next = gone ? this.relist().catch(() => undefined) : Promise.resolve();
          void next.then(() => this.openWatch());
        },
        why ? 1000 : 0,
      );
    };
    this.endCurrent = end;
    try {
      this.current = await new Watch(this.kc).watch(
        this.path,
        {
          allowWatchBookmarks: true,
          timeoutSeconds: this.o.watchSeconds,
          ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}),
        },
        (type: string, obj: unknown) => {
          // The client swallows exceptions thrown here: nothing below may throw unseen.
          try {
            this.lastEventAt = Date.now();
            const o = obj as ArchivePolicy & { code?: number; message?: string };
            if (type === 'ERROR') {
              end(`watch ERROR event: ${o.code ?? ''} ${o.message ?? ''}`, o.code === 410);
              return;
            }
            const rv = o.metadata?.resourceVersion;
            if (rv) this.resourceVersion = rv;
            if (type === 'ADDED' || type === 'MODIFIED') this.observe(o, false);
          } catch (err) {
            end(`watch event handling: ${err instanceof Error ? err.message : String(err)}`);
          }
        },
        (err: unknown) =>
          end(
            err ? `watch ended: ${err instanceof Error ? err.message : String(err)}` : undefined,
            (err as { statusCode?: number } | null)?.statusCode === 410,
          ),
      );
    } catch (err) {
      end(`watch could not start: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private endCurrent?: (why: string | undefined) => void;

  private checkStall(): void {
    if (this.stopped || this.dead) return;
    const quiet = Date.now() - this.lastEventAt;
    if (quiet > this.o.stallMs)
      this.endCurrent?.(`watch delivered nothing for ${Math.round(quiet / 1000)} s`);
  }

  /** One line for failure messages and the figures. */
  describe(): string {
    return `watch restarts ${this.watchRestarts}, relists ${this.relists}${this.lastWatchError ? `, last watch problem: ${this.lastWatchError}` : ''}`;
  }
}
