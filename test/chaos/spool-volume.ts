// A replica's spool volume. In the chart the spool is an emptyDir with a size limit; here it is a
// tmpfs of a fixed size when the campaign may mount one (root), so "fill the spool volume to its cap"
// is real: the next write fails with ENOSPC. Without mount rights it is a plain directory and the
// campaign squeezes the per-policy spool cap instead (fault `spool-cap`).
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class SpoolVolume {
  private junk?: string;

  private constructor(
    readonly dir: string,
    readonly mounted: boolean,
    readonly sizeBytes: number,
    readonly mountError?: string,
  ) {}

  static async create(dir: string, sizeBytes: number, tryTmpfs: boolean): Promise<SpoolVolume> {
    mkdirSync(dir, { recursive: true });
    if (tryTmpfs && process.getuid?.() === 0) {
      try {
        await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', dir], {
          timeout: 10_000,
        });
        return new SpoolVolume(dir, true, sizeBytes);
      } catch (err) {
        return new SpoolVolume(dir, false, sizeBytes, (err as Error).message.split('\n')[0]);
      }
    }
    return new SpoolVolume(
      dir,
      false,
      sizeBytes,
      tryTmpfs ? 'not root: cannot mount a tmpfs' : 'tmpfs disabled (--no-tmpfs)',
    );
  }

  get filled(): boolean {
    return this.junk !== undefined;
  }

  /** Writes a junk file until the volume refuses more (ENOSPC). Returns the bytes written. */
  async fill(): Promise<number> {
    if (!this.mounted) throw new Error(`spool ${this.dir} is not a size-limited volume`);
    if (this.junk) return 0;
    const file = path.join(this.dir, `.chaos-junk-${Date.now()}`);
    this.junk = file;
    const fh = await open(file, 'w');
    const chunk = Buffer.alloc(1 << 20, 0x5a);
    let written = 0;
    try {
      // Bounded: never more than the volume size (plus one chunk) even if ENOSPC never comes.
      while (written <= this.sizeBytes) {
        try {
          const { bytesWritten } = await fh.write(chunk, 0, chunk.length);
          written += bytesWritten;
          if (bytesWritten < chunk.length) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
            // Top up the last partial megabyte in small pieces so the volume is really full.
            const small = Buffer.alloc(4096, 0x5a);
            for (;;) {
              try {
                written += (await fh.write(small)).bytesWritten;
              } catch {
                break;
              }
            }
            break;
          }
          throw err;
        }
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
    return written;
  }

  async unfill(): Promise<void> {
    const file = this.junk;
    this.junk = undefined;
    if (file) await rm(file, { force: true });
  }

  /** Unmounts (lazily if busy) and removes the directory. Never throws. */
  async destroy(): Promise<void> {
    await this.unfill().catch(() => undefined);
    if (this.mounted) {
      await run('umount', [this.dir], { timeout: 10_000 }).catch(() =>
        run('umount', ['-l', this.dir], { timeout: 10_000 }).catch(() => undefined),
      );
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Unmounts a tmpfs left behind by a crashed campaign (best effort, synchronous-ish). */
export async function unmountIfMounted(dir: string): Promise<void> {
  await run('umount', [dir], { timeout: 10_000 }).catch(() =>
    run('umount', ['-l', dir], { timeout: 10_000 }).catch(() => undefined),
  );
}
