// Smoke: the built helm and kubectl are first on the env's PATH and talk to the test cluster.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testEnv } from '../../support/testenv.js';

const run = promisify(execFile);

describe('built kubectl and helm', () => {
  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    PATH: testEnv().path,
    KUBECONFIG: testEnv().kubeconfig,
  });

  test('kubectl get --raw /readyz', async () => {
    const { stdout } = await run('kubectl', ['get', '--raw', '/readyz'], { env: env(), timeout: 30_000 });
    expect(stdout.trim()).toBe('ok');
    const { stdout: version } = await run('kubectl', ['version', '-o', 'json'], {
      env: env(),
      timeout: 30_000,
    });
    const v = JSON.parse(version) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(v.clientVersion.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    expect(v.serverVersion.gitVersion).toBe(v.clientVersion.gitVersion);
  });

  test('helm version, and helm reaches the cluster', async () => {
    const { stdout } = await run('helm', ['version', '--short'], { env: env(), timeout: 30_000 });
    expect(stdout).toMatch(/^v3\./);
    const { stdout: list } = await run('helm', ['list', '--all-namespaces', '-o', 'json'], {
      env: env(),
      timeout: 30_000,
    });
    expect(Array.isArray(JSON.parse(list))).toBe(true);
  });
});
