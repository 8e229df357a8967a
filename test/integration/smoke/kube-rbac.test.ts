// Smoke: ServiceAccount tokens via TokenRequest authenticate, and RBAC denies until a RoleBinding allows.
import { ApiException, CoreV1Api, RbacAuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { adminKubeConfig, serviceAccountKubeConfig } from '../../support/kube.js';
import { uniqueName } from '../../support/testenv.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

describe('kube-apiserver: ServiceAccount token and RBAC', () => {
  let admin: KubeConfig;
  const namespace = uniqueName('smoke-rbac');

  beforeAll(() => {
    admin = adminKubeConfig();
  });

  afterAll(async () => {
    if (admin)
      await admin
        .makeApiClient(CoreV1Api)
        .deleteNamespace({ name: namespace })
        .catch(() => undefined);
  });

  test('a TokenRequest token is denied, then allowed after a RoleBinding', async () => {
    const core = admin.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'reader' } } });

    const sa = (await serviceAccountKubeConfig(namespace, 'reader')).makeApiClient(CoreV1Api);
    // Authenticated (not 401) but not authorized (403).
    expect(await statusOf(sa.listNamespacedConfigMap({ namespace }))).toBe(403);

    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'configmap-reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
      },
    });
    // The RBAC authorizer sees new bindings through an informer: allow a few seconds.
    const deadline = Date.now() + 15_000;
    let code: number;
    while (
      (code = await statusOf(sa.listNamespacedConfigMap({ namespace }))) !== 200 &&
      Date.now() < deadline
    )
      await sleep(200);
    expect(code).toBe(200);
    // Still denied for what the Role does not grant.
    expect(await statusOf(sa.listNamespacedSecret({ namespace }))).toBe(403);
  });
});
