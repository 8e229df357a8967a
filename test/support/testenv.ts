// How tests find the local servers: process.env (set by jest's globalSetup or by `source .testenv/env`),
// falling back to the env file that `make testenv-up` writes at the repo root.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../env/paths.js';

// One definition of the repo root (it also works from the compiled copy under dist/).
export { repoRoot };
export const envFile = path.join(repoRoot, '.testenv', 'env');

export interface TestEnv {
  kubeconfig: string;
  mongoUri: string;
  s3: { endpoint: string; accessKeyId: string; secretAccessKey: string; region: string };
  /** PATH with the built kubectl and helm first. */
  path: string;
  /** Which server MONGODB_URI is: 'ferretdb' (1.x, SQLite) or 'ferretdb2' (PostgreSQL + DocumentDB). */
  mongoServer: string;
}

/** How reports name the test MongoDB server. */
export function mongoServerLabel(server: string): string {
  return server === 'ferretdb2' ? 'FerretDB 2.7 (PostgreSQL 15 + DocumentDB)' : 'FerretDB 1.24 (SQLite)';
}

function parseEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!;
    if (v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1).replace(/'\\''/g, "'");
    out[m[1]!] = v;
  }
  return out;
}

export function testEnv(): TestEnv {
  const fromFile = existsSync(envFile) ? parseEnvFile(envFile) : {};
  const get = (k: string): string => {
    const v = process.env[k] ?? fromFile[k];
    if (!v) throw new Error(`${k} is not set: run 'make testenv-up' (or the integration jest project) first`);
    return v;
  };
  return {
    kubeconfig: get('KUBECONFIG'),
    mongoUri: get('MONGODB_URI'),
    s3: {
      endpoint: get('AWS_ENDPOINT_URL_S3'),
      accessKeyId: get('AWS_ACCESS_KEY_ID'),
      secretAccessKey: get('AWS_SECRET_ACCESS_KEY'),
      region: get('AWS_REGION'),
    },
    path: get('PATH'),
    // Env files written before the choice existed describe FerretDB 1.x.
    mongoServer: process.env.GOCHIVE_MONGO || fromFile.GOCHIVE_MONGO || 'ferretdb',
  };
}

/**
 * Whether the test server takes credentials in a connection URI. FerretDB 1.x (SQLite) runs no
 * authentication but accepts PLAIN with any user and password, so credentials travel the whole path to
 * the server. FerretDB 2 built from its embeddable package runs without authentication and refuses
 * every SASL mechanism ("Received authentication for mechanism PLAIN which is not enabled"), so there a
 * URI that must connect carries none. Tests that prove the credentials path itself decide with this too.
 */
export function mongoTakesCredentials(env: Pick<TestEnv, 'mongoServer'> = testEnv()): boolean {
  return env.mongoServer !== 'ferretdb2';
}

/** A short random suffix so concurrent test files never share a database, bucket or namespace. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}
