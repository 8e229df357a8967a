import { BUCKET_URI_PATTERN, bucketNameProblem, formatBucketUri, parseBucketUri } from './bucket-uri.js';

describe('parseBucketUri', () => {
  it.each([
    // the original form (SPEC §2)
    [
      'levit-database-archive-prod/incubator/offerwall_event_log/',
      { kind: 's3', bucket: 'levit-database-archive-prod', prefix: 'incubator/offerwall_event_log/' },
    ],
    [
      'levit-database-archive-prod/test/',
      { kind: 's3', bucket: 'levit-database-archive-prod', prefix: 'test/' },
    ],
    ['my-bucket', { kind: 's3', bucket: 'my-bucket', prefix: '' }],
    ['my-bucket/', { kind: 's3', bucket: 'my-bucket', prefix: '' }],
    ['my-bucket/a/b', { kind: 's3', bucket: 'my-bucket', prefix: 'a/b/' }],
    ['s3://my-bucket', { kind: 's3', bucket: 'my-bucket', prefix: '' }],
    ['s3://my-bucket/', { kind: 's3', bucket: 'my-bucket', prefix: '' }],
    ['s3://my.bucket.name/a/b', { kind: 's3', bucket: 'my.bucket.name', prefix: 'a/b/' }],
    ['s3://abc/x y/ü/', { kind: 's3', bucket: 'abc', prefix: 'x y/ü/' }],
    ['file:///var/lib/gochive', { kind: 'file', root: '/var/lib/gochive', prefix: '' }],
    ['file:///var/lib/gochive/', { kind: 'file', root: '/var/lib/gochive', prefix: '' }],
  ])('%s', (input, expected) => {
    expect(parseBucketUri(input)).toEqual(expected);
    expect(new RegExp(BUCKET_URI_PATTERN).test(input)).toBe(true);
  });

  it.each([
    ['', 'required'],
    ['ab', 'must be 3 to 63 characters'],
    [`${'a'.repeat(64)}/x/`, 'must be 3 to 63 characters'],
    ['Bad_Bucket/x/', 'may contain only lowercase letters'],
    ['-bucket/x/', 'may contain only lowercase letters'],
    ['my..bucket', 'may contain only lowercase letters'],
    ['192.168.1.1/x', 'must not look like an IP address'],
    ['xn--bucket', 'reserved prefix "xn--"'],
    ['sthree-bucket', 'reserved prefix "sthree-"'],
    ['bucket-s3alias', 'reserved suffix "-s3alias"'],
    ['bucket--ol-s3/x', 'reserved suffix "--ol-s3"'],
    ['s3://bucket//x/', 'invalid prefix'],
    ['bucket/a//b/', 'invalid prefix'],
    ['bucket/../x/', '. or ..'],
    ['http://bucket/x/', 'unsupported scheme'],
    ['gs://bucket/x/', 'unsupported scheme'],
    ['file://relative/dir', 'not a valid file:// destination'],
    ['file:///a/../b', '. or ..'],
  ])('rejects %j (%s)', (input, fragment) => {
    expect(() => parseBucketUri(input, 's3.bucket')).toThrow(fragment);
    expect(() => parseBucketUri(input, 's3.bucket')).toThrow(/^s3\.bucket: /);
  });

  it('the pattern alone rejects malformed shapes (what the CRD checks before CEL)', () => {
    const re = new RegExp(BUCKET_URI_PATTERN);
    for (const bad of ['Bad_Bucket/x', 's3://b//x', 'http://bucket', 'file://rel', 'bucket\\x', '/bucket'])
      expect(re.test(bad)).toBe(false);
  });

  it('bucketNameProblem accepts valid names', () => {
    for (const ok of ['abc', 'levit-database-archive-prod', 'a.b.c', '1bucket', 'a'.repeat(63)])
      expect(bucketNameProblem(ok)).toBeUndefined();
  });

  it('refuses file:// with allowFile: false (an ArchivePolicy), saying why and what to use', () => {
    for (const uri of ['file:///var/lib/gochive', 'file:///tmp/x/', 'FILE:///tmp/x', 'file:relative'])
      expect(() => parseBucketUri(uri, 's3.bucket', { allowFile: false })).toThrow(
        /^s3\.bucket: ".*" is not allowed in an ArchivePolicy: a file:\/\/ destination is the operator pod's own disk, which is not durable.*use an S3 bucket \(bucket\/prefix\/ or s3:\/\/bucket\/prefix\/.*`gochive archive`/,
      );
    expect(parseBucketUri('s3://bucket/p/', 's3.bucket', { allowFile: false })).toEqual({
      kind: 's3',
      bucket: 'bucket',
      prefix: 'p/',
    });
    // The hint for a bad S3 URI does not suggest file:// there.
    expect(() => parseBucketUri('http://x/', 's3.bucket', { allowFile: false })).toThrow(
      /unsupported scheme; use bucket\/prefix\/ \(as the original\) or s3:\/\/bucket\/prefix\/$/,
    );
    // The default (ls, cat, verify, restore, gochive archive) still reads file://.
    expect(parseBucketUri('file:///tmp/x')).toEqual({ kind: 'file', root: '/tmp/x', prefix: '' });
  });

  it('formats canonically', () => {
    expect(formatBucketUri(parseBucketUri('levit/a/b'))).toBe('s3://levit/a/b/');
    expect(formatBucketUri(parseBucketUri('file:///tmp/x/'))).toBe('file:///tmp/x');
  });
});
