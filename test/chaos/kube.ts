// The campaign's Kubernetes side, on the shared test API server: its own namespace (Secrets, the
// ArchivePolicies and the operator's Leases), the CRD, and the policy operations the fault injector
// performs (create, replace, suspend, delete).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Lease,
} from '@kubernetes/client-node';
import type { ArchivePolicy } from '../../operator/api/schema.js';
import { waitForCrdsEstablished } from '../support/crd-established.js';

const run = promisify(execFile);
const G = { group: 'gochive.io', version: 'v1alpha1', plural: 'archivepolicies' };

export function statusCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
  const c = e.code ?? e.statusCode ?? e.response?.statusCode;
  return typeof c === 'number' ? c : undefined;
}

export class Kube {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly coord: CoordinationV1Api;

  constructor(
    readonly kc: KubeConfig,
    readonly kubeconfigFile: string,
    readonly namespace: string,
    private readonly pathEnv: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.coord = kc.makeApiClient(CoordinationV1Api);
  }

  /** Installs (or updates) the generated CRD and waits until it is served. Shared; never deleted. */
  async ensureCrd(repoRoot: string): Promise<void> {
    const env = { ...process.env, KUBECONFIG: this.kubeconfigFile, PATH: this.pathEnv };
    await run(
      'kubectl',
      [
        'apply',
        '--server-side',
        '--force-conflicts',
        '-f',
        path.join(repoRoot, 'crds', 'archivepolicies.gochive.io.yaml'),
      ],
      { env, timeout: 60_000 },
    );
    await waitForCrdsEstablished(['archivepolicies.gochive.io'], { env, timeoutMs: 60_000 });
  }

  async createNamespace(labels: Record<string, string>): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name: this.namespace, labels } } });
  }

  /** Deletes the campaign's policies, Leases and namespace (best effort; without a controller-manager the namespace stays Terminating). */
  async deleteNamespace(): Promise<void> {
    const ns = this.namespace;
    try {
      const list = (await this.custom.listNamespacedCustomObject({ ...G, namespace: ns })) as {
        items: ArchivePolicy[];
      };
      await Promise.all(
        list.items.map((p) =>
          this.custom
            .deleteNamespacedCustomObject({ ...G, namespace: ns, name: p.metadata.name })
            .catch(() => undefined),
        ),
      );
    } catch {
      /* namespace may not exist */
    }
    await this.coord.deleteCollectionNamespacedLease({ namespace: ns }).catch(() => undefined);
    await this.core.deleteCollectionNamespacedSecret({ namespace: ns }).catch(() => undefined);
    await this.core.deleteNamespace({ name: ns }).catch(() => undefined);
  }

  async createSecret(name: string, data: Record<string, string>): Promise<void> {
    await this.core.createNamespacedSecret({
      namespace: this.namespace,
      body: { metadata: { name }, stringData: data },
    });
  }

  policyObject(
    name: string,
    spec: Record<string, unknown>,
    labels: Record<string, string> = {},
  ): Record<string, unknown> {
    return {
      apiVersion: 'gochive.io/v1alpha1',
      kind: 'ArchivePolicy',
      metadata: { name, namespace: this.namespace, labels },
      spec,
    };
  }

  async createPolicy(name: string, spec: Record<string, unknown>): Promise<ArchivePolicy> {
    return (await this.custom.createNamespacedCustomObject({
      ...G,
      namespace: this.namespace,
      body: this.policyObject(name, spec, { 'gochive.io/chaos': 'true' }),
    })) as ArchivePolicy;
  }

  async getPolicy(name: string): Promise<ArchivePolicy | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({
        ...G,
        namespace: this.namespace,
        name,
      })) as ArchivePolicy;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async listPolicies(): Promise<ArchivePolicy[]> {
    const list = (await this.custom.listNamespacedCustomObject({ ...G, namespace: this.namespace })) as {
      items: ArchivePolicy[];
    };
    return list.items;
  }

  /** Replaces the spec (read-modify-write, retried on conflicts). Returns the new generation. */
  async replaceSpec(name: string, spec: Record<string, unknown>): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const cur = await this.getPolicy(name);
      if (!cur) throw new Error(`policy ${name} does not exist`);
      try {
        const res = (await this.custom.replaceNamespacedCustomObject({
          ...G,
          namespace: this.namespace,
          name,
          body: { ...cur, spec },
        })) as ArchivePolicy;
        return res.metadata.generation ?? 0;
      } catch (err) {
        if (statusCode(err) === 409 && attempt < 10) continue;
        throw err;
      }
    }
  }

  /** Tries to store an invalid spec; returns the API server's refusal message, or undefined if it was accepted. */
  async tryInvalidSpec(name: string, spec: Record<string, unknown>): Promise<string | undefined> {
    // Retried on conflicts: the operator's status writes move the resourceVersion between GET and PUT.
    for (let attempt = 1; ; attempt++) {
      const cur = await this.getPolicy(name);
      if (!cur) return 'policy absent';
      try {
        await this.custom.replaceNamespacedCustomObject({
          ...G,
          namespace: this.namespace,
          name,
          body: { ...cur, spec },
          dryRun: 'All',
        });
        return undefined;
      } catch (err) {
        const code = statusCode(err);
        if (code === 409 && attempt < 10) continue;
        if (code === 422 || code === 400)
          return (err as { body?: unknown }).body
            ? String((err as { body?: unknown }).body).slice(0, 300)
            : `HTTP ${code}`;
        throw err;
      }
    }
  }

  async deletePolicy(name: string): Promise<void> {
    try {
      await this.custom.deleteNamespacedCustomObject({ ...G, namespace: this.namespace, name });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  async policyLeases(): Promise<V1Lease[]> {
    const res = await this.coord.listNamespacedLease({
      namespace: this.namespace,
      labelSelector: 'gochive.io/lease-type=policy',
    });
    return res.items;
  }
}
