// jest globalTeardown (integration project): drop this run's lease on the test servers; the last jest
// run out stops servers that a jest run started (never ones started by `make testenv-up`).
import { spawnSync } from 'node:child_process';
import path from 'node:path';

interface ProjectConfig {
  rootDir: string;
}

export default async function globalTeardown(_global: unknown, project: ProjectConfig): Promise<void> {
  const root = project.rootDir;
  const res = spawnSync(
    process.execPath,
    [path.join(root, 'test', 'env', 'launch.mjs'), 'release', '--pid', String(process.pid)],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (res.status !== 0) {
    throw new Error(`stopping the test servers failed (testenv release exited ${res.status ?? res.signal})`);
  }
}
