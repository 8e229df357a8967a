// CI runs the short chaos campaign (test/chaos, `make chaos-short`) as part of the one test command:
// about 60 s of faults against the real operator and engine, then every SPEC §5 invariant is checked.
// The campaign runs as its own process (it kill -9s operators, stalls servers and mounts spool
// volumes, and must clean up after itself even if jest gives up on it).
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../env/paths.js';

const MAIN = path.join(repoRoot, 'dist', 'test', 'chaos', 'main.js');

function newestTs(dir: string): number {
  let t = 0;
  for (const f of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, f.name);
    if (f.isDirectory()) t = Math.max(t, newestTs(p));
    else if (f.name.endsWith('.ts') && !f.name.endsWith('.test.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/**
 * The campaign and the operator run from dist/: build it when it is missing or older than the sources.
 * Serialised with the operator tests' build (same lock directory), so two jest workers never run tsc
 * over dist/ at once.
 */
function ensureBuilt(): void {
  const opMain = path.join(repoRoot, 'dist', 'operator', 'cli', 'main.js');
  const built =
    existsSync(MAIN) && existsSync(opMain) ? Math.min(statSync(MAIN).mtimeMs, statSync(opMain).mtimeMs) : 0;
  const src = Math.max(
    newestTs(path.join(repoRoot, 'test', 'chaos')),
    newestTs(path.join(repoRoot, 'operator')),
  );
  if (built > src) return;
  const lock = path.join(os.tmpdir(), 'gochive-operator-tests-tsc.lock');
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline)
        throw new Error(`could not take ${lock} within 3 minutes (remove it if no build runs)`);
      spawnSync('sleep', ['0.5']);
    }
  }
  try {
    // tsc emits even when some other file has a type error; the campaign only needs the files to exist.
    spawnSync(
      process.execPath,
      [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', repoRoot],
      { cwd: repoRoot, stdio: 'ignore', timeout: 300_000 },
    );
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  if (!existsSync(MAIN))
    throw new Error(`${MAIN} is missing after building: run 'npx tsc -p .' and look at the errors`);
  // Incremental tsc leaves outputs of unchanged sources alone: mark the entry points current.
  const now = new Date();
  for (const f of [MAIN, opMain]) utimesSync(f, now, now);
}

test(
  'short chaos campaign: nothing lost, no invariant violated under kills, stalls, full spools and policy churn',
  async () => {
    ensureBuilt();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gochive-chaos-test-'));
    const report = path.join(dir, 'report.json');
    const child = spawn(process.execPath, [MAIN, '--short', `--report=${report}`], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let stdout = '';
    const stderr: string[] = [];
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => {
      for (const line of c.toString('utf8').split('\n')) if (line) stderr.push(line);
      if (stderr.length > 400) stderr.splice(0, stderr.length - 400);
    });
    // Bounded: the campaign bounds itself too (at most 19 min in short mode, drain ceiling included);
    // this is the backstop (SIGTERM lets it clean up).
    const code = await new Promise<number | null>((resolve) => {
      const term = setTimeout(() => child.kill('SIGTERM'), 21 * 60_000);
      const kill = setTimeout(() => child.kill('SIGKILL'), 24 * 60_000);
      child.on('exit', (c, sig) => {
        clearTimeout(term);
        clearTimeout(kill);
        resolve(c ?? (sig ? 128 : null));
      });
    });
    const summary = `exit code ${code}\n${stdout}\n--- campaign log (tail) ---\n${stderr.slice(-60).join('\n')}`;
    process.stdout.write(`${stdout}\n`);
    let parsed: { check?: { violations?: unknown[]; totals?: { lost?: number } } } | undefined;
    if (existsSync(report)) parsed = JSON.parse(readFileSync(report, 'utf8')) as typeof parsed;
    rmSync(dir, { recursive: true, force: true });
    // Exit 1 means violations; anything else (2, 3, a signal) means the campaign itself broke.
    if (code !== 0 && code !== 1) throw new Error(`the chaos campaign failed:\n${summary}`);
    expect(parsed?.check?.totals?.lost).toBe(0);
    // Every invariant, the status counts included (exact since the journal counters and checkpoints).
    expect(parsed?.check?.violations ?? []).toEqual([]);
  },
  25 * 60_000,
);
