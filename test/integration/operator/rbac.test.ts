// RBAC: the operator runs with a ServiceAccount token bound to exactly the Role the Helm chart renders
// from charts/gochive/files/rbac-rules.yaml, does its whole job with it, and everything else that
// ServiceAccount might try is refused by the API server.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { serviceAccountKubeConfig } from '../../support/kube.js';
import { repoRoot, testEnv, uniqueName } from '../../support/testenv.js';
import {
  apply,
  condition,
  ensureCrd,
  getPolicy,
  kubectl,
  OperatorProcess,
  waitFor,
  writeKubeconfig,
} from './harness.js';
import { policyManifest, policySpec, sandbox, seed, type Sandbox } from './fixtures.js';

function helm(args: string[]): Promise<string> {
  const env = testEnv();
  return new Promise((resolve, reject) =>
    execFile(
      'helm',
      args,
      { env: { ...process.env, PATH: env.path, KUBECONFIG: env.kubeconfig }, maxBuffer: 16 << 20 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`helm ${args.join(' ')}: ${stderr}`)) : resolve(stdout),
    ),
  );
}

describe('operator RBAC: exactly the chart rules', () => {
  let sb: Sandbox;
  let op: OperatorProcess | undefined;
  let outsider: OperatorProcess | undefined;
  let saKubeconfig: string;
  let saName: string;
  const release = uniqueName('r').slice(0, 20);

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-rbac');
    // What the chart ships, rendered for a release in the sandbox namespace that watches it.
    const rendered = await helm([
      'template',
      release,
      path.join(repoRoot, 'charts', 'gochive'),
      '-n',
      sb.namespace,
      '--set',
      `operator.watchNamespaces[0]=${sb.namespace}`,
      '--show-only',
      'templates/rbac.yaml',
      '--show-only',
      'templates/serviceaccount.yaml',
    ]);
    const objs = parseAllDocuments(rendered)
      .map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } } | null)
      .filter((o): o is { kind: string; metadata: { name: string; namespace?: string } } => !!o);
    expect(objs.map((o) => o.kind).sort()).toEqual(['Role', 'RoleBinding', 'ServiceAccount']);
    await apply(objs);
    saName = objs.find((o) => o.kind === 'ServiceAccount')!.metadata.name;
    saKubeconfig = writeKubeconfig(await serviceAccountKubeConfig(sb.namespace, saName));
  });

  afterAll(async () => {
    await op?.stop();
    await outsider?.stop();
    await sb?.cleanup();
  });

  test('the operator does its whole job with the chart rules only', async () => {
    await seed(sb.db, 'events', 80, 40);
    op = await OperatorProcess.start({
      name: 'rbac',
      kubeconfig: saKubeconfig,
      args: [...sb.operatorArgs, '--lease-duration=6s'],
    });
    await waitFor('/readyz', async () => (await op!.http('/readyz')).status === 200, 30_000);
    await apply(policyManifest(sb.namespace, 'rbac-policy', policySpec(sb)));
    const p = await waitFor(
      'the policy to be archived (status patched, events created, leases held: all as the ServiceAccount)',
      async () => {
        const x = await getPolicy(sb.namespace, 'rbac-policy');
        return x?.status?.phase === 'Idle' && x.status.totals?.documentsDeleted === 80 ? x : undefined;
      },
      120_000,
      500,
    );
    expect(condition(p, 'Ready')?.status).toBe('True');
    // A spec edit moves the resourceVersion under the status writer: its next conditional write gets
    // 409 and must re-read the status (get on archivepolicies/status) — it used to retry forever.
    await apply(policyManifest(sb.namespace, 'rbac-policy', policySpec(sb, { queryLimit: 50 })));
    await waitFor(
      'the status of generation 2 after a conflicting write',
      async () => (await getPolicy(sb.namespace, 'rbac-policy'))?.status?.observedGeneration === 2,
      60_000,
      500,
    );
    const events = await kubectl([
      'get',
      'events.v1.events.k8s.io',
      '-n',
      sb.namespace,
      '-o',
      'jsonpath={.items[*].reason}',
    ]);
    expect(events.stdout).toContain('BundleUploaded');
    const leases = await kubectl([
      'get',
      'leases',
      '-n',
      sb.namespace,
      '-o',
      'jsonpath={.items[*].spec.holderIdentity}',
    ]);
    expect(leases.stdout).toMatch(/\S/);
    // No request of the operator was refused.
    expect(op.logText()).not.toMatch(/forbidden|\b403\b/i);
  }, 300_000);

  test('everything else is refused for that ServiceAccount', async () => {
    const as = (args: string[], input?: string) =>
      kubectl(args, { kubeconfig: saKubeconfig, ...(input ? { input } : {}) });
    const refused: Array<[string, string[], string?]> = [
      [
        'change a policy spec',
        [
          'patch',
          'archivepolicy',
          'rbac-policy',
          '-n',
          sb.namespace,
          '--type=merge',
          '-p',
          '{"spec":{"suspend":true}}',
        ],
      ],
      ['delete a policy', ['delete', 'archivepolicy', 'rbac-policy', '-n', sb.namespace]],
      [
        'create a policy',
        ['create', '-f', '-'],
        JSON.stringify(policyManifest(sb.namespace, 'evil', policySpec(sb))),
      ],
      [
        'read a single policy (only list/watch are granted)',
        ['get', 'archivepolicy', 'rbac-policy', '-n', sb.namespace],
      ],
      ['create a Secret', ['create', 'secret', 'generic', 'evil', '-n', sb.namespace, '--from-literal=a=b']],
      [
        'change a Secret',
        [
          'patch',
          'secret',
          'mongo-credentials',
          '-n',
          sb.namespace,
          '--type=merge',
          '-p',
          '{"stringData":{"password":"x"}}',
        ],
      ],
      ['delete a Secret', ['delete', 'secret', 'mongo-credentials', '-n', sb.namespace]],
      ['read Secrets of another namespace', ['get', 'secrets', '-n', 'default']],
      ['list policies in all namespaces', ['get', 'archivepolicies', '--all-namespaces']],
      ['touch Leases of another namespace', ['get', 'leases', '-n', 'kube-system']],
      [
        'patch a Lease (only update is granted)',
        ['patch', 'lease', `gochive-replica-x`, '-n', sb.namespace, '--type=merge', '-p', '{"spec":{}}'],
      ],
      ['delete Events', ['delete', 'events.v1.events.k8s.io', '--all', '-n', sb.namespace]],
      ['read ConfigMaps', ['get', 'configmaps', '-n', sb.namespace]],
      ['read Pods', ['get', 'pods', '-n', sb.namespace]],
      ['create Pods', ['run', 'evil', '--image=busybox', '-n', sb.namespace]],
      ['read Nodes', ['get', 'nodes']],
      ['read Namespaces', ['get', 'namespaces']],
      [
        'change RBAC',
        [
          'create',
          'rolebinding',
          'evil',
          '--clusterrole=cluster-admin',
          `--serviceaccount=${sb.namespace}:${saName}`,
          '-n',
          sb.namespace,
        ],
      ],
    ];
    for (const [what, args, input] of refused) {
      const r = await as(args, input);
      expect({ what, code: r.code === 0 ? 0 : 'refused', forbidden: /forbidden/i.test(r.stderr) }).toEqual({
        what,
        code: 'refused',
        forbidden: true,
      });
    }
    // And what the operator needs is allowed (sanity check of the test itself).
    expect((await as(['get', 'archivepolicies', '-n', sb.namespace])).code).toBe(0);
    expect((await as(['get', 'leases', '-n', sb.namespace])).code).toBe(0);
  }, 120_000);

  test('an operator pointed at a namespace the rules do not cover is refused and never becomes ready', async () => {
    outsider = await OperatorProcess.start({
      name: 'rbac-outside',
      kubeconfig: saKubeconfig,
      args: [
        ...sb.operatorArgs.filter((a) => !a.startsWith('--namespaces=')),
        '--namespaces=default',
        '--identity=outsider',
      ],
    });
    await outsider.waitForLog(
      'a refused list',
      (l) => l.msg === 'list/watch failed; retrying' && /403|forbidden/i.test(String(l.err)),
      30_000,
    );
    const ready = await outsider.http('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatch(/waiting for caches: .*default/);
    // It holds nothing and runs nothing.
    expect(await outsider.runningPolicies()).toEqual(new Set());
  }, 120_000);
});
