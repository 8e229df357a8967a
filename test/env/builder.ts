// Builds each test server once per version into the cache, from its wrapper module, with the local Go
// toolchain and the module proxy. A binary that is already in the cache is used as is.
import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import path from 'node:path';
import { withLock } from './lock.js';
import { allTools, binaryPath, toolCacheDir, wrapperDir, type Tool } from './tools.js';

export type Log = (msg: string) => void;
const defaultLog: Log = (m) => process.stderr.write(m + '\n');

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function parseGoVersion(s: string): number[] | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(s);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

function older(a: number[], b: number[]): boolean {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

/** The `go` line of the wrapper's go.mod: the oldest toolchain that can build it. */
function requiredGo(tool: Tool): string {
  const mod = readFileSync(path.join(wrapperDir(tool), 'go.mod'), 'utf8');
  return /^go\s+(\S+)/m.exec(mod)?.[1] ?? '1.0';
}

/** Fails with a clear message when Go is missing or too old for `tool`'s wrapper module. */
export function checkGo(tool: Tool): void {
  const res = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' });
  const need = requiredGo(tool);
  if (res.error) {
    const code = (res.error as NodeJS.ErrnoException).code;
    throw new Error(
      `cannot build ${tool.name} ${tool.version}: the Go toolchain is not installed (running 'go' failed: ${code}). ` +
        `Install Go >= ${need} (https://go.dev/dl/) and put it on PATH; the test servers are built from source once and cached in ${toolCacheDir(tool)}.`,
    );
  }
  const have = parseGoVersion(res.stdout.trim());
  const want = parseGoVersion(need);
  if (have && want && older(have, want)) {
    throw new Error(
      `cannot build ${tool.name} ${tool.version}: it needs Go >= ${need} but 'go' is ${res.stdout.trim()}. Install a newer Go (https://go.dev/dl/).`,
    );
  }
}

/** Heuristic on go's output: distinguish "cannot reach the module proxy" from a compile error. */
function explainFailure(output: string): string {
  if (
    /dial tcp|no such host|i\/o timeout|connection refused|TLS handshake|proxyconnect|unexpected EOF|GOPROXY|module lookup disabled|403 Forbidden|404 Not Found|410 Gone/i.test(
      output,
    )
  ) {
    return `could not download its Go modules — is the module proxy reachable (GOPROXY=${process.env.GOPROXY ?? goEnv('GOPROXY')})?`;
  }
  if (/go: go\.mod requires go|toolchain not available/i.test(output))
    return 'the Go toolchain is too old for its go.mod';
  return 'go build failed';
}

function goEnv(name: string): string {
  return spawnSync('go', ['env', name], { encoding: 'utf8' }).stdout?.trim() ?? '';
}

function runGoBuild(
  tool: Tool,
  bin: Tool['binaries'][number],
  out: string,
  logFile: string,
): Promise<number> {
  const args = ['build', '-trimpath'];
  if (bin.ldflags) args.push('-ldflags', bin.ldflags);
  args.push('-o', out, bin.pkg);
  const fd = openSync(logFile, 'w');
  const child = spawn('go', args, {
    cwd: wrapperDir(tool),
    stdio: ['ignore', fd, fd],
    // GOTOOLCHAIN=local: never download another toolchain behind the user's back.
    // CGO_ENABLED=0: static binaries, no C compiler needed. -mod=readonly: go.mod/go.sum are the pins.
    env: { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly', GOWORK: 'off' },
  });
  closeSync(fd);
  return new Promise((resolve) => {
    child.once('error', () => resolve(127));
    child.once('exit', (code) => resolve(code ?? 1));
  });
}

/** Builds any missing binary of `tool`; returns the seconds spent building (0 when all were cached). */
export async function ensureTool(tool: Tool, log: Log = defaultLog): Promise<number> {
  const missing = tool.binaries.filter((b) => !isExecutable(binaryPath(tool, b.name)));
  if (missing.length === 0) return 0;
  checkGo(tool);
  const dir = toolCacheDir(tool);
  mkdirSync(dir, { recursive: true });
  let spent = 0;
  // One builder per tool at a time, across processes (two jest runs may start together on a cold cache).
  await withLock(path.join(dir, '.build.lock'), `the build of ${tool.name}`, 120 * 60_000, async () => {
    for (const bin of missing) {
      const target = binaryPath(tool, bin.name);
      if (isExecutable(target)) continue; // built by whoever held the lock before us
      const logFile = path.join(dir, `build-${bin.name}.log`);
      const tmp = `${target}.tmp-${process.pid}`;
      log(
        `testenv: building ${bin.name} (${tool.name} ${tool.version}) from ${path.relative(process.cwd(), wrapperDir(tool)) || '.'}; log: ${logFile}`,
      );
      const t0 = Date.now();
      const code = await runGoBuild(tool, bin, tmp, logFile);
      const secs = Math.round((Date.now() - t0) / 1000);
      if (code !== 0) {
        rmSync(tmp, { force: true });
        const output = readFileSync(logFile, 'utf8');
        const tail = output.trim().split('\n').slice(-8).join('\n  ');
        throw new Error(
          `building ${bin.name} (${tool.name} ${tool.version}) failed after ${secs}s: ${explainFailure(output)}\n  see ${logFile}:\n  ${tail}`,
        );
      }
      renameSync(tmp, target);
      spent += secs;
      log(`testenv: built ${bin.name} (${tool.name} ${tool.version}) in ${secs}s`);
    }
  });
  return spent;
}

/** Builds every tool the environment needs, in order, and reports the total. */
export async function ensureAllTools(log: Log = defaultLog): Promise<void> {
  let total = 0;
  for (const tool of allTools) total += await ensureTool(tool, log);
  if (total > 0)
    log(`testenv: builds took ${total}s in all; cached under ${path.dirname(toolCacheDir(allTools[0]!))}`);
}
