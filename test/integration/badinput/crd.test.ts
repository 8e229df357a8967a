// Bad-input corpus, part 1: hostile and malformed ArchivePolicies applied to the real kube-apiserver with
// the generated CRD. Each is refused by `kubectl create` itself with a message naming the field (and the
// operator's own validation refuses it too), nothing is stored, and what the API server cannot check
// (JavaScript operators deep inside the free-form `filter`, unknown IANA time zones) is refused by the
// running operator: the policy goes Failed/InvalidSpec naming the field, and no byte reaches MongoDB.
import { validateSpec, policyNameProblem } from '../../../operator/api/resolve.js';
import { uniqueName } from '../../support/testenv.js';
import {
  ConnectionCounter,
  assertBuilt,
  createNamespace,
  deleteNamespace,
  ensureCrd,
  kubectl,
  manifest,
  mustKubectl,
  cliMain,
  waitFor,
  stopProcess,
} from './harness.js';
import { testEnv, repoRoot } from '../../support/testenv.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Draft = Record<string, any>;

const ns = uniqueName('bi-crd');

const seed = {
  hostAddress: 'incubator',
  ageLimit: '92d',
  queryLimit: 2000,
  archiveCheckInterval: 9,
  collection: 'offerwall_event_log',
  database: 'ALWAYZ',
  archiveField: 'createdAt',
  s3: { bucket: 'levit-database-archive-prod/incubator/offerwall_event_log/', uploadInterval: 65 },
};

function specWith(change: (s: Draft) => void): Draft {
  const s = structuredClone(seed) as Draft;
  change(s);
  return s;
}

/** `{a: {a: … {leaf}}}` nested `depth` levels. */
function nest(depth: number, leaf: unknown, key = 'a'): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { [key]: v };
  return v;
}

let counter = 0;
const nextName = () => `bad-${++counter}`;

beforeAll(async () => {
  await ensureCrd();
  await createNamespace(ns);
});

afterAll(async () => {
  await deleteNamespace(ns);
});

interface Case {
  what: string;
  spec: Draft;
  /** The field path the API server must name. */
  field: string;
  says: RegExp;
}

// Every case is new relative to test/integration/api/crd-validation.test.ts (which covers the common
// mistakes); these are wrong types, extremes and injection attempts.
const cases: Case[] = [
  // ---- wrong types everywhere
  {
    what: 'queryLimit as a string',
    spec: specWith((s) => (s.queryLimit = '2000')),
    field: 'spec.queryLimit',
    says: /must be of type integer/,
  },
  {
    what: 'queryLimit as a fraction',
    spec: specWith((s) => (s.queryLimit = 2.5)),
    field: 'spec.queryLimit',
    says: /must be of type integer/,
  },
  {
    what: 'ageLimit as a boolean',
    spec: specWith((s) => (s.ageLimit = true)),
    field: 'spec.ageLimit',
    says: /must be of type integer,string/,
  },
  {
    what: 'ageLimit as null',
    spec: specWith((s) => (s.ageLimit = null)),
    field: 'spec.ageLimit',
    says: /Required value/,
  },
  {
    what: 'ageLimit as a list',
    spec: specWith((s) => (s.ageLimit = ['92d'])),
    field: 'spec.ageLimit',
    says: /must be of type integer,string/,
  },
  {
    what: 'archiveCheckInterval as an object',
    spec: specWith((s) => (s.archiveCheckInterval = { seconds: 9 })),
    field: 'spec.archiveCheckInterval',
    says: /must be of type integer,string|unknown field "spec\.archiveCheckInterval\.seconds"/,
  },
  {
    what: 's3 as a string',
    spec: specWith((s) => (s.s3 = 'levit-archive/x/')),
    field: 'spec.s3',
    says: /must be of type object/,
  },
  {
    what: 's3 as a list',
    spec: specWith((s) => (s.s3 = [seed.s3])),
    field: 'spec.s3',
    says: /must be of type object|unknown field "spec\.s3\[0\]\.bucket"/,
  },
  {
    what: 'filter as a list',
    spec: specWith((s) => (s.filter = [{ status: 'done' }])),
    field: 'spec.filter',
    says: /must be of type object/,
  },
  {
    what: 'filter as a string (JavaScript)',
    spec: specWith((s) => (s.filter = 'function() { return true }')),
    field: 'spec.filter',
    says: /must be of type object/,
  },
  {
    what: 'suspend as the string "yes"',
    spec: specWith((s) => (s.suspend = 'yes')),
    field: 'spec.suspend',
    says: /must be of type boolean/,
  },
  {
    what: 'dryRun as a number',
    spec: specWith((s) => (s.dryRun = 1)),
    field: 'spec.dryRun',
    says: /must be of type boolean/,
  },
  {
    what: 'collection as a number',
    spec: specWith((s) => (s.collection = 42)),
    field: 'spec.collection',
    says: /must be of type string/,
  },
  {
    what: 'windows as an object',
    spec: specWith((s) => (s.windows = { start: '01:00', end: '02:00' })),
    field: 'spec.windows',
    says: /must be of type array|unknown field "spec\.windows\.(start|end)"/,
  },
  {
    what: 'changeGuardFields as a string',
    spec: specWith((s) => (s.changeGuardFields = 'status')),
    field: 'spec.changeGuardFields',
    says: /must be of type array/,
  },
  // ---- zero, negative, too big
  {
    what: 'negative ageLimit seconds',
    spec: specWith((s) => (s.ageLimit = -5)),
    field: 'spec.ageLimit',
    says: /greater than or equal to 1/,
  },
  {
    what: 'negative ageLimit string',
    spec: specWith((s) => (s.ageLimit = '-5d')),
    field: 'spec.ageLimit',
    says: /is not a duration/,
  },
  {
    what: 'zero uploadInterval',
    spec: specWith((s) => (s.s3.uploadInterval = '0s')),
    field: 'spec.s3.uploadInterval',
    says: /greater than zero/,
  },
  {
    what: 'queryLimit of a trillion',
    spec: specWith((s) => (s.queryLimit = 1e12)),
    field: 'spec.queryLimit',
    says: /less than or equal to 100000/,
  },
  {
    what: 'ageLimit beyond 100 years (digits overflow)',
    spec: specWith((s) => (s.ageLimit = '9999999999w')),
    field: 'spec.ageLimit',
    says: /at most 100 years/,
  },
  {
    what: 'maxDocumentsPerSecond 0',
    spec: specWith((s) => (s.maxDocumentsPerSecond = 0)),
    field: 'spec.maxDocumentsPerSecond',
    says: /greater than or equal to 1/,
  },
  {
    what: 'throttle with no limit',
    spec: specWith((s) => (s.throttle = { checkInterval: '5s' })),
    field: 'spec.throttle',
    says: /set maxReplicationLag, maxQueryLatencyMilliseconds or both/,
  },
  {
    what: 'throttle.maxQueryLatencyMilliseconds 0',
    spec: specWith((s) => (s.throttle = { maxQueryLatencyMilliseconds: 0 })),
    field: 'spec.throttle.maxQueryLatencyMilliseconds',
    says: /greater than or equal to 1/,
  },
  {
    what: 'throttle.maxReplicationLag in milliseconds',
    spec: specWith((s) => (s.throttle = { maxReplicationLag: '500ms' })),
    field: 'spec.throttle.maxReplicationLag',
    says: /is not a duration; use e\.g\. 92d/,
  },
  {
    what: 'spool.maxBytes 0',
    spec: specWith((s) => (s.spool = { maxBytes: 0 })),
    field: 'spec.spool.maxBytes',
    says: /greater than or equal to 1/,
  },
  {
    what: 'negative bundle.maxBytes quantity',
    spec: specWith((s) => (s.bundle = { maxBytes: '-1Gi' })),
    field: 'spec.bundle.maxBytes',
    says: /Invalid value: "-1Gi": is not a size; use bytes as an integer or a quantity/,
  },
  {
    what: 'compression level 10',
    spec: specWith((s) => (s.compression = { level: 10 })),
    field: 'spec.compression.level',
    says: /less than or equal to 9/,
  },
  // ---- huge strings
  {
    what: 'a 100 kB ageLimit',
    spec: specWith((s) => (s.ageLimit = `${'9'.repeat(100_000)}d`)),
    field: 'spec.ageLimit',
    says: /Too long: may not be more than 32/,
  },
  {
    what: 'a 300-character collection',
    spec: specWith((s) => (s.collection = 'c'.repeat(300))),
    field: 'spec.collection',
    says: /Too long: may not be more than 255/,
  },
  {
    what: 'a 10 kB hostAddress',
    spec: specWith((s) => (s.hostAddress = 'h'.repeat(10_000))),
    field: 'spec.hostAddress',
    says: /Too long: may not be more than 253/,
  },
  {
    what: 'a 3 kB kmsKeyId',
    spec: specWith((s) => (s.s3.sse = { type: 'aws:kms', kmsKeyId: 'k'.repeat(3000) })),
    field: 'spec.s3.sse.kmsKeyId',
    says: /Too long: may not be more than 2048/,
  },
  {
    what: 'a 600-character bucket URI',
    spec: specWith((s) => (s.s3.bucket = `levit-archive/${'p/'.repeat(300)}`)),
    field: 'spec.s3.bucket',
    says: /Too long: may not be more than 512/,
  },
  // ---- injection in names and paths
  {
    what: 'collection with "$" (operator injection)',
    spec: specWith((s) => (s.collection = 'log$where')),
    field: 'spec.collection',
    says: /must be a MongoDB collection name: 1 to 255 characters, no "\$"/,
  },
  {
    what: 'database with a path traversal',
    spec: specWith((s) => (s.database = 'ALWAYZ/../admin')),
    field: 'spec.database',
    says: /must be a MongoDB database name: 1 to 63 characters/,
  },
  {
    what: 'database with shell/JS injection',
    spec: specWith((s) => (s.database = 'a; db.dropDatabase()')),
    field: 'spec.database',
    says: /must be a MongoDB database name: 1 to 63 characters/,
  },
  {
    what: 'database with a NUL byte',
    spec: specWith((s) => (s.database = 'ALWAYZ\u0000admin')),
    field: 'spec.database',
    says: /must be a MongoDB database name: 1 to 63 characters/,
  },
  {
    what: 'archiveField "$where"',
    spec: specWith((s) => (s.archiveField = '$where')),
    field: 'spec.archiveField',
    says: /must be a document field path like createdAt or meta\.ts/,
  },
  {
    what: 'archiveField with an operator segment',
    spec: specWith((s) => (s.archiveField = 'meta.$gt')),
    field: 'spec.archiveField',
    says: /must be a document field path like createdAt or meta\.ts/,
  },
  {
    what: 'changeGuardFields with "$where" and an empty segment',
    spec: specWith((s) => (s.changeGuardFields = ['$where', 'a..b'])),
    field: 'spec.changeGuardFields[0]',
    says: /must be a document field path like createdAt or meta\.ts/,
  },
  {
    what: 'hostAddress as a full URI with credentials',
    spec: specWith((s) => (s.hostAddress = 'mongodb://root:hunter2@db:27017')),
    field: 'spec.hostAddress',
    says: /must be a MongoDB cluster short name such as incubator \(no scheme, credentials or "\/"\)/,
  },
  {
    what: 'S3 endpoint with credentials in it',
    spec: specWith((s) => (s.s3.endpoint = 'https://AKIA:secret@minio.example.com:9000')),
    field: 'spec.s3.endpoint',
    says: /must be an http\(s\) URL without credentials/,
  },
  {
    what: 'bucket URI with credentials in it',
    spec: specWith((s) => (s.s3.bucket = 's3://AKIA:secret@levit-archive/x/')),
    field: 'spec.s3.bucket',
    says: /is not a valid destination/,
  },
  {
    what: 'file:// destination escaping with ..',
    spec: specWith((s) => (s.s3.bucket = 'file:///var/archive/../../etc')),
    field: 'spec.s3.bucket',
    says: /must not contain \. or \.\. segments/,
  },
  {
    what: 'database "Admin" (MongoDB database names are unique ignoring case)',
    spec: specWith((s) => (s.database = 'Admin')),
    field: 'spec.database',
    says: /must not be admin, local or config: those are MongoDB system databases/,
  },
  {
    what: 'a time-series system collection',
    spec: specWith((s) => (s.collection = 'system.buckets.metrics')),
    field: 'spec.collection',
    says: /must not be a system collection \(system\.\*\)/,
  },
  {
    what: 'file:// destination in capitals',
    spec: specWith((s) => (s.s3.bucket = 'FILE:///var/lib/gochive/archive')),
    field: 'spec.s3.bucket',
    says: /file:\/\/ is not allowed in an ArchivePolicy: .*not durable/,
  },
  {
    what: 'bucket URI with another scheme',
    spec: specWith((s) => (s.s3.bucket = 'http://evil.example.com/x/')),
    field: 'spec.s3.bucket',
    says: /is not a valid destination/,
  },
  {
    what: 'uriSecretRef name with uppercase and "_"',
    spec: specWith((s) => (delete s.hostAddress, (s.uriSecretRef = { name: 'Mongo_URI' }))),
    field: 'spec.uriSecretRef.name',
    says: /must be a Secret name: lowercase letters, digits, "-" and "\."/,
  },
  {
    what: 'uriSecretRef key with a path',
    spec: specWith((s) => (delete s.hostAddress, (s.uriSecretRef = { name: 'mongo', key: '../token' }))),
    field: 'spec.uriSecretRef.key',
    says: /must be a Secret data key: letters, digits, "-", "_" and "\."/,
  },
  // Found by this corpus (zod and the chart schema used to accept what the CRD's list-type set refuses);
  // fixed in ab28d1a, kept as a regression test.
  {
    what: 'duplicate window days',
    spec: specWith((s) => (s.windows = [{ start: '01:00', end: '02:00', days: ['Mon', 'Mon'] }])),
    field: 'spec.windows[0].days[1]',
    says: /Duplicate value: "Mon"/,
  },
  {
    what: 'unknown storage class',
    spec: specWith((s) => (s.s3.storageClass = 'FREE')),
    field: 'spec.s3.storageClass',
    says: /Unsupported value: "FREE"/,
  },
  {
    what: 'expireAfter in years (no such unit)',
    spec: specWith((s) => (s.s3.expireAfter = '1y')),
    field: 'spec.s3.expireAfter',
    says: /is not a duration/,
  },
  {
    what: 'expireAfter shorter than ageLimit',
    spec: specWith((s) => ((s.ageLimit = '92d'), (s.s3.expireAfter = '30d'))),
    field: 'spec.s3.expireAfter',
    says: /must be longer than ageLimit/,
  },
  {
    what: 'sse type none',
    spec: specWith((s) => (s.s3.sse = { type: 'none' })),
    field: 'spec.s3.sse.type',
    says: /Unsupported value: "none"/,
  },
];

describe('ArchivePolicy CRD: malformed and hostile specs are refused by the API server, naming the field', () => {
  test.each(cases.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    // The operator's own validation (same zod source) refuses it too, naming the same field.
    const v = validateSpec(c.spec);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      const specField = c.field.replace(/^spec\.?/, '').replace(/\[\d+\]$/, '');
      expect(v.errors.map((e) => e.path).some((p) => p.startsWith(specField))).toBe(true);
    }
    const name = nextName();
    const r = await kubectl(['create', '-f', '-'], manifest(ns, name, c.spec));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(c.field);
    expect(r.stderr).toMatch(c.says);
    // Pattern-checked fields are CEL rules with plain messages: the API server never prints a bare regex.
    expect(r.stderr).not.toMatch(/should match/);
    // Nothing was stored.
    const get = await kubectl(['get', 'archivepolicy', name, '-n', ns, '--ignore-not-found', '-o', 'name']);
    expect(get.stdout.trim()).toBe('');
  });

  const badNames: [string, string, RegExp][] = [
    ['shell injection', 'a;rm -rf /', /metadata\.name: Invalid value/],
    ['a 300-character name', 'a'.repeat(300), /must be no more than 253 characters/],
    ['dots (a subdomain, not a DNS label)', 'p.v1', /metadata\.name must be a DNS label/],
    ['unicode look-alike', 'archivе-policy' /* Cyrillic е */, /metadata\.name: Invalid value/],
  ];
  test.each(badNames)('metadata.name with %s is refused', async (_what, name, says) => {
    expect(policyNameProblem(name)).toBeDefined();
    const r = await kubectl(['create', '-f', '-'], manifest(ns, name, seed));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(says);
  });

  test('a request over the API server size limit (a 4 MB filter value) is refused whole', async () => {
    const name = nextName();
    const spec = specWith((s) => (s.filter = { note: 'x'.repeat(4 << 20) }));
    const r = await kubectl(['create', '-f', '-'], manifest(ns, name, spec), 120_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/too large|Request entity too large|exceeds/i);
    const get = await kubectl(['get', 'archivepolicy', name, '-n', ns, '--ignore-not-found', '-o', 'name']);
    expect(get.stdout.trim()).toBe('');
  });
});

describe('unknown fields: refused by strict field validation, pruned (never stored) otherwise', () => {
  const withUnknown = specWith((s) => ((s.evil = { $where: 'sleep(100)' }), (s.s3.acl = 'public-read')));

  test('kubectl (strict field validation, its default) refuses them, naming each field', async () => {
    const r = await kubectl(['create', '-f', '-'], manifest(ns, nextName(), withUnknown));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown field "spec\.(evil|s3\.acl)"/);
  });

  test('with --validate=false the structural schema prunes them: the stored spec has neither', async () => {
    const name = nextName();
    const r = await kubectl(['create', '--validate=false', '-f', '-'], manifest(ns, name, withUnknown));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const stored = JSON.parse(await mustKubectl(['get', 'archivepolicy', name, '-n', ns, '-o', 'json'])) as {
      spec: Draft;
    };
    expect(stored.spec.evil).toBeUndefined();
    expect(stored.spec.s3.acl).toBeUndefined();
    // What remains is exactly the valid seed (plus the API server's defaults) and passes validation.
    expect(validateSpec(stored.spec).ok).toBe(true);
    await kubectl(['delete', 'archivepolicy', name, '-n', ns, '--wait=false']);
  });

  test('with --validate=warn the API server warns naming the field and prunes it', async () => {
    const name = nextName();
    const r = await kubectl(['create', '--validate=warn', '-f', '-'], manifest(ns, name, withUnknown));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/unknown field "spec\.evil"/);
    const stored = JSON.parse(await mustKubectl(['get', 'archivepolicy', name, '-n', ns, '-o', 'json'])) as {
      spec: Draft;
    };
    expect(stored.spec.evil).toBeUndefined();
    await kubectl(['delete', 'archivepolicy', name, '-n', ns, '--wait=false']);
  });
});

// The CRD's `filter` is free-form (x-kubernetes-preserve-unknown-fields): CEL cannot see fields the schema
// does not declare, so the API server cannot find `$where` inside it (a rule like `'$where' in self` does
// not even compile there). Likewise it cannot know which IANA time zones exist. The operator's runtime
// validation is the gate for these: the policy must go Failed with reason InvalidSpec naming the field,
// and the worker must never start (no connection reaches the MongoDB address).
describe('what only the operator can check: refused at runtime, before any database connection', () => {
  const runtimeCases: [string, Draft, RegExp][] = [
    [
      '$where at the top of the filter',
      specWith((s) => (s.filter = { $where: 'sleep(100000) || true' })),
      /filter.*\$where/,
    ],
    [
      '$where nested 6 levels deep in $or/$elemMatch',
      specWith(
        (s) =>
          (s.filter = { a: { $or: [{ b: 1 }, { c: { $elemMatch: { d: { $not: { $where: 'true' } } } } }] } }),
      ),
      /filter.*\$where/,
    ],
    [
      '$function inside $expr',
      specWith(
        (s) =>
          (s.filter = { $expr: { $function: { body: 'function(){return true}', args: [], lang: 'js' } } }),
      ),
      /filter.*\$function/,
    ],
    [
      '$accumulator deep inside $and/$expr',
      specWith(
        (s) =>
          (s.filter = {
            $and: [{ x: 1 }, { $expr: { $gt: [{ $accumulator: { init: 'function(){}' } }, 0] } }],
          }),
      ),
      /filter.*\$accumulator/,
    ],
    [
      'a filter nested 40 levels deep',
      specWith((s) => (s.filter = nest(40, 1) as Draft)),
      /filter.*nested deeper than 32/,
    ],
    [
      'an unknown IANA time zone',
      specWith((s) => (s.windows = [{ start: '01:00', end: '02:00', timeZone: 'Mars/Olympus_Mons' }])),
      /windows\[0\]\.timeZone/,
    ],
  ];

  let mongo: ConnectionCounter;
  let operator: ChildProcess | undefined;
  let logs = '';
  let spool = '';

  beforeAll(async () => {
    assertBuilt('cli/operator', 'controller/reconciler');
    mongo = await new ConnectionCounter('close').start();
    spool = mkdtempSync(path.join(os.tmpdir(), 'gochive-bi-op-'));
    const env = testEnv();
    operator = spawn(
      process.execPath,
      [
        cliMain,
        'operator',
        `--kubeconfig=${env.kubeconfig}`,
        `--namespaces=${ns}`,
        `--lease-namespace=${ns}`,
        '--metrics-bind-address=127.0.0.1:0',
        `--spool-dir=${spool}`,
        // Every hostAddress resolves to the counting listener: any connection attempt is seen.
        `--mongodb-uri-template=mongodb://127.0.0.1:${mongo.port}/?appName={host}`,
        '--status-min-interval=200ms',
      ],
      { cwd: repoRoot, env: { PATH: env.path, HOME: os.tmpdir() }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    operator.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
    operator.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  });

  afterAll(async () => {
    await stopProcess(operator);
    await mongo?.stop();
    if (spool) rmSync(spool, { recursive: true, force: true });
  });

  test.each(runtimeCases)(
    '%s: accepted by the API server, Failed/InvalidSpec in status',
    async (_what, spec, says) => {
      const v = validateSpec(spec);
      expect(v.ok).toBe(false);
      const name = nextName();
      const created = await kubectl(['create', '-f', '-'], manifest(ns, name, spec));
      expect(created.stderr).toBe('');
      expect(created.code).toBe(0);
      const status = await waitFor(
        `${name} to be marked InvalidSpec (operator log tail: ${logs.slice(-500)})`,
        async () => {
          const p = JSON.parse(await mustKubectl(['get', 'archivepolicy', name, '-n', ns, '-o', 'json'])) as {
            status?: {
              phase?: string;
              conditions?: { type: string; status: string; reason: string; message: string }[];
            };
          };
          const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
          return ready?.reason === 'InvalidSpec' ? { phase: p.status!.phase, ready } : undefined;
        },
        60_000,
      );
      expect(status.phase).toBe('Failed');
      expect(status.ready.status).toBe('False');
      expect(status.ready.message).toMatch(says);
      // A Warning event names the problem too.
      const events = await mustKubectl([
        'get',
        'events.events.k8s.io',
        '-n',
        ns,
        '--field-selector',
        `regarding.name=${name}`,
        '-o',
        'jsonpath={range .items[*]}{.reason}{"|"}{.note}{"\\n"}{end}',
      ]);
      expect(events).toMatch(/^InvalidSpec\|/m);
      // The worker never started: nothing connected to the MongoDB address.
      expect(mongo.connections).toBe(0);
    },
  );

  test('the operator process survived every case', () => {
    expect(operator?.exitCode).toBeNull();
    expect(mongo.connections).toBe(0);
  });
});
