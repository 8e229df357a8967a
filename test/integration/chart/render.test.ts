// What `helm template` renders from charts/gochive: original go-chive entries become ArchivePolicies
// field by field, the Deployment is locked down and wired to the operator's flags, RBAC comes from the
// shared rules file, and the optional monitoring and ExternalSecret objects appear when asked for.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { FILTER_MAX_BYTES, filterOfSize } from '../../../operator/api/filter.js';
import { parseOperatorArgs } from '../../../operator/controller/options.js';
import { repoRoot } from '../../support/testenv.js';
import { baseValues, byKind, chartDir, helmTemplate, helmTemplateRaw, one } from './helm.js';

const fixture = (name: string) =>
  parse(readFileSync(path.join(repoRoot, 'test/integration/chart/fixtures', name), 'utf8')) as {
    policies: Array<Record<string, unknown>>;
  };
const original = fixture('original-values.yaml');
const extended = fixture('extended-values.yaml');
const rbacRules = (
  parse(readFileSync(path.join(chartDir, 'files', 'rbac-rules.yaml'), 'utf8')) as { rules: unknown[] }
).rules;
const chartMeta = parse(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string };

function withoutName(entry: Record<string, unknown>): Record<string, unknown> {
  const { name: _name, ...spec } = entry;
  return spec;
}

type Container = {
  args: string[];
  image: string;
  env: Array<{ name: string; value?: string }>;
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  ports: Array<{ name: string; containerPort: number }>;
  volumeMounts: Array<{ name: string; mountPath: string }>;
};
type PodSpec = {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: Array<{ name: string; emptyDir?: { sizeLimit?: string } }>;
};
const podSpec = (d: Record<string, unknown>) => (d.spec as { template: { spec: PodSpec } }).template.spec;

describe('chart: policies', () => {
  test('the seed README entry and the original chart examples become ArchivePolicies field by field', async () => {
    const objs = await helmTemplate({ ...baseValues, ...original }, { namespace: 'archive' });
    const policies = byKind(objs, 'ArchivePolicy');
    expect(policies.map((p) => p.metadata.name)).toEqual(original.policies.map((e) => e.name));
    for (const entry of original.policies) {
      const p = one(objs, 'ArchivePolicy', entry.name as string);
      expect(p.apiVersion).toBe('gochive.io/v1alpha1');
      expect(p.metadata.namespace).toBe('archive');
      // toEqual is type-strict: 92d stays a string, 9 and 65 stay numbers, nothing added or dropped.
      expect(p.spec).toEqual(withoutName(entry));
    }
  });

  test('every extension field reaches the spec unchanged', async () => {
    const objs = await helmTemplate({ ...baseValues, ...extended });
    for (const entry of extended.policies) {
      expect(one(objs, 'ArchivePolicy', entry.name as string).spec).toEqual(withoutName(entry));
    }
  });

  test('no policies: no ArchivePolicy objects, the operator still renders', async () => {
    const objs = await helmTemplate({});
    expect(byKind(objs, 'ArchivePolicy')).toHaveLength(0);
    expect(byKind(objs, 'Deployment')).toHaveLength(1);
  });

  test('duplicate policy names are refused with the index and name', async () => {
    const dup = { ...baseValues, policies: [original.policies[0], original.policies[0]] };
    const r = await helmTemplateRaw(dup);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'policies[1].name: "incubator-offerwall-event-log" is used by more than one policy',
    );
  });

  test.each([
    [9, 9, '(9 = 9s) must be greater than archiveCheckInterval (9 = 9s)'],
    ['1m', 60, '(60 = 60s) must be greater than archiveCheckInterval (1m = 60s)'],
    ['1w2d', '8d23h', '(8d23h = 774000s) must be greater than archiveCheckInterval (1w2d = 777600s)'],
  ])(
    'archiveCheckInterval %p with uploadInterval %p is refused (CEL rule, checked at render time)',
    async (check, upload, says) => {
      const entry = {
        ...original.policies[0],
        archiveCheckInterval: check,
        s3: { bucket: 'archive-bucket/x/', uploadInterval: upload },
      };
      const r = await helmTemplateRaw({ ...baseValues, policies: [original.policies[1], entry] });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`policies[1].s3.uploadInterval ${says}`);
    },
  );

  test('a filter over the size cap is refused at render time, naming the policy, the limit and the fix', async () => {
    const entry = (filter: unknown) => ({ ...original.policies[0], filter });
    const r = await helmTemplateRaw({
      ...baseValues,
      policies: [original.policies[1], entry(filterOfSize(FILTER_MAX_BYTES + 1))],
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `policies[1].filter is ${FILTER_MAX_BYTES + 1} bytes as JSON, more than the ${FILTER_MAX_BYTES} allowed`,
    );
    expect(r.stderr).toContain('select by a field or a range');
    // The largest allowed filter renders, whole.
    const largest = filterOfSize(FILTER_MAX_BYTES);
    const rendered = byKind(
      await helmTemplate({ ...baseValues, policies: [entry(largest)] }),
      'ArchivePolicy',
    );
    expect(rendered).toHaveLength(1);
    expect((rendered[0]!.spec as { filter: unknown }).filter).toEqual(largest);
  });

  test('mixed duration forms that satisfy uploadInterval > archiveCheckInterval render', async () => {
    const entry = {
      ...original.policies[0],
      archiveCheckInterval: '90',
      s3: { bucket: 'archive-bucket/x/', uploadInterval: '1m31s' },
    };
    expect(byKind(await helmTemplate({ ...baseValues, policies: [entry] }), 'ArchivePolicy')).toHaveLength(1);
  });

  test('a hostAddress policy without mongodb.uriTemplate is refused, naming the policy and the fix', async () => {
    const r = await helmTemplateRaw({ policies: [original.policies[0]] });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'policies[0] (incubator-offerwall-event-log) sets hostAddress, so mongodb.uriTemplate must be set',
    );
  });

  test('a uriTemplate with {username} but no credentials Secret is refused', async () => {
    const r = await helmTemplateRaw({
      mongodb: { uriTemplate: baseValues.mongodb.uriTemplate },
      policies: [],
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('mongodb.uriTemplate uses {username}/{password}: set mongodb.existingSecret');
  });
});

describe('chart: operator Deployment', () => {
  test('runs `gochive operator` with the chart settings as flags', async () => {
    const objs = await helmTemplate(
      {
        ...baseValues,
        operator: { logLevel: 'debug', watchNamespaces: ['team-a', 'team-b'], leaseDurationSeconds: 45 },
        terminationGracePeriodSeconds: 30,
        metrics: { port: 9090 },
        spool: { mountPath: '/spool', sizeLimit: '10Gi' },
      },
      { release: 'prod', namespace: 'gochive-system' },
    );
    const deploy = one(objs, 'Deployment');
    expect(deploy.metadata.name).toBe('prod-gochive');
    const c = podSpec(deploy).containers[0]!;
    expect(c.args).toEqual([
      'operator',
      '--spool-dir=/spool',
      '--metrics-bind-address=:9090',
      '--log-level=debug',
      '--lease-duration=45s',
      '--shutdown-grace-period=20s',
      '--namespaces=team-a,team-b',
      '--mongodb-uri-template=mongodb+srv://{username}:{password}@prod-{host}-shard01.example.com/?tls=true',
      '--credentials-secret=gochive-system/gochive-mongodb',
      '--credentials-username-key=username',
      '--credentials-password-key=password',
    ]);
    expect(c.ports).toEqual([{ name: 'http-metrics', containerPort: 9090, protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http-metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http-metrics' });
    expect(c.volumeMounts).toEqual([
      { name: 'spool', mountPath: '/spool' },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    const spool = podSpec(deploy).volumes.find((v) => v.name === 'spool');
    expect(spool?.emptyDir?.sizeLimit).toBe('10Gi');
    expect(podSpec(deploy).volumes.find((v) => v.name === 'tmp')?.emptyDir).toBeDefined();
  });

  test("the operator's own flag parser accepts the rendered args and reads the chart settings back", async () => {
    const deploy = one(
      await helmTemplate(
        {
          ...baseValues,
          operator: { logLevel: 'warn', watchNamespaces: ['team-a'], leaseDurationSeconds: 20 },
          metrics: { port: 9102 },
        },
        { namespace: 'ops' },
      ),
      'Deployment',
    );
    const [command, ...flags] = podSpec(deploy).containers[0]!.args;
    expect(command).toBe('operator');
    const parsed = parseOperatorArgs(
      flags,
      { POD_NAME: 'gochive-abc', POD_NAMESPACE: 'ops' },
      () => undefined,
    );
    if (!parsed.ok)
      throw new Error(`operator refused the chart's args: ${'message' in parsed ? parsed.message : 'help'}`);
    expect(parsed.options).toMatchObject({
      namespaces: ['team-a'],
      leaseNamespace: 'ops',
      spoolDir: '/var/spool/gochive',
      mongodbUriTemplate: baseValues.mongodb.uriTemplate,
      credentialsSecret: { namespace: 'ops', name: 'gochive-mongodb' },
      credentialsUsernameKey: 'username',
      credentialsPasswordKey: 'password',
      leaseDurationMs: 20_000,
      metricsBindAddress: ':9102',
      logLevel: 'warn',
      shutdownGracePeriodMs: 50_000,
    });
    expect(parsed.options.identity).toMatch(/^gochive-abc-/);
  });

  test('is non-root with a read-only root filesystem, no capabilities and the default seccomp profile', async () => {
    const deploy = one(await helmTemplate({}), 'Deployment');
    const pod = podSpec(deploy);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.containers[0]!.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.containers[0]!.image).toBe(`ghcr.io/gochive/gochive:${chartMeta.appVersion}`);
    // Without a URI template or Secret, no connection flags are passed at all.
    expect(
      pod.containers[0]!.args.some(
        (a) => a.startsWith('--mongodb-uri-template') || a.startsWith('--credentials-secret'),
      ),
    ).toBe(false);
    expect(pod.containers[0]!.args.some((a) => a.startsWith('--namespaces'))).toBe(false);
  });

  test('image digest wins over the tag; AWS region becomes AWS_REGION', async () => {
    const deploy = one(
      await helmTemplate({
        image: {
          repository: 'registry.example.com/gochive',
          tag: '9.9.9',
          digest: 'sha256:' + 'a'.repeat(64),
        },
        aws: { region: 'ap-northeast-2' },
      }),
      'Deployment',
    );
    const c = podSpec(deploy).containers[0]!;
    expect(c.image).toBe(`registry.example.com/gochive@sha256:${'a'.repeat(64)}`);
    expect(c.env).toContainEqual({ name: 'AWS_REGION', value: 'ap-northeast-2' });
  });

  test('the ServiceAccount carries IRSA annotations and is the one the pods use', async () => {
    const roleArn = 'arn:aws:iam::123456789012:role/gochive-archive';
    const objs = await helmTemplate({
      serviceAccount: { annotations: { 'eks.amazonaws.com/role-arn': roleArn } },
    });
    const sa = one(objs, 'ServiceAccount');
    expect(sa.metadata.annotations).toEqual({ 'eks.amazonaws.com/role-arn': roleArn });
    expect(podSpec(one(objs, 'Deployment')).serviceAccountName).toBe(sa.metadata.name);
  });

  test('metrics Service targets the metrics port of the operator pods', async () => {
    const objs = await helmTemplate({});
    const svc = one(objs, 'Service');
    const spec = svc.spec as { selector: Record<string, string>; ports: Array<{ targetPort: string }> };
    expect(spec.ports[0]!.targetPort).toBe('http-metrics');
    const podLabels = (
      one(objs, 'Deployment').spec as { template: { metadata: { labels: Record<string, string> } } }
    ).template.metadata.labels;
    for (const [k, v] of Object.entries(spec.selector)) expect(podLabels[k]).toBe(v);
  });
});

describe('chart: RBAC', () => {
  test('cluster-wide by default, with exactly the rules of files/rbac-rules.yaml', async () => {
    const objs = await helmTemplate({}, { release: 'r1', namespace: 'ops' });
    expect(byKind(objs, 'Role')).toHaveLength(0);
    expect(one(objs, 'ClusterRole').rules).toEqual(rbacRules);
    const binding = one(objs, 'ClusterRoleBinding');
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'r1-gochive',
    });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'r1-gochive', namespace: 'ops' }]);
  });

  test('with watchNamespaces: a Role and RoleBinding in each watched namespace and the release namespace', async () => {
    const objs = await helmTemplate(
      { operator: { watchNamespaces: ['team-a', 'ops', 'team-b'] } },
      { release: 'r1', namespace: 'ops' },
    );
    expect(byKind(objs, 'ClusterRole')).toHaveLength(0);
    expect(byKind(objs, 'ClusterRoleBinding')).toHaveLength(0);
    const roles = byKind(objs, 'Role');
    expect(roles.map((r) => r.metadata.namespace).sort()).toEqual(['ops', 'team-a', 'team-b']);
    for (const r of roles) expect(r.rules).toEqual(rbacRules);
    for (const b of byKind(objs, 'RoleBinding')) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'r1-gochive', namespace: 'ops' }]);
      expect(b.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r1-gochive' });
    }
  });

  test('rbac.create=false and serviceAccount.create=false render neither', async () => {
    const objs = await helmTemplate({
      rbac: { create: false },
      serviceAccount: { create: false, name: 'existing-sa' },
    });
    for (const k of ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ServiceAccount'])
      expect(byKind(objs, k)).toHaveLength(0);
    expect(podSpec(one(objs, 'Deployment')).serviceAccountName).toBe('existing-sa');
  });
});

describe('chart: PodDisruptionBudget', () => {
  test('none with one replica (the default): a budget could only block drains or allow everything', async () => {
    expect(byKind(await helmTemplate({}), 'PodDisruptionBudget')).toHaveLength(0);
    expect(byKind(await helmTemplate({ replicaCount: 1 }), 'PodDisruptionBudget')).toHaveLength(0);
  });

  test('with more than one replica: at most one operator pod down at a time, selecting exactly its pods', async () => {
    const objs = await helmTemplate({ replicaCount: 3 }, { namespace: 'gochive-system' });
    const pdb = one(objs, 'PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.metadata.namespace).toBe('gochive-system');
    const spec = pdb.spec as { maxUnavailable: unknown; selector: { matchLabels: Record<string, string> } };
    expect(spec.maxUnavailable).toBe(1);
    const deployment = one(objs, 'Deployment').spec as {
      selector: { matchLabels: Record<string, string> };
      template: { metadata: { labels: Record<string, string> } };
    };
    expect(spec.selector.matchLabels).toEqual(deployment.selector.matchLabels);
    for (const [k, v] of Object.entries(spec.selector.matchLabels))
      expect(deployment.template.metadata.labels[k]).toBe(v);
  });

  test('maxUnavailable as a percentage; podDisruptionBudget.enabled=false renders none', async () => {
    const pct = await helmTemplate({ replicaCount: 4, podDisruptionBudget: { maxUnavailable: '50%' } });
    expect((one(pct, 'PodDisruptionBudget').spec as { maxUnavailable: unknown }).maxUnavailable).toBe('50%');
    const off = await helmTemplate({ replicaCount: 2, podDisruptionBudget: { enabled: false } });
    expect(byKind(off, 'PodDisruptionBudget')).toHaveLength(0);
  });
});

describe('chart: monitoring and ExternalSecret', () => {
  test('off by default', async () => {
    const objs = await helmTemplate({});
    for (const k of ['ServiceMonitor', 'PrometheusRule', 'ExternalSecret'])
      expect(byKind(objs, k)).toHaveLength(0);
  });

  test('ServiceMonitor scrapes the metrics Service and keeps the policy namespace label', async () => {
    const objs = await helmTemplate({
      metrics: { serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus' } } },
    });
    const sm = one(objs, 'ServiceMonitor');
    expect(sm.metadata.labels?.release).toBe('kube-prometheus');
    const spec = sm.spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: Array<Record<string, unknown>>;
    };
    const svcLabels = one(objs, 'Service').metadata.labels!;
    for (const [k, v] of Object.entries(spec.selector.matchLabels)) expect(svcLabels[k]).toBe(v);
    expect(spec.endpoints[0]).toMatchObject({ port: 'http-metrics', path: '/metrics', honorLabels: true });
  });

  test('PrometheusRule: per-policy no-recent-success at N x uploadInterval, other policies, Failed, Blocked', async () => {
    type Rule = { alert: string; expr: string; for: string; labels: Record<string, string> };
    const objs = await helmTemplate(
      {
        ...baseValues,
        ...original,
        metrics: {
          prometheusRule: { enabled: true, noSuccessIntervals: 7, for: '20m', severity: 'critical' },
        },
      },
      { namespace: 'db' },
    );
    const rules = (one(objs, 'PrometheusRule').spec as { groups: Array<{ rules: Rule[] }> }).groups[0]!.rules;
    expect(rules.map((r) => r.alert)).toEqual([
      ...original.policies.map(() => 'GochiveNoRecentSuccess'),
      'GochiveNoRecentSuccess',
      'GochiveNoSuccessSinceStart',
      'GochivePolicyFailed',
      'GochivePolicyBlocked',
    ]);
    // The seed entry uploads every 65 s: 7 x 65 = 455 s, and only while the worker has a backlog.
    const seed = rules[0]!;
    expect(seed.expr).toContain(
      'time() - max by (namespace, policy) (gochive_last_success_timestamp_seconds{namespace="db", policy="incubator-offerwall-event-log"}) > 455',
    );
    expect(seed.expr).toContain(
      'gochive_worker_state{namespace="db", policy="incubator-offerwall-event-log", state="Archiving"}',
    );
    expect(rules[1]!.expr).toContain('> 840'); // alwayz-user-action-log: 7 x 120
    // Policies outside the chart get the fixed limit, excluding the chart's own.
    const others = rules[original.policies.length]!;
    expect(others.expr).toContain('> 21600');
    expect(others.expr).toContain(
      'unless on (namespace, policy)\ngochive_last_success_timestamp_seconds{namespace="db", policy=~"incubator-offerwall-event-log|alwayz-user-action-log|alwayz-push-send-log"}',
    );
    // By phase, not worker state: a policy with an invalid spec or a missing Secret has no worker.
    expect(rules.at(-2)!.expr).toBe('max by (namespace, policy) (gochive_policy_phase{phase="Failed"}) == 1');
    expect(rules.at(-1)!.expr).toBe(
      'max by (namespace, policy) (gochive_policy_phase{phase="Blocked"}) == 1',
    );
    for (const r of rules) expect(r.labels).toEqual({ severity: 'critical' });
    for (const r of rules.filter((x) => x.alert !== 'GochiveNoSuccessSinceStart')) expect(r.for).toBe('20m');
  });

  test('ExternalSecret fills the credentials Secret the operator is pointed at', async () => {
    const objs = await helmTemplate(
      {
        mongodb: {
          uriTemplate: baseValues.mongodb.uriTemplate,
          externalSecret: {
            enabled: true,
            secretStoreRef: { name: 'aws-secrets-manager' },
            remoteKey: 'prod/mongodb/archiver',
          },
        },
      },
      { release: 'prod', namespace: 'db' },
    );
    const es = one(objs, 'ExternalSecret');
    expect(es.apiVersion).toBe('external-secrets.io/v1beta1');
    expect(es.spec).toEqual({
      refreshInterval: '1h',
      secretStoreRef: { kind: 'ClusterSecretStore', name: 'aws-secrets-manager' },
      target: { name: 'prod-gochive-mongodb', creationPolicy: 'Owner' },
      data: [
        { secretKey: 'username', remoteRef: { key: 'prod/mongodb/archiver', property: 'username' } },
        { secretKey: 'password', remoteRef: { key: 'prod/mongodb/archiver', property: 'password' } },
      ],
    });
    expect(podSpec(one(objs, 'Deployment')).containers[0]!.args).toContain(
      '--credentials-secret=db/prod-gochive-mongodb',
    );
  });
});
