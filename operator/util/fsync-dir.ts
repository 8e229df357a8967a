// Makes a rename or link inside a directory durable: the new name survives a power loss only once the
// directory itself is fsynced.
import { open } from 'node:fs/promises';

/** fsyncs directory `dir`; a filesystem that refuses fsync on directories is tolerated (the rename is still atomic). */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename or link is still atomic.
  } finally {
    await fh.close();
  }
}
