// Destination for file:// — objects are files below a root directory, keys are relative paths.
//
// Atomic create: the body is written to a hidden temp file beside the target, fsynced, then link()ed to
// the final name — link fails if the name exists, which is the file-system form of If-None-Match: *.
// The whole-object SHA-256 and metadata live in a JSON sidecar `.<name>.meta.json` (hidden, so listings
// skip it, like temp files) written before the link; a sidecar-less object (crash between link and
// rename) still reads fine, it only lacks the recorded hash. Path segments may not start with '.'.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileDestinationConfig } from '../archiver/config.js';
import {
  ObjectExistsError,
  type Destination,
  type FolderEntry,
  type HeadResult,
  type ObjectInfo,
  type PutOptions,
} from './destination.js';
import { StorageError } from './errors.js';
import { fsyncDir } from '../util/fsync-dir.js';

interface Sidecar {
  sha256: string;
  size: number;
  metadata: Record<string, string>;
  createdAt: string;
}

export class FileDestination implements Destination {
  readonly description: string;
  private readonly root: string;

  constructor(cfg: FileDestinationConfig) {
    if (!path.isAbsolute(cfg.root))
      throw new StorageError(
        'InvalidKey',
        `file destination root '${cfg.root}' must be an absolute path (file:///abs/dir)`,
      );
    this.root = path.resolve(cfg.root);
    this.description = `file://${this.root}/${cfg.prefix}`;
  }

  private pathOf(key: string): string {
    const segments = key.split('/');
    if (!key || key.startsWith('/') || segments.some((s) => s === '' || s.startsWith('.'))) {
      throw new StorageError(
        'InvalidKey',
        `key '${key}' is not valid for a file destination (empty, absolute, or a segment starting with '.')`,
      );
    }
    return path.join(this.root, ...segments);
  }

  private sidecarOf(file: string): string {
    return path.join(path.dirname(file), `.${path.basename(file)}.meta.json`);
  }

  async putObject(key: string, body: () => Readable, opts: PutOptions): Promise<void> {
    const file = this.pathOf(key);
    const dir = path.dirname(file);
    await mkdir(dir, { recursive: true });
    const tag = randomBytes(6).toString('hex');
    const tmp = path.join(dir, `.${path.basename(file)}.${tag}.tmp`);
    const sideTmp = path.join(dir, `.${path.basename(file)}.${tag}.meta.tmp`);
    try {
      const hash = createHash('sha256');
      let bytes = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          bytes += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(body(), tap, createWriteStream(tmp, { flags: 'wx', flush: true }));
      const sha = hash.digest('base64');
      if (bytes !== opts.contentLength || sha !== opts.sha256Base64) {
        throw new StorageError(
          'BodyMismatch',
          `body of ${key} is ${bytes} bytes with sha256 ${sha}; declared ${opts.contentLength} bytes, ${opts.sha256Base64}`,
        );
      }
      const sidecar: Sidecar = {
        sha256: sha,
        size: bytes,
        metadata: { ...opts.metadata },
        createdAt: new Date().toISOString(),
      };
      await writeFile(sideTmp, JSON.stringify(sidecar), { flag: 'wx', flush: true });
      try {
        await link(tmp, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const existing = await this.headObject(key);
        if (existing?.size === opts.contentLength && existing.sha256Base64 === opts.sha256Base64) return; // our earlier attempt
        throw new ObjectExistsError(key);
      }
      await rename(sideTmp, this.sidecarOf(file));
      await fsyncDir(dir);
    } finally {
      await rm(tmp, { force: true });
      await rm(sideTmp, { force: true });
    }
  }

  async headObject(key: string): Promise<HeadResult | undefined> {
    const file = this.pathOf(key);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const side = JSON.parse(await readFile(this.sidecarOf(file), 'utf8')) as Sidecar;
      return { size, sha256Base64: side.sha256, metadata: side.metadata ?? {} };
    } catch {
      return { size, metadata: {} };
    }
  }

  /** `range.end` is inclusive, as in HTTP Range. */
  async getObject(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const file = this.pathOf(key);
    try {
      await stat(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new StorageError('NotFound', `no object ${key} under ${this.root}`);
      throw err;
    }
    return createReadStream(file, range ? { start: range.start, end: range.end } : {});
  }

  async *list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo> {
    try {
      if (!(await stat(this.root)).isDirectory()) throw new Error('not a directory');
    } catch {
      throw new StorageError(
        'NoSuchBucket',
        `directory ${this.root} does not exist (check the file:// path)`,
      );
    }
    // Start at the deepest directory the prefix names; keys are then filtered and sorted as S3 would.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const keys: ObjectInfo[] = [];
    await this.walk(dirPart, keys);
    const selected = keys.filter(
      (k) => k.key.startsWith(prefix) && (startAfter === undefined || k.key > startAfter),
    );
    selected.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* selected;
  }

  async *listFolder(prefix: string): AsyncIterable<FolderEntry> {
    if (prefix && !prefix.endsWith('/'))
      throw new StorageError('InvalidKey', `folder prefix '${prefix}' must be empty or end with '/'`);
    const rel = prefix.slice(0, -1);
    const dir = rel ? this.pathOf(rel) : this.root;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw err;
    }
    const out: FolderEntry[] = [];
    for (const e of entries) {
      if (e.name.startsWith('.')) continue; // sidecars and temp files
      if (e.isDirectory()) out.push({ kind: 'folder', prefix: `${prefix}${e.name}/` });
      else if (e.isFile()) {
        const s = await stat(path.join(dir, e.name));
        out.push({ kind: 'object', key: `${prefix}${e.name}`, size: s.size, lastModified: s.mtime });
      }
    }
    const name = (e: FolderEntry): string => (e.kind === 'object' ? e.key : e.prefix);
    out.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
    yield* out;
  }

  private async walk(rel: string, out: ObjectInfo[]): Promise<void> {
    const dir = rel ? path.join(this.root, ...rel.split('/')) : this.root;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code === 'ENOENT' ||
        (err as NodeJS.ErrnoException).code === 'ENOTDIR'
      )
        return;
      throw err;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue; // sidecars and temp files
      const key = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await this.walk(key, out);
      else if (e.isFile()) {
        const s = await stat(path.join(dir, e.name));
        out.push({ key, size: s.size, lastModified: s.mtime });
      }
    }
  }

  async deleteObject(key: string): Promise<void> {
    const file = this.pathOf(key);
    await rm(file, { force: true });
    await rm(this.sidecarOf(file), { force: true });
    await fsyncDir(path.dirname(file)).catch(() => undefined); // the directory may be gone already
  }

  async close(): Promise<void> {}
}
