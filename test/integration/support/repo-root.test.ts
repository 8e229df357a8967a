// Compiled helpers (dist/test/…, used by `make demo` and the operator test harness) must find the
// same repository root as the sources do; the compiled copy once resolved to dist/.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../support/testenv.js';

test('the compiled test/support/testenv.js finds the repository root, not dist/', () => {
  const compiled = path.join(repoRoot, 'dist', 'test', 'support', 'testenv.js');
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(compiled)}); console.log(m.repoRoot);`,
    ],
    { encoding: 'utf8' },
  );
  expect(r.stderr).toBe('');
  expect(r.stdout.trim()).toBe(repoRoot);
});
