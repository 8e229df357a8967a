// jest globalTeardown (integration project): drop this run's lease on the test servers; the last jest
// run out stops servers that a jest run started (never ones started by `make testenv-up`).
import { spawnSync } from 'node:child_process';

interface ProjectConfig {
  rootDir: string;
}

export default async function globalTeardown(_global: unknown, project: ProjectConfig): Promise<void> {
  const cli = (globalThis as { __gochiveTestenvCli?: string }).__gochiveTestenvCli;
  if (!cli) return; // setup never got as far as starting anything
  const res = spawnSync(process.execPath, [cli, 'release', '--pid', String(process.pid)], {
    cwd: project.rootDir,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (res.status !== 0)
    throw new Error(`stopping the test servers failed (testenv release exited ${res.status ?? res.signal})`);
}
