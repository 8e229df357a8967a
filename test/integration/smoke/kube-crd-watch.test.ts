// Smoke: the test kube-apiserver serves CRDs, custom objects and watches (@kubernetes/client-node).
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  Watch,
  type KubeConfig,
} from '@kubernetes/client-node';
import { adminKubeConfig } from '../../support/kube.js';
import { uniqueName } from '../../support/testenv.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Opens a watch, retrying while the apiserver answers 429: right after a CRD is Established its watch
 * cache may still be initialising ("Too Many Requests"). Operators' informers retry the same way.
 */
async function openWatch(
  kc: KubeConfig,
  path: string,
  onEvent: (phase: string, obj: unknown) => void,
  onError: (err: unknown) => void,
): Promise<AbortController> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    let startError: unknown;
    let started = false;
    const controller = await new Watch(kc).watch(path, {}, onEvent, (err: unknown) => {
      if (!started) startError = err;
      else if (err && !(err instanceof Error && err.name === 'AbortError')) onError(err);
    });
    started = true;
    if (startError === undefined) return controller;
    const status = (startError as { statusCode?: number }).statusCode;
    if (status !== 429 || Date.now() > deadline) throw startError;
    await sleep(250);
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('kube-apiserver: CRD, custom object, watch', () => {
  let kc: KubeConfig;
  const group = `${uniqueName('smoke')}.gochive.test`;
  const namespace = uniqueName('smoke-crd');
  const plural = 'widgets';

  beforeAll(() => {
    kc = adminKubeConfig();
  });

  afterAll(async () => {
    if (!kc) return;
    await kc
      .makeApiClient(ApiextensionsV1Api)
      .deleteCustomResourceDefinition({ name: `${plural}.${group}` })
      .catch(() => undefined);
    await kc
      .makeApiClient(CoreV1Api)
      .deleteNamespace({ name: namespace })
      .catch(() => undefined);
  });

  test('creates a CRD, then a custom object that a watch sees', async () => {
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `${plural}.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
                },
              },
            },
          ],
        },
      },
    });
    // The CRD is usable once the apiserver marks it Established.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const crd = await ext.readCustomResourceDefinition({ name: `${plural}.${group}` });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error('CRD not Established within 30s');
      await sleep(200);
    }
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });

    const seen: Array<{ phase: string; name: string; size: number }> = [];
    let onAdded = (): void => undefined;
    let onStreamError = (_err: unknown): void => undefined;
    const added = new Promise<void>((resolve, reject) => {
      onAdded = resolve;
      onStreamError = reject;
    });
    const controller = await openWatch(
      kc,
      `/apis/${group}/v1/namespaces/${namespace}/${plural}`,
      (phase, obj) => {
        const o = obj as { metadata: { name: string }; spec: { size: number } };
        seen.push({ phase, name: o.metadata.name, size: o.spec.size });
        if (phase === 'ADDED') onAdded();
      },
      (err) => onStreamError(err),
    );
    // Give the watch a moment to be established before creating the object it should see.
    await sleep(500);
    const custom = kc.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group,
      version: 'v1',
      namespace,
      plural,
      body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } },
    });
    try {
      await withTimeout(added, 30_000, 'no ADDED event within 30s');
    } finally {
      controller.abort();
    }
    expect(seen[0]).toEqual({ phase: 'ADDED', name: 'w1', size: 3 });
    const got = (await custom.getNamespacedCustomObject({
      group,
      version: 'v1',
      namespace,
      plural,
      name: 'w1',
    })) as {
      spec: { size: number };
    };
    expect(got.spec.size).toBe(3);
  });
});
