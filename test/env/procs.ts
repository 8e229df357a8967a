// Server processes: started detached (so they outlive `testenv up`), output to a log file, and stopped
// only by the pid we recorded — after checking the pid still runs the binary we started (pids get reused).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { sleep } from './lock.js';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True if `pid` is alive and runs `binary` (per /proc/<pid>/exe, or argv[0] where exe is unreadable). */
export function isOurs(pid: number, binary: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
    return exe === binary;
  } catch {
    try {
      const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
      return argv0 === binary;
    } catch {
      return false;
    }
  }
}

/** Zombie-aware: a defunct child of ours still "exists" for kill(0) until reaped. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

export interface Started {
  pid: number;
  /** Resolves with the exit code (or signal) when the process ends while we still hold it. */
  exited: Promise<string>;
  hasExited: () => boolean;
}

export function startDetached(
  binary: string,
  args: string[],
  logFile: string,
  cwd: string,
  extraEnv: Record<string, string> = {},
  user?: { uid: number; gid: number },
): Started {
  const fd = openSync(logFile, 'w');
  const child = spawn(binary, args, {
    cwd,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...extraEnv, GOTRACEBACK: 'all' },
    ...(user ?? {}),
  });
  closeSync(fd);
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(signal ? `signal ${signal}` : `exit code ${code}`);
    });
    child.once('error', (err) => {
      done = true;
      resolve(`spawn error: ${err.message}`);
    });
  });
  if (child.pid === undefined) {
    // spawn failed synchronously (e.g. ENOENT); 'error' will fire.
    return { pid: -1, exited, hasExited: () => true };
  }
  // Let the CLI exit while the server keeps running.
  child.unref();
  return { pid: child.pid, exited, hasExited: () => done };
}

/** `signal` (SIGTERM), then SIGKILL after `graceMs`; returns once the pid is gone. Only for pids verified
 * as ours. */
export async function stopPid(
  pid: number,
  graceMs = 10000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  const signalGroup = (sig: NodeJS.Signals): void => {
    // The server leads its own process group (detached); signal the group so helpers it forked go too.
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signalGroup(signal);
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && !isZombie(pid)) {
    if (Date.now() > deadline) {
      signalGroup('SIGKILL');
      await sleep(200);
      if (!isAlive(pid) || isZombie(pid)) break;
      if (Date.now() > deadline + 5000) throw new Error(`pid ${pid} did not exit after SIGKILL`);
    }
    await sleep(100);
  }
}
