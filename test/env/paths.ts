// Where the test environment keeps things: binaries in a per-user cache outside the repo (built once per
// version), run state and logs in the repo's gitignored .testenv/, server data in a temp dir.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory of gochive's package.json above this module, wherever it was compiled to
 * (test/env via jest, dist/test/env via tsc, .testenv/lib/<hash> via jest's global setup). */
function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'gochive') return dir;
    } catch {
      /* no package.json here */
    }
    const up = path.dirname(dir);
    if (up === dir)
      throw new Error(`testenv: cannot find gochive's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const repoRoot = findRepoRoot();
export const toolsDir = path.join(repoRoot, 'test', 'env', 'tools');
export const stateDir = path.join(repoRoot, '.testenv');
export const logsDir = path.join(stateDir, 'logs');
export const envFilePath = path.join(stateDir, 'env');
export const kubeconfigPath = path.join(stateDir, 'kubeconfig');
export const stateFilePath = path.join(stateDir, 'state.json');
export const lockFilePath = path.join(stateDir, 'lock');
export const leasesDir = path.join(stateDir, 'leases');

export function cacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'gochive', 'testenv');
}
