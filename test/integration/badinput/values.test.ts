// Bad-input corpus, part 2: hostile and malformed Helm values through the real `helm template` and the
// chart's values.schema.json (generated from the same zod schema as the CRD). Each is refused before
// anything renders, with a message that names the offending value's path, and nothing is printed on stdout.
// Values go in as JSON on stdin, so every value keeps its exact type.
import { helm, chartDir } from './harness.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Draft = Record<string, any>;

const base = {
  mongodb: {
    uriTemplate: 'mongodb+srv://{username}:{password}@prod-{host}-shard01.example.com/?tls=true',
    existingSecret: 'gochive-mongodb',
  },
};

/** The seed README's entry (SPEC §2). */
const seedEntry = {
  name: 'incubator-offerwall-event-log',
  hostAddress: 'incubator',
  ageLimit: '92d',
  queryLimit: 2000,
  archiveCheckInterval: 9,
  collection: 'offerwall_event_log',
  database: 'ALWAYZ',
  archiveField: 'createdAt',
  s3: { bucket: 'levit-database-archive-prod/incubator/offerwall_event_log/', uploadInterval: 65 },
};

/** Values with one policy: the seed entry changed by `change`. */
function policy(change: (e: Draft) => void): Draft {
  const e = structuredClone(seedEntry) as Draft;
  change(e);
  return { ...base, policies: [e] };
}

async function template(values: unknown) {
  return helm(['template', 'gochive', chartDir, '--namespace', 'gochive', '-f', '-'], JSON.stringify(values));
}

interface Case {
  what: string;
  values: Draft;
  /** Where helm must say the problem is: a JSON pointer in the schema error, or a path in the chart's own check. */
  at: string;
  says: RegExp;
}

const SCHEMA = "values don't meet the specifications of the schema";

const cases: Case[] = [
  // ---- wrong types
  {
    what: 'ageLimit as a boolean',
    values: policy((e) => (e.ageLimit = true)),
    at: "'/policies/0/ageLimit'",
    says: /got boolean/,
  },
  {
    what: 'archiveCheckInterval as a list',
    values: policy((e) => (e.archiveCheckInterval = [9])),
    at: "'/policies/0/archiveCheckInterval'",
    says: /got array/,
  },
  {
    what: 'queryLimit as a fraction',
    values: policy((e) => (e.queryLimit = 2.5)),
    at: "'/policies/0/queryLimit'",
    says: /got number, want integer/,
  },
  {
    what: 'suspend as the string "yes"',
    values: policy((e) => (e.suspend = 'yes')),
    at: "'/policies/0/suspend'",
    says: /got string, want boolean/,
  },
  {
    what: 'filter as a string of JavaScript',
    values: policy((e) => (e.filter = 'function() { return true }')),
    at: "'/policies/0/filter'",
    says: /got string, want object/,
  },
  {
    what: 's3 as a string',
    values: policy((e) => (e.s3 = 'levit-archive/x/')),
    at: "'/policies/0/s3'",
    says: /got string, want object/,
  },
  {
    what: 'policies as a mapping',
    values: { ...base, policies: { a: seedEntry } },
    at: "'/policies'",
    says: /got object, want array/,
  },
  {
    what: 'a policy entry that is a string',
    values: { ...base, policies: ['incubator'] },
    at: "'/policies/0'",
    says: /got string, want object/,
  },
  {
    what: 'replicaCount as a string',
    values: { ...base, replicaCount: '2' },
    at: "'/replicaCount'",
    says: /got string, want integer/,
  },
  // ---- zero, negative, too big
  {
    what: 'negative ageLimit seconds',
    values: policy((e) => (e.ageLimit = -5)),
    at: "'/policies/0/ageLimit'",
    says: /minimum|got number/,
  },
  {
    what: 'queryLimit of a billion',
    values: policy((e) => (e.queryLimit = 1e9)),
    at: "'/policies/0/queryLimit'",
    says: /maximum/,
  },
  {
    what: 'compression level 0',
    values: policy((e) => (e.compression = { level: 0 })),
    at: "'/policies/0/compression/level'",
    says: /minimum/,
  },
  {
    what: 'a 100 kB ageLimit string',
    values: policy((e) => (e.ageLimit = `${'9'.repeat(100_000)}d`)),
    at: "'/policies/0/ageLimit'",
    says: /maxLength: got 100,?001, want 32/,
  },
  {
    what: 'a 300-character policy name',
    values: policy((e) => (e.name = 'a'.repeat(300))),
    at: "'/policies/0/name'",
    says: /maxLength: got 300, want 63/,
  },
  // ---- injection
  {
    what: 'a policy name with shell injection',
    values: policy((e) => (e.name = 'x; rm -rf /')),
    at: "'/policies/0/name'",
    says: /does not match pattern/,
  },
  {
    what: 'a policy name with a template injection',
    values: policy((e) => (e.name = '{{ .Values.mongodb }}')),
    at: "'/policies/0/name'",
    says: /does not match pattern/,
  },
  {
    what: 'collection "$where"',
    values: policy((e) => (e.collection = '$where')),
    at: "'/policies/0/collection'",
    says: /does not match pattern/,
  },
  {
    what: 'database with a path traversal',
    values: policy((e) => (e.database = 'ALWAYZ/../admin')),
    at: "'/policies/0/database'",
    says: /does not match pattern/,
  },
  {
    what: 'archiveField "$where"',
    values: policy((e) => (e.archiveField = '$where')),
    at: "'/policies/0/archiveField'",
    says: /does not match pattern/,
  },
  {
    what: '$where nested deep in the filter',
    values: policy(
      (e) => (e.filter = { a: { $or: [{ b: 1 }, { c: { $elemMatch: { d: { $where: 'sleep(1)' } } } }] } }),
    ),
    at: "'/policies/0/filter/a/$or/1/c/$elemMatch/d'",
    says: /invalid propertyName '\$where'/,
  },
  {
    what: '$function inside $expr',
    values: policy((e) => (e.filter = { $expr: { $function: { body: 'x', args: [], lang: 'js' } } })),
    at: "'/policies/0/filter/$expr'",
    says: /invalid propertyName '\$function'/,
  },
  {
    what: '$accumulator inside $or/$expr',
    values: policy((e) => (e.filter = { $or: [{ a: 1 }, { $expr: { $accumulator: {} } }] })),
    at: "'/policies/0/filter/$or/1/$expr'",
    says: /invalid propertyName '\$accumulator'/,
  },
  {
    what: 'hostAddress as a URI with a password',
    values: policy((e) => (e.hostAddress = 'mongodb://root:hunter2@db:27017')),
    at: "'/policies/0/hostAddress'",
    says: /does not match pattern/,
  },
  {
    what: 'S3 endpoint with credentials',
    values: policy((e) => (e.s3.endpoint = 'https://AKIA:secret@minio:9000')),
    at: "'/policies/0/s3/endpoint'",
    says: /does not match pattern/,
  },
  {
    what: 'bucket URI with credentials',
    values: policy((e) => (e.s3.bucket = 's3://AKIA:secret@levit-archive/x/')),
    at: "'/policies/0/s3/bucket'",
    says: /does not match pattern/,
  },
  {
    what: 'an unknown field inside s3 (acl)',
    values: policy((e) => (e.s3.acl = 'public-read')),
    at: "'/policies/0/s3'",
    says: /additional properties 'acl' not allowed/,
  },
  {
    what: 'a throttle with no limit',
    values: policy((e) => (e.throttle = { checkInterval: '5s' })),
    at: "'/policies/0/throttle'",
    says: /'anyOf' failed/,
  },
  {
    what: 'a throttle latency of 0 ms',
    values: policy((e) => (e.throttle = { maxQueryLatencyMilliseconds: 0 })),
    at: "'/policies/0/throttle/maxQueryLatencyMilliseconds'",
    says: /minimum/,
  },
  {
    what: 'both hostAddress and uriSecretRef',
    values: policy((e) => (e.uriSecretRef = { name: 'mongo-uri' })),
    at: "'/policies/0'",
    says: /'oneOf' failed/,
  },
  // ---- SPEC I9 and durable destinations: what the CRD refuses, the chart refuses before rendering
  {
    what: 'the admin database',
    values: policy((e) => (e.database = 'admin')),
    at: "'/policies/0/database'",
    says: /'not' failed|must not be valid/,
  },
  {
    what: 'the Local database',
    values: policy((e) => (e.database = 'Local')),
    at: "'/policies/0/database'",
    says: /'not' failed|must not be valid/,
  },
  {
    what: 'a file:// destination',
    values: policy((e) => (e.s3.bucket = 'file:///var/lib/gochive/archive')),
    at: "'/policies/0/s3/bucket'",
    says: /'not' failed|must not be valid/,
  },
];

describe('Helm values: malformed and hostile values are refused by the chart schema, naming the value', () => {
  test.each(cases.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const r = await template(c.values);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(SCHEMA);
    const line = r.stderr.split('\n').find((l) => l.includes(`at ${c.at}`));
    if (!line) throw new Error(`expected a line naming ${c.at}, got:\n${r.stderr.slice(0, 3000)}`);
    expect(r.stderr).toMatch(c.says);
  });

  // The chart's own render-time checks (templates/_helpers.tpl) for what a JSON schema cannot say.
  test('two policies with the same name are refused, naming the second', async () => {
    const r = await template({ ...base, policies: [seedEntry, seedEntry] });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /policies\[1\]\.name: "incubator-offerwall-event-log" is used by more than one policy/,
    );
  });

  test('uploadInterval "1m" not above archiveCheckInterval "90s" is refused, naming the field', async () => {
    const r = await template(policy((e) => ((e.archiveCheckInterval = '90s'), (e.s3.uploadInterval = '1m'))));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/policies\[0\]\.s3\.uploadInterval .*must be greater than archiveCheckInterval/);
  });

  // --- Gaps this corpus found (fixed in ab28d1a), kept as regression tests. ---

  // The CRD marks windows[].days as a set and the API server refuses duplicates; zod and the chart schema
  // accepted them, so `helm install` rendered a policy the API server then rejected mid-install.
  test('duplicate window days are refused by the chart schema, as the API server refuses them', async () => {
    const r = await template(
      policy((e) => (e.windows = [{ start: '01:00', end: '02:00', days: ['Mon', 'Mon'] }])),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("'/policies/0/windows/0/days'");
  });

  // A password written into the URI template itself would end up in the Deployment's container args — readable
  // by anyone who can get pods or deployments, and in `ps` on the node. Only {username}/{password}
  // placeholders (filled from the Secret) may stand in the userinfo.
  test('a URI template with literal credentials is refused (it would put a password in the pod spec)', async () => {
    const r = await template({
      mongodb: { uriTemplate: 'mongodb://root:hunter2@{host}:27017/', existingSecret: 's' },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("'/mongodb/uriTemplate'");
    expect(r.stdout).not.toContain('hunter2');
  });

  // The operator refuses such a --namespaces value at start (CrashLoopBackOff), and the chart would try to
  // create a Role in a namespace that cannot exist; the schema should say so first.
  test('operator.watchNamespaces with an invalid namespace name is refused, naming it', async () => {
    const r = await template({ ...base, operator: { watchNamespaces: ['Kube_System'] } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("'/operator/watchNamespaces/0'");
  });
});
