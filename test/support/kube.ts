// Kubernetes clients for integration tests: the test cluster's admin (system:masters), and a client that
// authenticates as a ServiceAccount with a TokenRequest token (for RBAC tests).
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { testEnv } from './testenv.js';

/** A KubeConfig for the admin user of the test cluster (from KUBECONFIG / .testenv/env). */
export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().kubeconfig);
  return kc;
}

/** Same cluster as `base`, authenticated by a bearer token only (no client certificate). */
export function tokenKubeConfig(
  token: string,
  namespace = 'default',
  base: KubeConfig = adminKubeConfig(),
): KubeConfig {
  const cluster = base.getCurrentCluster();
  if (!cluster) throw new Error('tokenKubeConfig: the base kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'token-user', token }],
    contexts: [{ name: 'token', cluster: cluster.name, user: 'token-user', namespace }],
    currentContext: 'token',
  });
  return kc;
}

/** Requests a token for an existing ServiceAccount (TokenRequest API), as the admin. */
export async function serviceAccountToken(
  namespace: string,
  serviceAccount: string,
  expirationSeconds = 3600,
): Promise<string> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const res = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = res.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
  return token;
}

/** A KubeConfig that acts as `system:serviceaccount:<namespace>:<serviceAccount>`. */
export async function serviceAccountKubeConfig(
  namespace: string,
  serviceAccount: string,
): Promise<KubeConfig> {
  return tokenKubeConfig(await serviceAccountToken(namespace, serviceAccount), namespace);
}
