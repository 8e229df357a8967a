// A pid lock file: serialises `up`/`down` and builds between concurrent jest runs and humans.
// A lock whose owner pid is dead is stale and is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { isAlive } from './procs.js';

function tryAcquire(file: string): boolean {
  try {
    const fd = openSync(file, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function owner(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isFinite(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export async function withLock<T>(
  file: string,
  what: string,
  timeoutMs: number,
  fn: () => Promise<T>,
  log: (msg: string) => void = (m) => process.stderr.write(m + '\n'),
): Promise<T> {
  mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let told = false;
  while (!tryAcquire(file)) {
    const pid = owner(file);
    if (pid === process.pid) throw new Error(`${what}: lock ${file} is already held by this process`);
    if (pid === undefined || !isAlive(pid)) {
      // Stale lock from a crashed run (or a half-written one): take it over. Re-check after a beat so we
      // don't steal a lock whose owner is between create and write.
      await sleep(200);
      if (owner(file) === pid) {
        try {
          unlinkSync(file);
        } catch {
          /* someone else removed it */
        }
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: timed out after ${Math.round(timeoutMs / 1000)}s waiting for lock ${file} held by pid ${pid}`,
      );
    }
    if (!told) {
      log(`testenv: waiting for ${what} (lock held by pid ${pid})`);
      told = true;
    }
    await sleep(500);
  }
  try {
    return await fn();
  } finally {
    if (owner(file) === process.pid) unlinkSync(file);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
