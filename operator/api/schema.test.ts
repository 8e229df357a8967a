import { FILTER_MAX_BYTES, filterOfSize } from './filter.js';
import { archivePolicySpecSchema, archivePolicyStatusSchema } from './schema.js';
import { validateSpec, validateValuesEntry, formatSpecErrors } from './resolve.js';
import { seedEntry, seedSpec } from './seed-fixture.js';

/** A spec under construction: tests mutate nested fields freely to build invalid specs. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Draft = Record<string, any>;

describe('ArchivePolicy spec schema', () => {
  it('accepts the seed entry verbatim and applies only defaults that keep the original behaviour', () => {
    const r = validateSpec(seedSpec);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.spec).toEqual({
      ...seedSpec,
      archiveFieldFormat: 'date',
      suspend: false,
      dryRun: false,
      allowCollectionScan: false,
    });
  });

  it('accepts the seed entry as a values entry (name + spec)', () => {
    const r = validateValuesEntry(seedEntry);
    expect(r).toMatchObject({ ok: true, name: 'incubator-offerwall-event-log' });
  });

  it('accepts a spec using every extension', () => {
    const r = validateSpec({
      uriSecretRef: { name: 'mongo-uri', key: 'uri' },
      ageLimit: '1w2d',
      archiveCheckInterval: '30s',
      collection: 'events',
      database: 'app',
      archiveField: '_id',
      archiveFieldFormat: 'objectId',
      filter: { status: 'done', $or: [{ a: { $gt: 1 } }, { b: null }], $expr: { $gt: ['$x', '$y'] } },
      suspend: true,
      dryRun: true,
      maxDocumentsPerSecond: 500,
      windows: [
        { days: ['Mon', 'Tue'], start: '22:00', end: '05:00', timeZone: 'Asia/Seoul' },
        { start: '12:00', end: '13:00' },
      ],
      bundle: { maxDocuments: 100000, maxBytes: '512Mi' },
      spool: { maxBytes: '2Gi' },
      compression: { codec: 'gzip', level: 9 },
      allowCollectionScan: true,
      changeGuardFields: ['updatedAt', 'meta.version'],
      s3: {
        bucket: 's3://archive/events/',
        uploadInterval: '5m',
        region: 'ap-northeast-2',
        endpoint: 'http://127.0.0.1:9000',
        forcePathStyle: true,
        storageClass: 'STANDARD_IA',
        sse: { type: 'aws:kms', kmsKeyId: 'alias/archive' },
        credentialsSecretRef: { name: 's3-keys' },
        expireAfter: '400d',
      },
    });
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.spec.s3.credentialsSecretRef).toEqual({
        name: 's3-keys',
        accessKeyIdKey: 'AWS_ACCESS_KEY_ID',
        secretAccessKeyKey: 'AWS_SECRET_ACCESS_KEY',
      });
      expect(r.spec.windows?.[1]?.timeZone).toBe('UTC');
    }
  });

  // Each bad spec: [what, change, path the error must name, fragment of the message]
  const bad: [string, (s: Draft) => void, string, string][] = [
    [
      'bad duration unit',
      (s) => (s.ageLimit = '92x'),
      'ageLimit',
      '"92x" is not a duration; use e.g. 92d, 36h, 1w2d or seconds as an integer',
    ],
    ['zero duration', (s) => (s.ageLimit = '0d'), 'ageLimit', 'greater than zero'],
    [
      'fractional seconds',
      (s) => (s.archiveCheckInterval = 1.5),
      'archiveCheckInterval',
      'whole number of seconds',
    ],
    [
      'uploadInterval equal to archiveCheckInterval',
      (s) => (s.s3.uploadInterval = 9),
      's3.uploadInterval',
      'must be greater than archiveCheckInterval',
    ],
    [
      'uploadInterval shorter than archiveCheckInterval (strings)',
      (s) => ((s.s3.uploadInterval = '1m'), (s.archiveCheckInterval = '2m')),
      's3.uploadInterval',
      'must be greater than archiveCheckInterval',
    ],
    [
      'expireAfter equal to ageLimit',
      (s) => ((s.ageLimit = '92d'), (s.s3.expireAfter = '92d')),
      's3.expireAfter',
      'must be longer than ageLimit: documents are archived once older than ageLimit',
    ],
    [
      'expireAfter shorter than ageLimit (seconds vs a string)',
      (s) => ((s.ageLimit = '2w'), (s.s3.expireAfter = 86400)),
      's3.expireAfter',
      'set expireAfter to ageLimit plus how long the archive should keep them',
    ],
    ['malformed expireAfter', (s) => (s.s3.expireAfter = '1y'), 's3.expireAfter', 'is not a duration'],
    ['negative queryLimit', (s) => (s.queryLimit = -1), 'queryLimit', 'at least 1'],
    ['queryLimit as a string', (s) => (s.queryLimit = 'lots'), 'queryLimit', 'whole number'],
    ['missing collection', (s) => delete s.collection, 'collection', 'is required'],
    ['missing s3.bucket', (s) => delete s.s3.bucket, 's3.bucket', 'is required'],
    ['malformed bucket URI', (s) => (s.s3.bucket = 'Bad_Bucket/x/'), 's3.bucket', 'lowercase'],
    [
      'bucket with an unsupported scheme',
      (s) => (s.s3.bucket = 'gs://bucket/x/'),
      's3.bucket',
      'use bucket/prefix/',
    ],
    [
      'unknown archiveFieldFormat',
      (s) => (s.archiveFieldFormat = 'iso'),
      'archiveFieldFormat',
      'must be one of date, epochSeconds, epochMillis, epochNanos, objectId',
    ],
    [
      'both hostAddress and uriSecretRef',
      (s) => (s.uriSecretRef = { name: 'uri' }),
      'uriSecretRef',
      'only one of hostAddress and uriSecretRef',
    ],
    [
      'neither hostAddress nor uriSecretRef',
      (s) => delete s.hostAddress,
      'hostAddress',
      'one of hostAddress',
    ],
    [
      'hostAddress holding a full URI',
      (s) => (s.hostAddress = 'mongodb://u:p@h/'),
      'hostAddress',
      'use uriSecretRef',
    ],
    ['bad window time', (s) => (s.windows = [{ start: '25:00', end: '01:00' }]), 'windows[0].start', 'HH:MM'],
    [
      'empty window',
      (s) => (s.windows = [{ start: '01:00', end: '01:00' }]),
      'windows[0].end',
      'start and end must differ',
    ],
    [
      'unknown day',
      (s) => (s.windows = [{ days: ['Monday'], start: '01:00', end: '02:00' }]),
      'windows[0].days[0]',
      'Sun, Mon',
    ],
    [
      'unknown time zone',
      (s) => (s.windows = [{ start: '01:00', end: '02:00', timeZone: 'Mars/Olympus' }]),
      'windows[0].timeZone',
      'IANA',
    ],
    [
      'a filter larger than the cap',
      (s) => (s.filter = filterOfSize(FILTER_MAX_BYTES + 1)),
      'filter',
      `more than the ${FILTER_MAX_BYTES} allowed`,
    ],
    [
      'a throttle without a limit',
      (s) => (s.throttle = { checkInterval: '5s' }),
      'throttle',
      'set maxReplicationLag, maxQueryLatencyMilliseconds or both',
    ],
    [
      'a throttle latency of zero',
      (s) => (s.throttle = { maxQueryLatencyMilliseconds: 0 }),
      'throttle.maxQueryLatencyMilliseconds',
      'at least 1 millisecond',
    ],
    [
      'a throttle latency in seconds',
      (s) => (s.throttle = { maxQueryLatencyMilliseconds: 0.5 }),
      'throttle.maxQueryLatencyMilliseconds',
      'whole number of milliseconds',
    ],
    [
      'a throttle lag that is not a duration',
      (s) => (s.throttle = { maxReplicationLag: '500ms' }),
      'throttle.maxReplicationLag',
      'is not a duration',
    ],
    [
      'an unknown throttle field',
      (s) => (s.throttle = { maxLag: '30s', maxReplicationLag: '30s' }),
      'throttle',
      'maxLag',
    ],
    ['$where in filter', (s) => (s.filter = { $where: 'this.a > 1' }), 'filter', 'uses $where'],
    [
      '$function nested in $expr',
      (s) => (s.filter = { $and: [{ $expr: { $function: { body: 'x', args: [], lang: 'js' } } }] }),
      'filter',
      'uses $and[0].$expr.$function',
    ],
    [
      '$accumulator',
      (s) => (s.filter = { $expr: { $accumulator: {} } }),
      'filter',
      'uses $expr.$accumulator',
    ],
    [
      'kmsKeyId with AES256',
      (s) => (s.s3.sse = { type: 'AES256', kmsKeyId: 'k' }),
      's3.sse.kmsKeyId',
      'only to type aws:kms',
    ],
    ['unknown sse type', (s) => (s.s3.sse = { type: 'DES' }), 's3.sse.type', 'AES256'],
    [
      'a file:// destination in an ArchivePolicy',
      (s) => (s.s3.bucket = 'file:///var/lib/gochive/archive'),
      's3.bucket',
      's3.bucket: "file:///var/lib/gochive/archive" is not allowed in an ArchivePolicy: a file:// destination is the operator pod\'s own disk, which is not durable',
    ],
    ['an upper-case FILE:// destination', (s) => (s.s3.bucket = 'FILE:///tmp/a'), 's3.bucket', 'not durable'],
    [
      'compression level out of range',
      (s) => (s.compression = { level: 10 }),
      'compression.level',
      '1 (fastest) to 9',
    ],
    ['bad size quantity', (s) => (s.bundle = { maxBytes: '512MB' }), 'bundle.maxBytes', 'is not a size'],
    ['unknown field (typo)', (s) => (s.ageLimt = '92d'), '', 'unknown field "ageLimt"'],
    ['unknown field inside s3', (s) => (s.s3.uploadIntervall = 60), 's3', 'unknown field "uploadIntervall"'],
    [
      'system collection',
      (s) => (s.collection = 'system.users'),
      'collection',
      'collection: "system.users" is a MongoDB system collection (system.*)',
    ],
    [
      'the admin database',
      (s) => (s.database = 'admin'),
      'database',
      'database: "admin" is a MongoDB system database; gochive never archives from, deletes from or restores into admin, local or config',
    ],
    ['the local database', (s) => (s.database = 'local'), 'database', 'is a MongoDB system database'],
    ['the config database', (s) => (s.database = 'config'), 'database', 'is a MongoDB system database'],
    ['the admin database in capitals', (s) => (s.database = 'ADMIN'), 'database', 'system database'],
    ['bad database name', (s) => (s.database = 'my.db'), 'database', 'database name'],
    ['archiveField starting with $', (s) => (s.archiveField = '$createdAt'), 'archiveField', 'field path'],
    ['suspend as a string', (s) => (s.suspend = 'yes'), 'suspend', 'true or false'],
  ];

  it.each(bad)('rejects %s with a message naming the field', (_what, change, path, fragment) => {
    const spec = structuredClone(seedSpec) as Draft;
    change(spec);
    const r = validateSpec(spec);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const hit = r.errors.find((e) => e.path === path);
    if (!hit) throw new Error(`no error at ${path}: ${JSON.stringify(r.errors)}`);
    expect(hit.message.startsWith(`${path || 'spec'}: `)).toBe(true);
    expect(hit.message).toContain(fragment);
  });

  it('reports a bad value once, in words rather than as a regex', () => {
    const r = validateSpec({ ...seedSpec, ageLimit: '92x' });
    expect(r).toEqual({
      ok: false,
      errors: [
        {
          path: 'ageLimit',
          message: 'ageLimit: "92x" is not a duration; use e.g. 92d, 36h, 1w2d or seconds as an integer',
        },
      ],
    });
  });

  it('rejects bad values entries, naming the entry fields', () => {
    const r = validateValuesEntry({ ...seedEntry, name: 'Bad_Name', queryLimit: 0 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path)).toEqual(['name', 'queryLimit']);
    expect(formatSpecErrors(r.errors)).toMatch(/name: "Bad_Name" must be lowercase/);
    expect(validateValuesEntry('nope')).toMatchObject({ ok: false });
  });

  it('gochive archive (target local) accepts file:// but keeps every other rule', () => {
    const local = { ...seedSpec, s3: { bucket: 'file:///var/lib/gochive/archive', uploadInterval: 65 } };
    expect(validateSpec(local, '', { target: 'local' })).toMatchObject({ ok: true });
    expect(validateValuesEntry({ ...local, name: 'p' }, { target: 'local' })).toMatchObject({ ok: true });
    // The default is the ArchivePolicy's rules.
    expect(validateSpec(local)).toMatchObject({ ok: false });
    expect(validateValuesEntry({ ...local, name: 'p' })).toMatchObject({ ok: false });

    const errorsOf = (spec: unknown) => {
      const r = validateSpec(spec, '', { target: 'local' });
      return r.ok ? [] : r.errors.map((e) => e.message);
    };
    expect(errorsOf({ ...local, database: 'config' })).toEqual([
      expect.stringMatching(/^database: "config" is a MongoDB system database/),
    ]);
    expect(errorsOf({ ...local, collection: 'system.profile' })).toEqual([
      expect.stringMatching(/^collection: "system.profile" is a MongoDB system collection/),
    ]);
    expect(errorsOf({ ...local, s3: { ...local.s3, region: 'us-east-1' } })).toEqual([
      expect.stringMatching(/^s3\.region: .*applies only to S3 destinations, not to a file:\/\/ bucket/),
    ]);
  });

  it('the zod schema itself is usable directly', () => {
    expect(archivePolicySpecSchema.safeParse(seedSpec).success).toBe(true);
  });
});

describe('ArchivePolicy status schema', () => {
  it('accepts a full status and ignores unknown fields', () => {
    const status = {
      observedGeneration: 3,
      phase: 'Archiving',
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          lastTransitionTime: '2024-01-01T00:00:00Z',
          reason: 'WorkerRunning',
          message: 'ok',
          observedGeneration: 3,
        },
      ],
      totals: {
        documentsArchived: 10,
        documentsDeleted: 10,
        documentsSkipped: 0,
        documentsIneligible: 0,
        bundlesUploaded: 1,
        bytesUploaded: 1234,
        duplicatesUploaded: 0,
      },
      lastBundle: {
        key: 'a/b.tar.gz',
        documents: 10,
        bytes: 1234,
        archiveFieldMin: '2023-01-01T00:00:00Z',
        archiveFieldMax: '2023-02-01T00:00:00Z',
        uploadedAt: '2024-01-01T00:00:00Z',
      },
      spool: { documents: 0, bytes: 0 },
      backlog: 5,
      oldestEligibleAgeSeconds: 100,
      lastFetchTime: '2024-01-01T00:00:00Z',
      lastUploadTime: '2024-01-01T00:00:00Z',
      lastSuccessTime: '2024-01-01T00:00:00Z',
      lastError: { time: '2024-01-01T00:00:00Z', stage: 'upload', message: 'boom' },
      activeReplica: 'gochive-0',
      future: 1,
    };
    const r = archivePolicyStatusSchema.safeParse(status);
    expect(r.success).toBe(true);
    expect(r.data).not.toHaveProperty('future');
  });

  it('rejects an unknown phase and a non-CamelCase reason', () => {
    expect(archivePolicyStatusSchema.safeParse({ phase: 'Running' }).success).toBe(false);
    expect(
      archivePolicyStatusSchema.safeParse({
        conditions: [
          { type: 'Ready', status: 'True', lastTransitionTime: 'x', reason: 'not ok', message: '' },
        ],
      }).success,
    ).toBe(false);
  });
});
