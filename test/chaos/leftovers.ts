// What a campaign leaves behind if it is itself killed: its run.json names the processes and mounts it
// owns, so the next campaign stops those (only after checking each pid still runs the program we
// started) and unmounts the spool volumes. The run directory itself (logs, ledger) is kept, and
// pruned once it is two days old.
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAlive, isOurs } from '../env/procs.js';
import { unmountIfMounted } from './spool-volume.js';

export const RUN_DIR_PREFIX = 'gochive-chaos-';

export interface RunRecord {
  ownerPid: number;
  namespace: string;
  startedAt: string;
  servers: Array<{ pid: number; binary: string }>;
  operators: number[];
  mounts: string[];
  dataDirs: string[];
}

export function writeRunRecord(dir: string, rec: RunRecord): void {
  const file = path.join(dir, 'run.json');
  writeFileSync(`${file}.tmp`, JSON.stringify(rec, null, 2));
  renameSync(`${file}.tmp`, file);
}

function isOurOperator(pid: number, namespace: string): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('operator/cli/main.js') && cmd.includes(`--namespaces=${namespace}`);
  } catch {
    return false;
  }
}

/** Cleans up after campaigns whose owner process is gone. Returns what it did, for the log. */
export async function reapLeftovers(
  deleteNamespace?: (namespace: string) => Promise<void>,
): Promise<string[]> {
  const done: string[] = [];
  const tmp = os.tmpdir();
  for (const name of readdirSync(tmp)) {
    if (!name.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = path.join(tmp, name);
    const file = path.join(dir, 'run.json');
    if (!existsSync(file)) {
      // A finished run kept for inspection: pruned after two days.
      if (Date.now() - statSync(dir).mtimeMs > 2 * 86_400_000) {
        rmSync(dir, { recursive: true, force: true });
        done.push(`removed ${dir}, a kept run directory older than two days`);
      }
      continue;
    }
    let rec: RunRecord;
    try {
      rec = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
    } catch {
      continue;
    }
    if (isAlive(rec.ownerPid) || rec.ownerPid === process.pid) continue;
    for (const pid of rec.operators) {
      if (isOurOperator(pid, rec.namespace)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    for (const s of rec.servers) {
      if (isOurs(s.pid, s.binary)) {
        for (const sig of ['SIGCONT', 'SIGKILL'] as const) {
          try {
            process.kill(-s.pid, sig);
          } catch {
            /* gone */
          }
        }
      }
    }
    for (const m of rec.mounts) await unmountIfMounted(m);
    await deleteNamespace?.(rec.namespace).catch(() => undefined);
    rmSync(file, { force: true });
    done.push(`cleaned up after an interrupted campaign in ${dir} (namespace ${rec.namespace})`);
  }
  return done;
}
