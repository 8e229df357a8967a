// What tests and humans read: a kubeconfig for the admin user and `.testenv/env` with shell export lines.
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { envFilePath, kubeconfigPath } from './paths.js';
import type { MongoServer } from './mongo-choice.js';
import { writeAtomic, type Endpoints } from './state.js';
import { toolCacheDir, tools } from './tools.js';

const b64 = (file: string): string => readFileSync(file).toString('base64');

export function writeKubeconfig(ep: Endpoints): void {
  const name = 'gochive-testenv';
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: ep.apiserver, 'certificate-authority-data': b64(ep.tls.ca) } }],
    users: [
      {
        name: `${name}-admin`,
        user: { 'client-certificate-data': b64(ep.tls.cert), 'client-key-data': b64(ep.tls.key) },
      },
    ],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin`, namespace: 'default' } }],
    'current-context': name,
  };
  writeAtomic(kubeconfigPath, stringify(cfg));
}

/** Directories of the built kubectl and helm, to put first on PATH. */
export function toolPathDirs(): string[] {
  return [toolCacheDir(tools.kubernetes), toolCacheDir(tools.helm)];
}

/** PATH with the built tools first and no duplicate entries. */
export function toolPath(basePath: string | undefined): string {
  const dirs = toolPathDirs();
  const rest = (basePath ?? '').split(path.delimiter).filter((d) => d && !dirs.includes(d));
  return [...dirs, ...rest].join(path.delimiter);
}

export function envVars(ep: Endpoints, mongo: MongoServer): Record<string, string> {
  return {
    KUBECONFIG: kubeconfigPath,
    MONGODB_URI: ep.mongoUri,
    // Which server MONGODB_URI is (test/env/mongo-choice.ts): tests and benchmarks report or branch on it.
    GOCHIVE_MONGO: mongo,
    AWS_ENDPOINT_URL_S3: ep.s3.endpoint,
    AWS_ACCESS_KEY_ID: ep.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ep.s3.secretAccessKey,
    AWS_REGION: ep.s3.region,
    PATH: toolPath(process.env.PATH),
  };
}

const shellQuote = (v: string): string => `'${v.replace(/'/g, `'\\''`)}'`;

export function writeEnvFile(ep: Endpoints, mongo: MongoServer): void {
  const lines = [
    '# Written by `make testenv-up` (test/env). Use: source .testenv/env',
    ...Object.entries(envVars(ep, mongo)).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
  ];
  writeAtomic(envFilePath, lines.join('\n') + '\n');
}

/** Parses the export lines back (same format as test/support/testenv.ts reads). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!;
    if (v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1).replace(/'\\''/g, "'");
    out[m[1]!] = v;
  }
  return out;
}

/**
 * The env file as `make testenv-status` prints it: secret values (keys, passwords, tokens) and the
 * userinfo of URIs replaced by `***`, since a terminal or CI log is no place for them even for local
 * test servers. `source .testenv/env` still gives the real values.
 */
export function redactEnvFile(text: string): string {
  return text
    .split('\n')
    .map((line) =>
      line
        .replace(/^(export [A-Z0-9_]*(?:SECRET|PASSWORD|TOKEN)[A-Z0-9_]*=).*$/, '$1***')
        // redactUri's pattern (operator/util/redact.ts): launch.mjs compiles test/env on its own, so
        // nothing outside this folder can be imported here.
        .replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s"']+)@/gi, '$1***@'),
    )
    .join('\n');
}
