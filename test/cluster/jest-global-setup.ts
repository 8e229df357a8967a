// jest globalSetup of the in-cluster suites (test/cluster/jest.config.js): `cluster.sh up` (reuses a
// running cluster; the binaries come from the test environment's cache), then the cluster's variables
// into process.env, which the test workers inherit. Like test/env's setup it imports nothing relative
// (jest loads it through its CommonJS transform).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProjectConfig {
  rootDir: string;
}

export default function globalSetup(_global: unknown, project: ProjectConfig): void {
  const root = project.rootDir;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const res = spawnSync('bash', [path.join(root, 'test', 'cluster', 'cluster.sh'), 'up'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (res.status !== 0)
    throw new Error(
      `the cluster did not start (cluster.sh up exited ${res.status ?? res.signal}); see above`,
    );
  for (const line of readFileSync(path.join(root, '.testenv', 'cluster', 'env'), 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]!] = m[2]!;
  }
  // The cluster's kubectl and helm first on PATH; the suites deploy the image `make cluster-image` built.
  process.env.PATH = `${process.env.GOCHIVE_CLUSTER_BIN}${path.delimiter}${process.env.PATH ?? ''}`;
  process.env.GOCHIVE_E2E_IN_CLUSTER = '1';
  process.env.GOCHIVE_E2E_IMAGE ??= 'gochive.local/gochive:cluster';
}
