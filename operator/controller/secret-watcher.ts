// Watches exactly the Secrets that policies reference (one field-selected watch per Secret), so a
// rotated password restarts the workers that use it, without caching every Secret in the cluster
// (Helm release Secrets alone can be megabytes). Reference-counted by the policies that use each one.
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../util/logger.js';
import { ResourceInformer } from './informer.js';
import { isNotFound, type KubeClient } from './kube-rest.js';

/** A Secret's values, decoded. */
function secretData(secret: V1Secret): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out[k] = v;
  return out;
}

/** One read of a Secret that nothing watches here (undefined when absent). */
export async function readSecret(
  rest: KubeClient,
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  try {
    return secretData(
      await rest.request<V1Secret>({
        method: 'GET',
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
      }),
    );
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export const secretKey = (namespace: string, name: string): string => `${namespace}/${name}`;

interface Watched {
  informer: ResourceInformer<V1Secret>;
  users: Set<string>;
}

export class SecretWatcher {
  private readonly watched = new Map<string, Watched>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly rest: KubeClient,
    private readonly log: Logger,
    /** Called with the policy keys using a Secret when it appears, changes or disappears. */
    private readonly onChange: (users: string[], secret: string) => void,
  ) {}

  /** Declares that `user` (a policy key) needs exactly these Secrets; drops its other uses. */
  use(user: string, secrets: Array<{ namespace: string; name: string }>): void {
    const wanted = new Set(secrets.map((s) => secretKey(s.namespace, s.name)));
    for (const [key, w] of this.watched) {
      if (!wanted.has(key) && w.users.delete(user) && w.users.size === 0) this.unwatch(key);
    }
    for (const s of secrets) {
      const key = secretKey(s.namespace, s.name);
      let w = this.watched.get(key);
      if (!w) {
        w = { informer: this.watch(s.namespace, s.name), users: new Set() };
        this.watched.set(key, w);
      }
      w.users.add(user);
    }
  }

  release(user: string): void {
    this.use(user, []);
  }

  /** The Secret's data (decoded), waiting up to `timeoutMs` for its first list; undefined if absent. */
  async get(
    namespace: string,
    name: string,
    timeoutMs = 10_000,
  ): Promise<Record<string, string> | undefined> {
    const w = this.watched.get(secretKey(namespace, name));
    if (!w) throw new Error(`secret ${namespace}/${name} is not watched; call use() first`);
    if (!(await w.informer.waitForSync(timeoutMs))) {
      throw new Error(
        `could not read Secret ${namespace}/${name} within ${timeoutMs} ms (API server unreachable or access denied)`,
      );
    }
    const secret = w.informer.get(name, namespace);
    return secret && secretData(secret);
  }

  /** resourceVersion of a watched Secret (part of a worker's fingerprint), '' when absent. */
  version(namespace: string, name: string): string {
    return (
      this.watched.get(secretKey(namespace, name))?.informer.get(name, namespace)?.metadata
        ?.resourceVersion ?? ''
    );
  }

  get count(): number {
    return this.watched.size;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.watched.values()].map((w) => w.informer.stop()));
    this.watched.clear();
  }

  private watch(namespace: string, name: string): ResourceInformer<V1Secret> {
    const key = secretKey(namespace, name);
    const fire = (): void => this.onChange([...(this.watched.get(key)?.users ?? [])], key);
    const informer = new ResourceInformer<V1Secret>(
      this.kc,
      this.rest,
      {
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
        fieldSelector: `metadata.name=${name}`,
        what: `secret ${key}`,
      },
      { add: fire, update: fire, delete: fire },
      this.log,
    );
    void informer.start();
    return informer;
  }

  private unwatch(key: string): void {
    const w = this.watched.get(key);
    this.watched.delete(key);
    void w?.informer.stop();
  }
}
