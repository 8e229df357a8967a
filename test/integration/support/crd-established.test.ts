// waitForCrdsEstablished (test/support/crd-established.ts), the one way test code waits for a CRD it has
// just applied. A brand-new CRD has no status conditions for a moment, and `kubectl wait
// --for=condition=Established` used to exit at once on that ("accessor error: <nil>"), failing whole
// suites in their beforeAll. Each round here creates a fresh CRD (its own group, so it never touches the
// shared ArchivePolicy CRD) and waits for it at once, then uses it.
import { execFile } from 'node:child_process';
import { stringify } from 'yaml';
import { waitForCrdsEstablished } from '../../support/crd-established.js';
import { testEnv, uniqueName } from '../../support/testenv.js';

const env = (): NodeJS.ProcessEnv => {
  const e = testEnv();
  return { ...process.env, KUBECONFIG: e.kubeconfig, PATH: e.path };
};

function kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('kubectl', args, { env: env(), timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(input ?? '');
  });
}

/** A minimal namespaced CRD in a group of its own. */
function crd(group: string) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `widgets.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
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
  };
}

const created: string[] = [];

afterAll(async () => {
  if (created.length) await kubectl(['delete', 'crd', '--ignore-not-found', '--wait=false', ...created]);
});

test('a CRD applied a moment ago: the wait returns once it is served, every time', async () => {
  for (let round = 0; round < 8; round++) {
    const group = `${uniqueName('wait')}.gochive-test.io`;
    const name = `widgets.${group}`;
    created.push(name);
    const apply = () => kubectl(['apply', '--server-side', '-f', '-'], stringify(crd(group)));
    const wait = () => waitForCrdsEstablished([name], { env: env(), timeoutMs: 30_000 });
    if (round % 2 === 0) {
      // Right after the apply, as every suite's beforeAll does: the CRD may have no condition yet.
      expect((await apply()).stderr).toBe('');
      await wait();
    } else {
      // Started while the apply is still on its way: the CRD may not even exist yet.
      const [applied] = await Promise.all([apply(), wait()]);
      expect(applied.stderr).toBe('');
    }
    const cr = await kubectl(
      ['create', '--dry-run=server', '-f', '-'],
      JSON.stringify({
        apiVersion: `${group}/v1`,
        kind: 'Widget',
        metadata: { name: 'w', namespace: 'default' },
        spec: { size: 1 },
      }),
    );
    expect({ round, code: cr.code, stderr: cr.stderr }).toEqual({ round, code: 0, stderr: '' });
  }
}, 180_000);

test('a CRD that never appears: it gives up after the bound, saying which and why', async () => {
  const name = `widgets.${uniqueName('absent')}.gochive-test.io`;
  const started = Date.now();
  await expect(waitForCrdsEstablished([name], { env: env(), timeoutMs: 1500 })).rejects.toThrow(
    new RegExp(
      `not Established after 1500 ms: ${name.replace(/\./g, '\\.')}: kubectl get: .*(NotFound|not found)`,
    ),
  );
  // Bounded: it stops polling soon after the deadline (generous: one kubectl call may be slow under load).
  expect(Date.now() - started).toBeLessThan(30_000);
});
