// Runs the built helm and kubectl (first on testEnv().path) against charts/gochive, and parses what
// they print. Values go in through stdin (`-f -`) so tests leave no temp files behind.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { repoRoot, testEnv } from '../../support/testenv.js';

export const chartDir = path.join(repoRoot, 'charts', 'gochive');

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` with the test env's PATH and KUBECONFIG; never throws on a non-zero exit. */
export function runTool(
  cmd: 'helm' | 'kubectl',
  args: string[],
  opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<ToolResult> {
  const env = testEnv();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: repoRoot,
      env: {
        ...process.env,
        PATH: env.path,
        KUBECONFIG: env.kubeconfig,
        // helm keeps caches and repository config under HOME; keep them out of the user's.
        HELM_CACHE_HOME: path.join(repoRoot, '.testenv', 'helm', 'cache'),
        HELM_CONFIG_HOME: path.join(repoRoot, '.testenv', 'helm', 'config'),
        HELM_DATA_HOME: path.join(repoRoot, '.testenv', 'helm', 'data'),
        ...opts.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd} (is it on the test env PATH?): ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like runTool, but throws with the tool's stderr when it fails. */
export async function mustRun(
  cmd: 'helm' | 'kubectl',
  args: string[],
  opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<string> {
  const r = await runTool(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** Parses a multi-document YAML stream, dropping empty documents; fails on any YAML error. */
export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`invalid YAML from helm: ${doc.errors[0]!.message}`);
    const v = doc.toJS() as K8sObject | null;
    if (v) out.push(v);
  }
  return out;
}

/** `helm template` with the given values; returns the raw result so callers can test failures. */
export function helmTemplateRaw(
  values: unknown,
  opts: { release?: string; namespace?: string; extraArgs?: string[] } = {},
): Promise<ToolResult> {
  return runTool(
    'helm',
    [
      'template',
      opts.release ?? 'gochive',
      chartDir,
      '--namespace',
      opts.namespace ?? 'gochive',
      '-f',
      '-',
      ...(opts.extraArgs ?? []),
    ],
    { input: stringify(values ?? {}) },
  );
}

/** `helm template` that must succeed; returns the rendered objects. */
export async function helmTemplate(
  values: unknown,
  opts: { release?: string; namespace?: string; extraArgs?: string[] } = {},
): Promise<K8sObject[]> {
  const r = await helmTemplateRaw(values, opts);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}):\n${r.stderr}`);
  return parseManifests(r.stdout);
}

export function byKind(objs: K8sObject[], kind: string): K8sObject[] {
  return objs.filter((o) => o.kind === kind);
}

export function one(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name ? ` named ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}

/** Values every rendering test starts from: a URI template and a credentials Secret, as production. */
export const baseValues = {
  mongodb: {
    uriTemplate: 'mongodb+srv://{username}:{password}@prod-{host}-shard01.example.com/?tls=true',
    existingSecret: 'gochive-mongodb',
  },
};
