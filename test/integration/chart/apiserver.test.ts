// What `helm template` renders is accepted by a real kube-apiserver: first a server-side dry run (every
// object validated, CRD schema and CEL rules included), then a real create; the stored ArchivePolicies
// keep every field of their values entries. Each test works in its own namespaces and removes what it
// created (the CRDs are shared with other tests and stay).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { repoRoot, testEnv, uniqueName } from '../../support/testenv.js';
import { waitForCrdsEstablished } from '../../support/crd-established.js';
import { baseValues, helmTemplate, mustRun, runTool, type K8sObject } from './helm.js';

const fixtures = path.join(repoRoot, 'test/integration/chart/fixtures');
const fixture = (name: string) =>
  parse(readFileSync(path.join(fixtures, name), 'utf8')) as { policies: Array<Record<string, unknown>> };

const toStream = (objs: K8sObject[]) => objs.map((o) => `---\n${stringify(o)}`).join('');

beforeAll(async () => {
  // Server-side apply: idempotent when other test files apply the same CRDs concurrently. The generated
  // CRD itself (lint.test.ts proves the chart's copy identical), so a stale copy never overwrites it.
  for (const file of [
    path.join(repoRoot, 'crds', 'archivepolicies.gochive.io.yaml'),
    path.join(fixtures, 'standin-crds.yaml'),
  ]) {
    await mustRun('kubectl', [
      'apply',
      '--server-side',
      '--force-conflicts',
      '--field-manager=gochive-chart-test',
      '-f',
      file,
    ]);
  }
  const env = testEnv();
  await waitForCrdsEstablished(
    [
      'archivepolicies.gochive.io',
      'servicemonitors.monitoring.coreos.com',
      'prometheusrules.monitoring.coreos.com',
      'externalsecrets.external-secrets.io',
    ],
    { env: { ...process.env, KUBECONFIG: env.kubeconfig, PATH: env.path } },
  );
});

/** Creates the namespaces, runs `fn`, then deletes the rendered objects and the namespaces. */
async function inNamespaces(namespaces: string[], objs: K8sObject[], fn: () => Promise<void>): Promise<void> {
  for (const ns of namespaces) await mustRun('kubectl', ['create', 'namespace', ns]);
  try {
    await fn();
  } finally {
    // The test control plane runs no namespace controller, so delete the objects themselves too
    // (cluster-scoped ones such as the ClusterRole would outlive the namespace anyway).
    await runTool('kubectl', ['delete', '--ignore-not-found', '--wait=false', '-f', '-'], {
      input: toStream(objs),
    });
    await runTool('kubectl', ['delete', 'namespace', '--ignore-not-found', '--wait=false', ...namespaces]);
  }
}

async function dryRunThenCreate(objs: K8sObject[]): Promise<void> {
  const stream = toStream(objs);
  const dry = await mustRun('kubectl', ['create', '--dry-run=server', '-o', 'name', '-f', '-'], {
    input: stream,
  });
  expect(dry.trim().split('\n')).toHaveLength(objs.length);
  const created = await mustRun('kubectl', ['create', '-o', 'name', '-f', '-'], { input: stream });
  expect(created.trim().split('\n')).toHaveLength(objs.length);
}

describe('chart: rendered manifests on the test kube-apiserver', () => {
  test('original entries plus every optional object: dry run, create, stored specs keep every field', async () => {
    const ns = uniqueName('chart');
    const release = uniqueName('r');
    const values = {
      ...fixture('original-values.yaml'),
      mongodb: {
        uriTemplate: baseValues.mongodb.uriTemplate,
        externalSecret: { enabled: true, secretStoreRef: { name: 'store' }, remoteKey: 'prod/mongodb' },
      },
      serviceAccount: {
        annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/gochive' },
      },
      metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } },
    };
    const objs = await helmTemplate(values, { release, namespace: ns });
    expect(objs.map((o) => o.kind).sort()).toEqual(
      [
        'ArchivePolicy',
        'ArchivePolicy',
        'ArchivePolicy',
        'ClusterRole',
        'ClusterRoleBinding',
        'Deployment',
        'ExternalSecret',
        'PrometheusRule',
        'Service',
        'ServiceAccount',
        'ServiceMonitor',
      ].sort(),
    );
    await inNamespaces([ns], objs, async () => {
      await dryRunThenCreate(objs);
      const stored = JSON.parse(
        await mustRun('kubectl', ['get', 'archivepolicies', '-n', ns, '-o', 'json']),
      ) as {
        items: Array<{ metadata: { name: string }; spec: Record<string, unknown> }>;
      };
      expect(stored.items.map((i) => i.metadata.name).sort()).toEqual(
        values.policies.map((p) => p.name).sort(),
      );
      for (const entry of values.policies) {
        const { name, ...spec } = entry;
        // The API server may add schema defaults; every field of the entry must be there unchanged.
        expect(stored.items.find((i) => i.metadata.name === name)!.spec).toMatchObject(spec);
      }
    });
  });

  test('extension fields and per-namespace RBAC are accepted', async () => {
    const ns = uniqueName('chart');
    const watched = uniqueName('team');
    const objs = await helmTemplate(
      { ...baseValues, ...fixture('extended-values.yaml'), operator: { watchNamespaces: [watched] } },
      { release: uniqueName('r'), namespace: ns },
    );
    expect(
      objs
        .filter((o) => o.kind === 'Role')
        .map((o) => o.metadata.namespace)
        .sort(),
    ).toEqual([ns, watched].sort());
    await inNamespaces([ns, watched], objs, async () => {
      await dryRunThenCreate(objs);
      const got = JSON.parse(
        await mustRun('kubectl', ['get', 'archivepolicy', 'orders-archive', '-n', ns, '-o', 'json']),
      ) as {
        spec: Record<string, unknown>;
      };
      const { name: _name, ...spec } = fixture('extended-values.yaml').policies[0]!;
      expect(got.spec).toMatchObject(spec);
    });
  });

  test('the chart ServiceAccount may do what the rules file grants, and no more', async () => {
    const ns = uniqueName('chart');
    const release = uniqueName('r');
    const objs = await helmTemplate(
      { ...baseValues, operator: { watchNamespaces: [ns] } },
      { release, namespace: ns },
    );
    await inNamespaces([ns], objs, async () => {
      await dryRunThenCreate(objs);
      const sa = `system:serviceaccount:${ns}:${release}-gochive`;
      const can = async (verb: string, resource: string, namespace = ns, subresource?: string) =>
        (
          await runTool('kubectl', [
            'auth',
            'can-i',
            verb,
            resource,
            '-n',
            namespace,
            '--as',
            sa,
            ...(subresource ? [`--subresource=${subresource}`] : []),
          ])
        ).stdout.trim();
      expect(await can('watch', 'archivepolicies.gochive.io')).toBe('yes');
      expect(await can('patch', 'archivepolicies.gochive.io', ns, 'status')).toBe('yes');
      expect(await can('create', 'leases.coordination.k8s.io')).toBe('yes');
      expect(await can('create', 'events.events.k8s.io')).toBe('yes');
      expect(await can('get', 'secrets')).toBe('yes');
      // Not granted: writing specs, touching secrets, anything outside the watched namespace.
      expect(await can('update', 'archivepolicies.gochive.io')).toBe('no');
      expect(await can('create', 'secrets')).toBe('no');
      expect(await can('list', 'archivepolicies.gochive.io', 'default')).toBe('no');
    });
  });
});
