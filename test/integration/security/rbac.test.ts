// Least privilege: every permission the chart grants the operator must appear in the table below with a
// one-line reason. The test renders the chart (cluster-wide and per-namespace), expands every
// ClusterRole/Role rule into (apiGroup, resource, verb) triples, and fails on anything not in the table —
// a `*`, a nonResourceURL, pods/exec, a new write verb — and on bindings to anything but the chart's own
// ServiceAccount. It then installs the rendered RBAC on the real API server and asks it (`kubectl auth
// can-i --list` as that ServiceAccount) what is effectively granted, so what is checked is what counts.
import { parseAllDocuments } from 'yaml';
import { uniqueName } from '../../support/testenv.js';
import { chartDir, helm, kubectl, mustKubectl } from '../badinput/harness.js';

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { apiGroup: string; kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string; apiGroup?: string }[];
}

/**
 * Everything the operator may be granted, as `group/resource` -> verb -> why. The operator's API calls
 * (operator/controller: informers list+watch, status-writer PATCH and GET /status after a conflict, events
 * POST/PATCH, leases POST/PUT/DELETE)
 * fix this table; `get` beside list and `update` beside patch add no power the other verb does not have.
 */
const ALLOWED: Record<string, Record<string, string>> = {
  'gochive.io/archivepolicies': {
    list: 'the policy informer lists ArchivePolicies in the watched namespaces',
    watch: 'the policy informer watches them (level-based reconcile)',
    get: 'read one policy; reveals nothing list does not',
  },
  'gochive.io/archivepolicies/status': {
    patch: 'the status writer merge-patches progress through the status subresource',
    update: 'same power as patch on the same subresource',
    get: 'the status writer and the journal sweep re-read the status after a 409 Conflict (resourceVersion-guarded writes)',
  },
  '/secrets': {
    // Cluster-wide only when operator.watchNamespaces is empty (then Roles per namespace instead).
    get: 'read the Secret a policy names (uriSecretRef, s3.credentialsSecretRef) and the MongoDB credentials Secret',
    list: 'the per-Secret informer lists with fieldSelector metadata.name=<the referenced Secret>, never all Secrets',
    watch: 'the same informer watches that one Secret so a rotated password restarts the worker',
  },
  'events.k8s.io/events': {
    create: 'Events for bundles uploaded, deletes done and failures',
    patch: 'repeated Events only bump their series count (events.k8s.io aggregation)',
  },
  'coordination.k8s.io/leases': {
    list: 'the lease informer sees which replica holds each policy (invariant I6)',
    watch: 'the lease informer follows takeovers',
    get: 'read one Lease; reveals nothing list does not',
    create: 'take a policy by creating its Lease',
    update: 'renew, take over an expired Lease, release on shutdown',
    patch: 'same power as update on the same Lease',
    delete: 'remove the Lease of a policy that was deleted',
  },
};

/** Verbs and resources that must never appear, whatever the table says (a guard against editing it). */
const NEVER = {
  verbs: ['*', 'escalate', 'bind', 'impersonate', 'deletecollection'],
  resources: [
    '*',
    'pods/exec',
    'pods/attach',
    'pods/portforward',
    'nodes/proxy',
    'serviceaccounts/token',
    'clusterroles',
    'clusterrolebindings',
    'roles',
    'rolebindings',
  ],
};

async function render(values: unknown, release = 'gochive', namespace = 'gochive'): Promise<K8sObject[]> {
  const r = await helm(
    ['template', release, chartDir, '--namespace', namespace, '-f', '-'],
    JSON.stringify(values),
  );
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** Every (group/resource, verb) a rule grants, as `group/resource verb` strings. */
function grants(rules: Rule[]): string[] {
  const out: string[] = [];
  for (const r of rules) {
    if (r.nonResourceURLs?.length)
      out.push(`nonResourceURLs:${r.nonResourceURLs.join(',')} ${r.verbs.join(',')}`);
    for (const g of r.apiGroups ?? [''])
      for (const res of r.resources ?? []) for (const v of r.verbs) out.push(`${g}/${res} ${v}`);
  }
  return out;
}

function unjustified(rules: Rule[]): string[] {
  return grants(rules).filter((gv) => {
    const [gr, verb] = gv.split(' ') as [string, string];
    return !ALLOWED[gr]?.[verb];
  });
}

const values = {
  mongodb: {
    uriTemplate: 'mongodb://{username}:{password}@{host}:27017/',
    existingSecret: 'gochive-mongodb',
  },
};

describe('chart RBAC is least-privilege', () => {
  test('the table itself grants nothing on the never-list', () => {
    for (const [gr, verbs] of Object.entries(ALLOWED)) {
      expect(NEVER.resources).not.toContain(gr.split('/').slice(1).join('/'));
      for (const v of Object.keys(verbs)) expect(NEVER.verbs).not.toContain(v);
    }
  });

  test('cluster-wide install: the ClusterRole grants only what the table justifies, bound to the chart SA only', async () => {
    const objs = await render(values, 'gochive', 'archive');
    const roles = objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
    expect(roles.map((r) => r.kind)).toEqual(['ClusterRole']);
    const rules = roles[0]!.rules!;
    expect(rules.some((r) => r.nonResourceURLs?.length)).toBe(false);
    for (const r of rules) {
      for (const v of r.verbs) expect(NEVER.verbs).not.toContain(v);
      for (const res of r.resources ?? []) expect(NEVER.resources).not.toContain(res);
      for (const g of r.apiGroups ?? []) expect(g).not.toBe('*');
    }
    expect(unjustified(rules)).toEqual([]);

    const bindings = objs.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding');
    expect(bindings).toHaveLength(1);
    const sa = objs.find((o) => o.kind === 'ServiceAccount')!;
    expect(bindings[0]!.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: roles[0]!.metadata.name,
    });
    expect(bindings[0]!.subjects).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'archive' },
    ]);
  });

  test('with watchNamespaces: only namespaced Roles (no cluster-wide Secret access), in exactly those namespaces', async () => {
    const objs = await render(
      { ...values, operator: { watchNamespaces: ['team-a', 'team-b'] } },
      'gochive',
      'archive',
    );
    expect(objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
    const roles = objs.filter((o) => o.kind === 'Role');
    expect(roles.map((r) => r.metadata.namespace).sort()).toEqual(['archive', 'team-a', 'team-b']);
    for (const r of roles) expect(unjustified(r.rules!)).toEqual([]);
    for (const b of objs.filter((o) => o.kind === 'RoleBinding')) {
      expect(b.roleRef!.kind).toBe('Role');
      expect(b.subjects).toHaveLength(1);
      expect(b.subjects![0]).toMatchObject({ kind: 'ServiceAccount', namespace: 'archive' });
    }
  });

  test('rbac.create=false grants nothing', async () => {
    const objs = await render({ ...values, rbac: { create: false } });
    expect(objs.filter((o) => /Role/.test(o.kind))).toEqual([]);
  });

  test('on the API server, the ServiceAccount can do exactly the justified things and nothing more', async () => {
    const ns = uniqueName('sec-rbac');
    const release = uniqueName('r').slice(0, 20);
    const objs = await render(values, release, ns);
    const rbac = objs.filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind));
    const sa = rbac.find((o) => o.kind === 'ServiceAccount')!.metadata.name;
    const other = uniqueName('other');
    await mustKubectl(['create', 'namespace', ns]);
    await mustKubectl(['create', 'namespace', other]);
    try {
      await mustKubectl(['apply', '-f', '-'], rbac.map((o) => JSON.stringify(o)).join('\n'));
      // A ServiceAccount with no bindings: what every authenticated identity may do (discovery, reviews).
      await mustKubectl(['create', 'serviceaccount', 'baseline', '-n', ns]);
      // What `kubectl auth can-i --list` asks: a SelfSubjectRulesReview, made as (impersonating) the SA.
      const canI = async (who: string, where: string): Promise<Set<string>> => {
        const review = {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectRulesReview',
          spec: { namespace: where },
        };
        const out = await mustKubectl(
          ['create', '--validate=false', '-f', '-', `--as=system:serviceaccount:${ns}:${who}`, '-o', 'json'],
          JSON.stringify(review),
        );
        const parsed = JSON.parse(out) as { status?: { resourceRules?: Rule[] } };
        return new Set(grants(parsed.status?.resourceRules ?? []));
      };
      for (const where of [ns, other]) {
        const baseline = await canI('baseline', where);
        const effective = [...(await canI(sa, where))].filter((g) => !baseline.has(g));
        const extra = effective.filter((gv) => {
          const [gr, verb] = gv.split(' ') as [string, string];
          return !ALLOWED[gr]?.[verb];
        });
        expect({ namespace: where === ns ? 'release' : 'other', extra }).toEqual({
          namespace: where === ns ? 'release' : 'other',
          extra: [],
        });
        // And it really has what it needs (the table is not just a wish list).
        expect(effective).toEqual(
          expect.arrayContaining([
            'gochive.io/archivepolicies watch',
            'gochive.io/archivepolicies/status patch',
            'gochive.io/archivepolicies/status get',
            'coordination.k8s.io/leases create',
          ]),
        );
      }
      // Spot checks of what must be denied.
      for (const [verb, res] of [
        ['create', 'pods/exec'],
        ['delete', 'archivepolicies.gochive.io'],
        ['update', 'archivepolicies.gochive.io'],
        ['create', 'secrets'],
        ['delete', 'secrets'],
        ['create', 'clusterrolebindings'],
        ['impersonate', 'serviceaccounts'],
      ] as const) {
        const r = await kubectl([
          'auth',
          'can-i',
          verb,
          res,
          `--as=system:serviceaccount:${ns}:${sa}`,
          '-n',
          other,
        ]);
        expect(`${verb} ${res}: ${r.stdout.trim()}`).toBe(`${verb} ${res}: no`);
      }
    } finally {
      for (const o of rbac.filter((x) => x.kind.startsWith('Cluster')))
        await kubectl(['delete', o.kind, o.metadata.name, '--ignore-not-found', '--wait=false']);
      await kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
      await kubectl(['delete', 'namespace', other, '--ignore-not-found', '--wait=false']);
    }
  });
});
