// `gochive archive -f FILE`: the shapes a policy file may take, and errors that point at the entry.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadPolicyFile } from './policy-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gochive-pf-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ENTRY = `
  - name: incubator-offerwall-event-log
    hostAddress: "incubator"
    ageLimit: 92d
    queryLimit: 2000
    archiveCheckInterval: 9
    collection: offerwall_event_log
    database: ALWAYZ
    archiveField: createdAt
    s3:
      bucket: levit-database-archive-prod/incubator/offerwall_event_log/
      uploadInterval: 65
`;

async function file(name: string, text: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, text);
  return p;
}

test("the original values file (policies:) and the chart's uriTemplate", async () => {
  const f = await file(
    'values.yaml',
    `mongodb:\n  uriTemplate: "mongodb://{username}:{password}@{host}:27017/"\npolicies:${ENTRY}`,
  );
  const r = await loadPolicyFile(f, 'default');
  expect(r.uriTemplate).toBe('mongodb://{username}:{password}@{host}:27017/');
  expect(r.policies).toHaveLength(1);
  expect(r.policies[0]).toMatchObject({
    name: 'incubator-offerwall-event-log',
    namespace: 'default',
    spec: { queryLimit: 2000, hostAddress: 'incubator' },
  });
});

test('a bare list, a single entry, and ArchivePolicy manifests in several YAML documents', async () => {
  expect((await loadPolicyFile(await file('list.yaml', ENTRY), 'ns')).policies).toHaveLength(1);
  const single = ENTRY.replace(/\n {2}- /, '\n').replace(/\n {4}/g, '\n');
  expect((await loadPolicyFile(await file('single.yaml', single), 'ns')).policies[0]!.name).toBe(
    'incubator-offerwall-event-log',
  );
  const manifest = (name: string, ns?: string) => `apiVersion: gochive.io/v1alpha1
kind: ArchivePolicy
metadata:
  name: ${name}
${ns ? `  namespace: ${ns}\n` : ''}spec:
  hostAddress: incubator
  ageLimit: 92d
  archiveCheckInterval: 9
  collection: c
  database: d
  archiveField: createdAt
  s3: { bucket: my-bucket/x/, uploadInterval: 65 }
`;
  const r = await loadPolicyFile(
    await file('m.yaml', `${manifest('a', 'team')}---\n${manifest('b')}`),
    'default',
  );
  expect(r.policies.map((p) => `${p.namespace}/${p.name}`)).toEqual(['team/a', 'default/b']);
});

test('errors name the file, the entry and the field', async () => {
  const bad = await file('bad.yaml', `policies:${ENTRY.replace('uploadInterval: 65', 'uploadInterval: 5')}`);
  await expect(loadPolicyFile(bad, 'default')).rejects.toThrow(
    /bad\.yaml: policies\[0\]: invalid policy entry:\n {2}- s3\.uploadInterval: must be greater than archiveCheckInterval/,
  );
  await expect(loadPolicyFile(await file('empty.yaml', ''), 'default')).rejects.toThrow(/no policies found/);
  await expect(loadPolicyFile(path.join(dir, 'missing.yaml'), 'default')).rejects.toThrow(
    /cannot read the file \(ENOENT\)/,
  );
  const dup = await file('dup.yaml', `policies:${ENTRY}${ENTRY}`);
  await expect(loadPolicyFile(dup, 'default')).rejects.toThrow(/appears twice/);
});

test('file:// destinations are allowed (the user runs gochive archive on their own machine); system databases are not', async () => {
  const manifest = (db: string, bucket: string) =>
    `apiVersion: gochive.io/v1alpha1\nkind: ArchivePolicy\nmetadata: {name: p1}\nspec:\n  hostAddress: x\n  ageLimit: 92d\n  archiveCheckInterval: 9\n  collection: c\n  database: ${db}\n  archiveField: createdAt\n  s3: {bucket: "${bucket}", uploadInterval: 65}\n`;
  const local = await loadPolicyFile(
    await file('local.yaml', manifest('app', 'file:///var/lib/gochive')),
    'ns',
  );
  expect(local.policies[0]!.spec.s3.bucket).toBe('file:///var/lib/gochive');
  const entry = ENTRY.replace(
    'levit-database-archive-prod/incubator/offerwall_event_log/',
    'file:///srv/archive',
  );
  expect((await loadPolicyFile(await file('entry.yaml', entry), 'ns')).policies).toHaveLength(1);

  const admin = await file('admin.yaml', manifest('admin', 'file:///var/lib/gochive'));
  await expect(loadPolicyFile(admin, 'ns')).rejects.toThrow(
    /spec\.database: "admin" is a MongoDB system database; gochive never archives from/,
  );
  const local2 = await file('localdb.yaml', ENTRY.replace('database: ALWAYZ', 'database: local'));
  await expect(loadPolicyFile(local2, 'ns')).rejects.toThrow(
    /database: "local" is a MongoDB system database/,
  );
});
