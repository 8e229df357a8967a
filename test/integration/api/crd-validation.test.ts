// The generated ArchivePolicy CRD on a real kube-apiserver: `kubectl apply` itself refuses invalid specs
// with a message naming the field, accepts the original seed entry verbatim, and its CEL duration
// arithmetic agrees with the operator's own validation (operator/api) on every case we throw at it.
// Works in its own namespace and removes what it created; the CRD is shared with other tests and stays.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { stringify } from 'yaml';
import { repoRoot, testEnv, uniqueName } from '../../support/testenv.js';
import { waitForCrdsEstablished } from '../../support/crd-established.js';
import { CRD_FILE } from '../../../operator/api/crd.js';
import { validateSpec } from '../../../operator/api/resolve.js';

/** A spec under construction: tests mutate nested fields freely to build invalid specs. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Draft = Record<string, any>;

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the test cluster; never rejects (the exit code is part of the result). */
function kubectl(args: string[], input?: string, timeoutMs = 60_000): Promise<RunResult> {
  const env = testEnv();
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      args,
      {
        env: { ...process.env, KUBECONFIG: env.kubeconfig, PATH: env.path },
        timeout: timeoutMs,
        maxBuffer: 16 << 20,
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

async function mustKubectl(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const ns = uniqueName('api-crd');

/** The seed entry of the original values file (SPEC §2); `name` becomes metadata.name. */
const seedSpec = {
  hostAddress: 'incubator',
  ageLimit: '92d',
  queryLimit: 2000,
  archiveCheckInterval: 9,
  collection: 'offerwall_event_log',
  database: 'ALWAYZ',
  archiveField: 'createdAt',
  s3: { bucket: 'levit-database-archive-prod/incubator/offerwall_event_log/', uploadInterval: 65 },
};

function manifest(name: string, spec: Record<string, unknown>): string {
  return stringify({
    apiVersion: 'gochive.io/v1alpha1',
    kind: 'ArchivePolicy',
    metadata: { name, namespace: ns },
    spec,
  });
}

function specWith(change: (s: Draft) => void): Draft {
  const s = structuredClone(seedSpec) as Draft;
  change(s);
  return s;
}

let counter = 0;
const nextName = () => `p${++counter}`;

beforeAll(async () => {
  // Server-side apply: idempotent when other test files apply the same CRD concurrently.
  await mustKubectl([
    'apply',
    '--server-side',
    '--force-conflicts',
    '--field-manager=gochive-api-test',
    '-f',
    path.join(repoRoot, CRD_FILE),
  ]);
  const env = testEnv();
  await waitForCrdsEstablished(['archivepolicies.gochive.io'], {
    env: { ...process.env, KUBECONFIG: env.kubeconfig, PATH: env.path },
  });
  await mustKubectl(['create', 'namespace', ns]);
});

afterAll(async () => {
  // The test control plane runs no namespace controller: delete the policies, then the namespace.
  await kubectl(['delete', 'archivepolicies', '--all', '-n', ns, '--ignore-not-found', '--wait=false']);
  await kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
});

describe('ArchivePolicy CRD on the kube-apiserver', () => {
  test('accepts the original seed entry verbatim; kubectl get shows the columns', async () => {
    const out = await mustKubectl(['apply', '-f', '-'], manifest('incubator-offerwall-event-log', seedSpec));
    expect(out).toContain('archivepolicy.gochive.io/incubator-offerwall-event-log created');

    const stored = JSON.parse(
      await mustKubectl(['get', 'ap', 'incubator-offerwall-event-log', '-n', ns, '-o', 'json']),
    ) as {
      spec: Record<string, unknown>;
    };
    // Every field of the entry is stored unchanged; the API server adds the defaults that keep the original behaviour.
    expect(stored.spec).toEqual({
      ...seedSpec,
      archiveFieldFormat: 'date',
      suspend: false,
      dryRun: false,
      allowCollectionScan: false,
    });

    const table = await mustKubectl(['get', 'archivepolicies', '-n', ns]);
    expect(table.split('\n')[0]!.split(/\s{2,}/)).toEqual([
      'NAME',
      'PHASE',
      'READY',
      'ARCHIVED',
      'BACKLOG',
      'LAST UPLOAD',
      'AGE',
    ]);
    const wide = await mustKubectl(['get', 'ap', '-n', ns, '-o', 'wide']);
    expect(wide).toMatch(/DATABASE\s+COLLECTION\s+AGE LIMIT\s+DELETED\s+REPLICA\s+LAST ERROR/);
    expect(wide).toMatch(/incubator-offerwall-event-log\s+.*ALWAYZ\s+offerwall_event_log\s+92d/);
  });

  test('status subresource: status is writable only through /status and shows in the columns', async () => {
    const name = nextName();
    await mustKubectl(['apply', '-f', '-'], manifest(name, seedSpec));
    const status = {
      status: {
        observedGeneration: 1,
        phase: 'Archiving',
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'WorkerRunning',
            message: 'ok',
            lastTransitionTime: '2024-05-01T00:00:00Z',
          },
        ],
        totals: { documentsArchived: 4000, documentsDeleted: 3998 },
        backlog: 123,
        lastUploadTime: new Date().toISOString(),
        lastError: { stage: 'delete', message: 'transient' },
      },
    };
    await mustKubectl([
      'patch',
      'ap',
      name,
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
    const wide = await mustKubectl(['get', 'ap', name, '-n', ns, '-o', 'wide', '--no-headers']);
    expect(wide).toMatch(new RegExp(`^${name}\\s+Archiving\\s+True\\s+4000\\s+123\\s+\\d+s\\s+`));
    expect(wide).toMatch(/3998\s+(<none>\s+)?transient/);

    const badStatus = await kubectl([
      'patch',
      'ap',
      name,
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"phase":"Running"}}',
    ]);
    expect(badStatus.code).not.toBe(0);
    expect(badStatus.stderr).toMatch(/status\.phase.*Unsupported value: "Running"/);
  });

  // [what, spec change, field path the API server must name, fragment of its message]
  const invalid: [string, (s: Draft) => void, string, RegExp][] = [
    [
      'uploadInterval equal to archiveCheckInterval',
      (s) => (s.s3.uploadInterval = 9),
      'spec.s3.uploadInterval',
      /must be greater than archiveCheckInterval/,
    ],
    [
      'uploadInterval shorter, as duration strings',
      (s) => ((s.s3.uploadInterval = '1m'), (s.archiveCheckInterval = '1m30s')),
      'spec.s3.uploadInterval',
      /must be greater than archiveCheckInterval/,
    ],
    [
      'expireAfter not longer than ageLimit',
      (s) => ((s.ageLimit = '92d'), (s.s3.expireAfter = '13w1d')),
      'spec.s3.expireAfter',
      /s3.expireAfter must be longer than ageLimit/,
    ],
    [
      'bad duration unit',
      (s) => (s.ageLimit = '92x'),
      'spec.ageLimit',
      /"92x": is not a duration; use e.g. 92d, 36h, 1w2d/,
    ],
    ['zero duration', (s) => (s.ageLimit = '0d'), 'spec.ageLimit', /greater than zero/],
    [
      'zero seconds',
      (s) => (s.archiveCheckInterval = 0),
      'spec.archiveCheckInterval',
      /greater than or equal to 1/,
    ],
    ['negative queryLimit', (s) => (s.queryLimit = -5), 'spec.queryLimit', /greater than or equal to 1/],
    ['missing collection', (s) => delete s.collection, 'spec.collection', /Required value/],
    [
      'malformed bucket URI',
      (s) => (s.s3.bucket = 'Levit_Archive/x/'),
      'spec.s3.bucket',
      /is not a valid destination/,
    ],
    ['bucket name too short', (s) => (s.s3.bucket = 'ab/x/'), 'spec.s3.bucket', /3 to 63 characters/],
    [
      'unknown archiveFieldFormat',
      (s) => (s.archiveFieldFormat = 'iso8601'),
      'spec.archiveFieldFormat',
      /Unsupported value: "iso8601"/,
    ],
    [
      'both hostAddress and uriSecretRef',
      (s) => (s.uriSecretRef = { name: 'mongo-uri' }),
      'spec.uriSecretRef',
      /only one of hostAddress and uriSecretRef/,
    ],
    [
      'neither hostAddress nor uriSecretRef',
      (s) => delete s.hostAddress,
      'spec',
      /one of hostAddress .* or uriSecretRef .* is required/,
    ],
    [
      'bad window time',
      (s) => (s.windows = [{ start: '24:30', end: '02:00' }]),
      'spec.windows[0].start',
      /24-hour time HH:MM/,
    ],
    [
      'empty window',
      (s) => (s.windows = [{ start: '02:00', end: '02:00' }]),
      'spec.windows[0].end',
      /start and end must differ/,
    ],
    [
      'kmsKeyId without aws:kms',
      (s) => (s.s3.sse = { type: 'AES256', kmsKeyId: 'alias/x' }),
      'spec.s3.sse.kmsKeyId',
      /only to type aws:kms/,
    ],
    [
      'S3 options on file://',
      (s) => ((s.s3.bucket = 'file:///var/archive'), (s.s3.region = 'us-east-1')),
      'spec.s3',
      /apply only to S3 destinations/,
    ],
    [
      'compression level 0',
      (s) => (s.compression = { level: 0 }),
      'spec.compression.level',
      /greater than or equal to 1/,
    ],
    [
      'system collection',
      (s) => (s.collection = 'system.profile'),
      'spec.collection',
      /must not be a system collection/,
    ],
    // Pattern-checked fields: the API server prints the rule in words (a CEL rule), never the regex.
    [
      'hostAddress with credentials',
      (s) => (s.hostAddress = 'user:pw@host'),
      'spec.hostAddress',
      /Invalid value: "user:pw@host": must be a MongoDB cluster short name such as incubator/,
    ],
    [
      'collection with "$"',
      (s) => (s.collection = 'log$where'),
      'spec.collection',
      /Invalid value: "log\$where": must be a MongoDB collection name: 1 to 255 characters, no "\$"/,
    ],
    [
      'database with "/" and "."',
      (s) => (s.database = 'ALWAYZ/../admin'),
      'spec.database',
      /Invalid value: "ALWAYZ\/\.\.\/admin": must be a MongoDB database name: 1 to 63 characters/,
    ],
    [
      'archiveField with an operator segment',
      (s) => (s.archiveField = 'meta.$gt'),
      'spec.archiveField',
      /Invalid value: "meta\.\$gt": must be a document field path like createdAt or meta\.ts/,
    ],
    ['misspelt field', (s) => (s.ageLimt = '3d'), 'spec.ageLimt', /unknown field "spec.ageLimt"/],
    // SPEC I9: MongoDB's own databases are never archived from (the operator once deleted from admin).
    [
      'the admin database',
      (s) => (s.database = 'admin'),
      'spec.database',
      /must not be admin, local or config: those are MongoDB system databases and gochive never archives from, deletes from or restores into them \(name the application database that holds the documents\)/,
    ],
    [
      'the local database',
      (s) => (s.database = 'local'),
      'spec.database',
      /must not be admin, local or config/,
    ],
    [
      'the config database',
      (s) => (s.database = 'config'),
      'spec.database',
      /must not be admin, local or config/,
    ],
    // A pod's disk is not durable: the operator once wrote the only copy to its emptyDir and deleted the source.
    [
      'a file:// destination',
      (s) => (s.s3.bucket = 'file:///var/lib/gochive/archive'),
      'spec.s3.bucket',
      /file:\/\/ is not allowed in an ArchivePolicy: a file:\/\/ destination is the operator pod's own disk, which is not durable .*use an S3 bucket/,
    ],
  ];

  test.each(invalid)('refuses %s, naming the field', async (_what, change, field, says) => {
    const spec = specWith(change);
    // The operator's own validation refuses it too (same rules in both places).
    expect(validateSpec(spec).ok).toBe(false);
    const r = await kubectl(['apply', '-f', '-'], manifest(nextName(), spec));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(field);
    expect(r.stderr).toMatch(says);
    expect(r.stderr).not.toMatch(/should match/); // an OpenAPI pattern failure: the bare regex
  });

  test('refuses a policy name that is not a DNS label', async () => {
    const r = await kubectl(['apply', '-f', '-'], manifest('incubator.offerwall', seedSpec));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/metadata\.name must be a DNS label/);
  });

  // CEL computes seconds from duration strings; these pairs sit on the boundaries of that arithmetic.
  const pairs: [check: number | string, upload: number | string][] = [
    [9, 65],
    ['9', '65'],
    [9, '10s'],
    [9, '9s'],
    ['1m', 61],
    ['1m', 60],
    ['1m', '1m1s'],
    ['59m59s', '1h'],
    ['1h', '59m59s'],
    ['6d23h59m59s', '1w'],
    ['1w', '6d23h59m59s'],
    ['1d', 86_400],
    ['1d', '86401'],
    ['1w2d', '1w1d24h1s'],
    [3600, '1h'],
    ['2h', '1h59m60s'],
  ];

  test.each(pairs)(
    'archiveCheckInterval %j vs uploadInterval %j: API server and operator agree',
    async (check, upload) => {
      const spec = specWith((s) => ((s.archiveCheckInterval = check), (s.s3.uploadInterval = upload)));
      const expectAccepted = validateSpec(spec).ok;
      const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], manifest(nextName(), spec));
      expect({ accepted: r.code === 0, stderr: r.code === 0 ? '' : r.stderr }).toEqual({
        accepted: expectAccepted,
        stderr: expectAccepted ? '' : expect.stringContaining('must be greater than archiveCheckInterval'),
      });
    },
  );

  const expiry: [number | string, number | string][] = [
    ['92d', '92d1s'],
    ['92d', '13w1d'],
    ['92d', 7_948_800],
    [86_400, '1d1s'],
    ['1w', '6d23h59m59s'],
  ];

  test.each(expiry)(
    'ageLimit %j vs s3.expireAfter %j: API server and operator agree',
    async (age, expire) => {
      const spec = specWith((s) => ((s.ageLimit = age), (s.s3.expireAfter = expire)));
      const expectAccepted = validateSpec(spec).ok;
      const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], manifest(nextName(), spec));
      expect({ accepted: r.code === 0, stderr: r.code === 0 ? '' : r.stderr }).toEqual({
        accepted: expectAccepted,
        stderr: expectAccepted ? '' : expect.stringContaining('must be longer than ageLimit'),
      });
    },
  );

  const durations: (number | string)[] = [
    '92d',
    '1w2d',
    '36h',
    '90m',
    '45s',
    '1w1d1h1m1s',
    '100',
    100,
    '0',
    '0s',
    '0w0d',
    '1d1w',
    '1h1h',
    '500ms',
    '1.5h',
    ' 1d',
    '5214w',
    '5215w',
    '36500d',
    '36501d',
    3_153_600_000,
    3_153_600_001,
  ];

  test.each(durations)('ageLimit %j: API server and operator agree', async (ageLimit) => {
    const spec = specWith((s) => (s.ageLimit = ageLimit));
    const expectAccepted = validateSpec(spec).ok;
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], manifest(nextName(), spec));
    expect({ ageLimit, accepted: r.code === 0 }).toEqual({ ageLimit, accepted: expectAccepted });
    if (!expectAccepted) expect(r.stderr).toContain('spec.ageLimit');
  });
});
