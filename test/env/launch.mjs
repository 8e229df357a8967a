// Runs the testenv CLI straight from its TypeScript sources: transpiles test/env/*.ts with swc (no type
// check, milliseconds) into .testenv/lib/<content hash>/, then runs cli.js there with our arguments.
// Used by `make testenv-*` and by jest's global setup/teardown, so neither waits for the project's tsc
// build. `node dist/test/env/cli.js` (after `npm run build`) is the same CLI.
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
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import swc from '@swc/core';

const src = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(src, '../..');

function compile() {
  const files = readdirSync(src)
    .filter((f) => f.endsWith('.ts') && !f.startsWith('jest-global-') && !f.endsWith('.test.ts'))
    .sort();
  const hash = createHash('sha256').update(swc.version);
  for (const f of files)
    hash
      .update(f)
      .update('\0')
      .update(readFileSync(path.join(src, f)))
      .update('\0');
  const libRoot = path.join(root, '.testenv', 'lib');
  const out = path.join(libRoot, hash.digest('hex').slice(0, 16));
  if (existsSync(path.join(out, 'cli.js'))) return out;
  const tmp = `${out}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  for (const f of files) {
    const { code } = swc.transformSync(readFileSync(path.join(src, f), 'utf8'), {
      filename: f,
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'es6' },
    });
    writeFileSync(path.join(tmp, f.replace(/\.ts$/, '.js')), code);
  }
  try {
    renameSync(tmp, out);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // a concurrent run won the race; its copy is identical
  }
  // Drop copies of older sources once they are a day old (no run still in progress needs them).
  for (const d of readdirSync(libRoot)) {
    const p = path.join(libRoot, d);
    if (p !== out && Date.now() - statSync(p).mtimeMs > 86_400_000)
      rmSync(p, { recursive: true, force: true });
  }
  return out;
}

await import(pathToFileURL(path.join(compile(), 'cli.js')).href);
