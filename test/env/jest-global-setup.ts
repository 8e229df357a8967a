// jest globalSetup (integration project): reuse the running test servers if .testenv/ describes healthy
// ones, else build/start them; then put their variables into process.env, which the test workers
// (spawned after this) inherit.
//
// Jest loads this file through its own CommonJS transform, where our ESM sources (`./x.js` imports,
// import.meta) do not load. So it imports nothing relative and runs the testenv CLI in a child process
// through test/env/launch.mjs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProjectConfig {
  rootDir: string;
}

function parseEnvFile(text: string): Record<string, string> {
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

export default async function globalSetup(_global: unknown, project: ProjectConfig): Promise<void> {
  const root = project.rootDir;
  process.stderr.write('\n');
  const res = spawnSync(
    process.execPath,
    [path.join(root, 'test', 'env', 'launch.mjs'), 'acquire', '--pid', String(process.pid)],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (res.status !== 0) {
    throw new Error(
      `the test servers did not start (testenv acquire exited ${res.status ?? res.signal}); see the messages above`,
    );
  }
  const vars = parseEnvFile(readFileSync(path.join(root, '.testenv', 'env'), 'utf8'));
  for (const [k, v] of Object.entries(vars)) {
    if (k === 'PATH') {
      // The file's PATH starts with the built kubectl/helm dirs; keep this process's PATH after them.
      const seen = new Set<string>();
      process.env.PATH = [...v.split(path.delimiter), ...(process.env.PATH ?? '').split(path.delimiter)]
        .filter((d) => d && !seen.has(d) && seen.add(d))
        .join(path.delimiter);
    } else {
      process.env[k] = v;
    }
  }
}
