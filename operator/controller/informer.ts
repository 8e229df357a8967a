// A list+watch cache of one resource path, built on client-node's ListWatch, that keeps itself alive:
// ListWatch stops for good after a list or watch error (other than 410 Gone), so this wrapper restarts
// it with back-off and reports whether the first list has completed (for /readyz).
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/redact.js';
import { backoffDelay, type BackoffOptions } from '../util/backoff.js';
import type { KubeClient } from './kube-rest.js';

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(obj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions {
  /** Collection path, e.g. /apis/gochive.io/v1alpha1/archivepolicies or …/namespaces/x/leases. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Name used in logs. */
  what: string;
  backoff?: BackoffOptions;
}

const informerBackoff: BackoffOptions = { baseMs: 500, maxMs: 30_000, jitter: 0.2 };

export class ResourceInformer<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private synced = false;
  private stopped = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly syncWaiters: Array<() => void> = [];

  constructor(
    kc: KubeConfig,
    rest: KubeClient,
    private readonly opts: InformerOptions,
    handlers: InformerHandlers<T>,
    private readonly log: Logger,
  ) {
    const listFn = async (): Promise<KubernetesListObject<T>> => {
      const list = await rest.request<KubernetesListObject<T>>({
        method: 'GET',
        path: opts.path,
        query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector },
      });
      return list;
    };
    this.lw = new ListWatch<T>(
      opts.path,
      new Watch(kc),
      listFn,
      false,
      opts.labelSelector,
      opts.fieldSelector,
    );
    if (handlers.add) this.lw.on('add', handlers.add);
    if (handlers.update) this.lw.on('update', handlers.update);
    if (handlers.delete) this.lw.on('delete', handlers.delete);
    this.lw.on('connect', () => {
      this.log.debug({ informer: opts.what }, 'watch connecting');
    });
    this.lw.on('error', (err: unknown) => this.restartLater(err));
  }

  /** Starts list+watch; resolves after the first attempt (successful or not — it keeps retrying). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.attempt();
  }

  /** Resolves once the first list has completed, or after `timeoutMs` (returns whether synced). */
  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.synced), timeoutMs);
      this.syncWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.lw.list(namespace);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.lw.stop();
  }

  private async attempt(): Promise<void> {
    const before = this.failures;
    try {
      await this.lw.start();
    } catch (err) {
      this.restartLater(err);
      return;
    }
    // ListWatch reports failures through the error callback, not by rejecting.
    if (this.failures === before && !this.stopped) {
      this.failures = 0;
      if (!this.synced) {
        this.synced = true;
        for (const w of this.syncWaiters.splice(0)) w();
      }
    }
  }

  private restartLater(err: unknown): void {
    if (this.stopped) return;
    this.failures++;
    const delay = backoffDelay(this.failures, this.opts.backoff ?? informerBackoff);
    this.log.warn(
      { informer: this.opts.what, err: errorMessage(err), retryInMs: delay },
      'list/watch failed; retrying',
    );
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) void this.attempt();
    }, delay);
    this.restartTimer.unref();
  }
}
