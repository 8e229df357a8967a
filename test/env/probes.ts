// Readiness checks, one per server. Each resolves to undefined when the server is ready, or to a short
// reason when it is not (yet); none throws.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { MongoClient } from 'mongodb';

export type Probe = () => Promise<string | undefined>;

function get(
  url: string,
  opts: https.RequestOptions,
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { ...opts, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', reject);
  });
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function etcdProbe(clientUrl: string): Probe {
  return async () => {
    try {
      const res = await get(`${clientUrl}/health`, {}, 2000);
      return res.status === 200 && /"health":\s*"true"/.test(res.body)
        ? undefined
        : `/health: ${res.status} ${res.body.trim()}`;
    } catch (err) {
      return reason(err);
    }
  };
}

export interface ClientTls {
  ca: string;
  cert: string;
  key: string;
}

export function apiserverProbe(server: string, tls: ClientTls): Probe {
  return async () => {
    try {
      const opts = { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
      const res = await get(`${server}/readyz`, opts, 5000);
      return res.status === 200
        ? undefined
        : `/readyz: ${res.status} ${res.body
            .trim()
            .split('\n')
            .filter((l) => l.includes('failed'))
            .join('; ')}`;
    } catch (err) {
      return reason(err);
    }
  };
}

export function mongoProbe(uri: string): Probe {
  return async () => {
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 2000, connectTimeoutMS: 2000 });
    try {
      await client.db('admin').command({ ping: 1 });
      return undefined;
    } catch (err) {
      return reason(err);
    } finally {
      await client.close().catch(() => undefined);
    }
  };
}

export interface S3Access {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export function s3Probe(s3: S3Access): Probe {
  return async () => {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      maxAttempts: 1,
      requestHandler: { requestTimeout: 3000, connectionTimeout: 2000 },
    });
    try {
      await client.send(new ListBucketsCommand({}));
      return undefined;
    } catch (err) {
      return reason(err);
    } finally {
      client.destroy();
    }
  };
}
