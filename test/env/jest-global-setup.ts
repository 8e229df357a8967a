// jest globalSetup (integration project): reuse the running test servers if .testenv/ describes healthy
// ones, else build/start them; then put their variables into process.env, which the test workers
// (spawned after this) inherit.
//
// Jest loads this file through its own CommonJS transform, where our ESM sources (`./x.js` imports,
// import.meta) do not load. So this file imports nothing relative: it transpiles test/env/*.ts with swc
// into .testenv/lib/<hash>/ and runs the testenv CLI from there in a child process.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { transformSync, version as swcVersion } from '@swc/core';

interface ProjectConfig {
  rootDir: string;
}

/** Transpiles test/env/*.ts (not the jest glue) once per content hash; returns the path of cli.js. */
function compileTestenv(root: string): string {
  const src = path.join(root, 'test', 'env');
  const files = readdirSync(src)
    .filter((f) => f.endsWith('.ts') && !f.startsWith('jest-global-') && !f.endsWith('.test.ts'))
    .sort();
  const hash = createHash('sha256').update(swcVersion);
  for (const f of files)
    hash
      .update(f)
      .update('\0')
      .update(readFileSync(path.join(src, f)))
      .update('\0');
  const libRoot = path.join(root, '.testenv', 'lib');
  const out = path.join(libRoot, hash.digest('hex').slice(0, 16));
  if (!existsSync(path.join(out, 'cli.js'))) {
    const tmp = `${out}.tmp-${process.pid}`;
    mkdirSync(tmp, { recursive: true });
    for (const f of files) {
      const { code } = transformSync(readFileSync(path.join(src, f), 'utf8'), {
        filename: f,
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'es6' },
      });
      writeFileSync(path.join(tmp, f.replace(/\.ts$/, '.js')), code);
    }
    try {
      renameSync(tmp, out);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // a concurrent jest run won the race
    }
    // Drop builds of older sources (a day old, so no concurrent run still needs them).
    for (const d of readdirSync(libRoot)) {
      const p = path.join(libRoot, d);
      if (p !== out && Date.now() - statSync(p).mtimeMs > 86_400_000)
        rmSync(p, { recursive: true, force: true });
    }
  }
  return path.join(out, 'cli.js');
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
  const cli = compileTestenv(root);
  (globalThis as { __gochiveTestenvCli?: string }).__gochiveTestenvCli = cli;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.stderr.write('\n');
  const res = spawnSync(process.execPath, [cli, 'acquire', '--pid', String(process.pid)], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
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
