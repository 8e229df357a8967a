// Parses where bundles live: `s3://bucket/prefix/`, the original tool's `bucket/prefix/`, or
// `file:///abs/dir/prefix`. The prefix is normalised to '' or a string ending with '/'.
import path from 'node:path';
import type { FileDestinationConfig, S3DestinationConfig } from '../archiver/config.js';

export class DestinationUriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DestinationUriError';
  }
}

function normalisePrefix(p: string): string {
  const trimmed = p.replace(/^\/+/, '').replace(/\/{2,}/g, '/');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

// S3 bucket names: today 3-63 lowercase letters, digits, dots, hyphens; legacy us-east-1 buckets may also
// hold capitals and underscores, so those are accepted. Anything else (spaces, ':'…) is a typo.
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/;

export function parseDestinationUri(uri: string): Pick<S3DestinationConfig, 'kind' | 'bucket' | 'prefix'> | FileDestinationConfig {
  const input = uri.trim();
  if (!input) throw new DestinationUriError('bucket URI is empty: use s3://BUCKET/prefix/, BUCKET/prefix/ or file:///dir');
  if (input.startsWith('file://')) {
    let dir: string;
    try {
      dir = decodeURIComponent(new URL(input).pathname);
    } catch {
      throw new DestinationUriError(`'${uri}' is not a valid file:// URI (use file:///absolute/dir)`);
    }
    if (!path.isAbsolute(dir) || dir === '/') throw new DestinationUriError(`'${uri}' must name an absolute directory: file:///absolute/dir`);
    return { kind: 'file', root: dir.replace(/\/+$/, ''), prefix: '' };
  }
  let rest = input;
  if (/^s3:\/\//i.test(rest)) rest = rest.slice(5);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rest)) {
    throw new DestinationUriError(`'${uri}' has an unsupported scheme: use s3://BUCKET/prefix/, BUCKET/prefix/ or file:///dir`);
  }
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw new DestinationUriError(`'${bucket}' in '${uri}' is not a valid S3 bucket name (letters, digits, dots, hyphens; at least 3)`);
  }
  return { kind: 's3', bucket, prefix: normalisePrefix(prefix) };
}
