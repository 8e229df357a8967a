import type { PolicyConfig } from '../archiver/config.js';
import { parseSpec, renderUriTemplate, resolvePolicy, DEFAULT_SPOOL_MAX_BYTES } from './resolve.js';
import { seedSpec } from './seed-fixture.js';

describe('resolvePolicy', () => {
  it('maps the seed entry to the engine config with the original behaviour', () => {
    const config = resolvePolicy(parseSpec(seedSpec), {
      name: 'incubator-offerwall-event-log',
      namespace: 'archive',
    });
    const expected: PolicyConfig = {
      name: 'incubator-offerwall-event-log',
      namespace: 'archive',
      database: 'ALWAYZ',
      collection: 'offerwall_event_log',
      archiveField: 'createdAt',
      archiveFieldFormat: 'date',
      ageLimitMs: 92 * 24 * 3600 * 1000,
      queryLimit: 2000,
      archiveCheckIntervalMs: 9000,
      uploadIntervalMs: 65000,
      spoolMaxBytes: DEFAULT_SPOOL_MAX_BYTES,
      compression: { codec: 'gzip', level: 6 },
      dryRun: false,
      suspend: false,
      allowCollectionScan: false,
      destination: {
        kind: 's3',
        bucket: 'levit-database-archive-prod',
        prefix: 'incubator/offerwall_event_log/',
      },
    };
    expect(config).toEqual(expected);
    expect(DEFAULT_SPOOL_MAX_BYTES).toBe(1024 ** 3);
  });

  it('maps every extension', () => {
    const spec = parseSpec({
      uriSecretRef: { name: 'm' },
      ageLimit: '1d12h',
      archiveCheckInterval: '10s',
      collection: 'c',
      database: 'd',
      archiveField: 'ts',
      archiveFieldFormat: 'epochMillis',
      filter: { status: 'done' },
      dryRun: true,
      suspend: true,
      allowCollectionScan: true,
      maxDocumentsPerSecond: 100,
      windows: [
        { days: ['Sat', 'Sun', 'Mon'], start: '22:00', end: '05:00', timeZone: 'Asia/Seoul' },
        { start: '12:00', end: '13:00' },
      ],
      bundle: { maxDocuments: 5000, maxBytes: '64Mi' },
      spool: { maxBytes: 100_000_000 },
      compression: { codec: 'none' },
      changeGuardFields: ['updatedAt'],
      s3: {
        bucket: 's3://bkt/p',
        uploadInterval: '1m',
        region: 'ap-northeast-2',
        endpoint: 'http://127.0.0.1:7070',
        forcePathStyle: true,
        storageClass: 'STANDARD_IA',
        sse: { type: 'aws:kms', kmsKeyId: 'alias/x' },
        credentialsSecretRef: { name: 'keys' },
      },
    });
    const config = resolvePolicy(spec, {
      name: 'p',
      namespace: 'n',
      s3Credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    });
    expect(config).toEqual({
      name: 'p',
      namespace: 'n',
      database: 'd',
      collection: 'c',
      archiveField: 'ts',
      archiveFieldFormat: 'epochMillis',
      ageLimitMs: 36 * 3600 * 1000,
      queryLimit: 1000,
      archiveCheckIntervalMs: 10_000,
      uploadIntervalMs: 60_000,
      filter: { status: 'done' },
      maxDocumentsPerSecond: 100,
      windows: [
        { days: [0, 1, 6], start: '22:00', end: '05:00', timeZone: 'Asia/Seoul' },
        { start: '12:00', end: '13:00', timeZone: 'UTC' },
      ],
      bundleMaxDocuments: 5000,
      bundleMaxBytes: 64 * 2 ** 20,
      spoolMaxBytes: 100_000_000,
      compression: { codec: 'none', level: 6 },
      dryRun: true,
      suspend: true,
      allowCollectionScan: true,
      changeGuardFields: ['updatedAt'],
      destination: {
        kind: 's3',
        bucket: 'bkt',
        prefix: 'p/',
        region: 'ap-northeast-2',
        endpoint: 'http://127.0.0.1:7070',
        forcePathStyle: true,
        storageClass: 'STANDARD_IA',
        sse: { type: 'aws:kms', kmsKeyId: 'alias/x' },
        credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
      },
    } satisfies PolicyConfig);
  });

  it('maps a file:// destination for gochive archive (allowFileDestination)', () => {
    const spec = parseSpec(
      { ...seedSpec, s3: { bucket: 'file:///tmp/archive/', uploadInterval: 65 } },
      undefined,
      { target: 'local' },
    );
    expect(
      resolvePolicy(spec, { name: 'a', namespace: 'b', allowFileDestination: true }).destination,
    ).toEqual({
      kind: 'file',
      root: '/tmp/archive',
      prefix: '',
    });
  });

  it('refuses a file:// destination for the operator (the default), whatever validated the spec', () => {
    const spec = parseSpec(
      { ...seedSpec, s3: { bucket: 'file:///tmp/archive/', uploadInterval: 65 } },
      undefined,
      { target: 'local' },
    );
    expect(() => resolvePolicy(spec, { name: 'a', namespace: 'b' })).toThrow(
      /^b\/a: s3\.bucket: "file:\/\/\/tmp\/archive\/" is not allowed in an ArchivePolicy: .*not durable/,
    );
  });

  it.each([
    ['database', 'admin', /^b\/a: database: "admin" is a MongoDB system database/],
    ['database', 'local', /^b\/a: database: "local" is a MongoDB system database/],
    ['database', 'config', /^b\/a: database: "config" is a MongoDB system database/],
    ['collection', 'system.users', /^b\/a: collection: "system.users" is a MongoDB system collection/],
  ])('never returns a config for %s %j, even from an unvalidated spec', (field, value, says) => {
    const spec = { ...parseSpec(seedSpec), [field]: value };
    expect(() => resolvePolicy(spec, { name: 'a', namespace: 'b' })).toThrow(says);
    expect(() => resolvePolicy(spec, { name: 'a', namespace: 'b', allowFileDestination: true })).toThrow(
      says,
    );
  });

  it('does not share the filter object with the spec', () => {
    const spec = parseSpec({ ...seedSpec, filter: { a: { $in: [1, 2] } } });
    const config = resolvePolicy(spec, { name: 'a', namespace: 'b' });
    (config.filter!.a as { $in: number[] }).$in.push(3);
    expect(spec.filter).toEqual({ a: { $in: [1, 2] } });
  });

  it('parseSpec throws one message listing every problem', () => {
    expect(() => parseSpec({ ...seedSpec, ageLimit: '92x', queryLimit: -1 })).toThrow(
      /invalid ArchivePolicy spec:\n {2}- ageLimit: .*\n {2}- queryLimit: /,
    );
  });
});

describe('renderUriTemplate', () => {
  const template = 'mongodb+srv://{username}:{password}@prod-{host}-shard01.example.com/?tls=true';
  it('renders the original hostAddress convention', () => {
    expect(renderUriTemplate(template, { host: 'incubator', username: 'archiver', password: 'pw' })).toBe(
      'mongodb+srv://archiver:pw@prod-incubator-shard01.example.com/?tls=true',
    );
  });
  it('percent-encodes credentials', () => {
    expect(renderUriTemplate(template, { host: 'h', username: 'a@b', password: 'p:/@?#%' })).toBe(
      'mongodb+srv://a%40b:p%3A%2F%40%3F%23%25@prod-h-shard01.example.com/?tls=true',
    );
  });
  it('works without credentials when the template has none', () => {
    expect(renderUriTemplate('mongodb://{host}:27017/', { host: 'db' })).toBe('mongodb://db:27017/');
  });
  it('rejects unknown placeholders and missing values', () => {
    expect(() => renderUriTemplate('mongodb://{hots}/', { host: 'x' })).toThrow('unknown placeholder {hots}');
    expect(() => renderUriTemplate(template, { host: 'x' })).toThrow('no username was provided');
  });
});
