// Spool stage: the policy's private directory (I4) and the append-only files of each bundle.
//
//   <spoolRoot>/<namespace>/<name>/
//     lock                      pid of the process working on this policy (one writer per machine)
//     journal.json              see journal.ts
//     bundles/<bundleId>/docs.bson     raw documents exactly as the server sent them (mongodump layout)
//     bundles/<bundleId>/ids.bson      one small record per document: {_id, c: cutoff ms, a: age ms, g: {i: guard}}
//     bundles/<bundleId>/bundle.tar.gz the sealed bundle (bundle/writer.ts)
//
// Documents go straight to disk as they stream from the cursor; nothing of a batch is held in memory
// beyond a 1 MiB write buffer (I5). The ids file is what the delete stage reads back, so `_id`s of a big
// bundle never sit in memory either. Appends become durable at checkpoint boundaries: finish() cuts off
// anything past the last checkpoint and fsyncs, and the journal then records the committed lengths; on
// restart files are truncated back to those lengths, so a crash mid-append leaves nothing behind.
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BSON } from 'mongodb';
import { splitBsonDocuments } from '../bundle/bson-stream.js';
import type { DocMeta } from './fetch.js';
import { buildRawDocument, forEachElement, T, type RawValue } from './raw-bson.js';

const WRITE_BUFFER = 1 << 20;

/** Lengths and ranges of what is durably in a bundle's spool files. */
export interface SpoolCommit {
  docs: number;
  docsBytes: number;
  idsBytes: number;
  ageMinMs?: number;
  ageMaxMs?: number;
}

export const EMPTY_COMMIT: SpoolCommit = { docs: 0, docsBytes: 0, idsBytes: 0 };

/** Turns a Kubernetes-ish name into one safe path segment. */
export function pathSegment(s: string, what: string): string {
  if (!s || s === '.' || s === '..' || /[/\\\0]/.test(s)) {
    throw new Error(`${what} '${s}' cannot be used as a spool directory name (no '/', '\\', '.', '..')`);
  }
  return s;
}

export class SpoolLockedError extends Error {
  constructor(
    public readonly dir: string,
    public readonly pid: number,
  ) {
    super(`spool ${dir} is in use by process ${pid}; one policy is archived by one process at a time`);
    this.name = 'SpoolLockedError';
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Spool directories locked by this process (the pid in a lock file cannot tell two workers of one process apart). */
const heldLocks = new Set<string>();
/** Spool directories this process holds only for a moment (the operator's journal sweep): when they are free again. */
const briefHolds = new Map<string, Promise<void>>();

export class Spool {
  private constructor(readonly dir: string) {}

  /**
   * Creates (if needed) and locks `<root>/<namespace>/<name>/`. `brief`: the holder only reads and
   * rewrites the journal (a few server round trips), so a worker of this process opening the spool
   * meanwhile waits for it instead of refusing.
   */
  static async open(root: string, namespace: string, name: string, brief = false): Promise<Spool> {
    const dir = path.join(
      path.resolve(root),
      pathSegment(namespace, 'namespace'),
      pathSegment(name, 'policy name'),
    );
    await mkdir(path.join(dir, 'bundles'), { recursive: true, mode: 0o700 });
    const spool = new Spool(dir);
    await spool.lock(brief);
    return spool;
  }

  private releaseBrief?: () => void;

  private get lockFile(): string {
    return path.join(this.dir, 'lock');
  }

  private async lock(brief: boolean): Promise<void> {
    for (let hold = briefHolds.get(this.dir); hold; hold = briefHolds.get(this.dir)) await hold;
    if (heldLocks.has(this.dir)) throw new SpoolLockedError(this.dir, process.pid);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await writeFile(this.lockFile, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        heldLocks.add(this.dir);
        if (brief) briefHolds.set(this.dir, new Promise((resolve) => (this.releaseBrief = resolve)));
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number.parseInt((await readFile(this.lockFile, 'utf8').catch(() => '')).trim(), 10);
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid))
          throw new SpoolLockedError(this.dir, pid);
        // A stale lock from a process that died (kill -9): take it over.
        await rm(this.lockFile, { force: true });
      }
    }
    throw new Error(`could not lock spool ${this.dir}`);
  }

  async unlock(): Promise<void> {
    const pid = Number.parseInt((await readFile(this.lockFile, 'utf8').catch(() => '')).trim(), 10);
    if (!heldLocks.has(this.dir)) return;
    heldLocks.delete(this.dir);
    if (pid === process.pid) await rm(this.lockFile, { force: true });
    if (this.releaseBrief) {
      briefHolds.delete(this.dir);
      this.releaseBrief();
      this.releaseBrief = undefined;
    }
  }

  bundleDir(id: string): string {
    return path.join(this.dir, 'bundles', pathSegment(id, 'bundle id'));
  }

  docsFile(id: string): string {
    return path.join(this.bundleDir(id), 'docs.bson');
  }

  idsFile(id: string): string {
    return path.join(this.bundleDir(id), 'ids.bson');
  }

  bundleFile(id: string, ext: string): string {
    return path.join(this.bundleDir(id), `bundle${ext}`);
  }

  async openAppender(id: string, committed: SpoolCommit, cutoffMs: number): Promise<BundleAppender> {
    await mkdir(this.bundleDir(id), { recursive: true, mode: 0o700 });
    const docs = await openTruncated(this.docsFile(id), committed.docsBytes);
    const ids = await openTruncated(this.idsFile(id), committed.idsBytes);
    return new BundleAppender(docs, ids, committed, cutoffMs);
  }

  /**
   * Cuts an open bundle's files back to their journaled lengths (what a crash mid-append left past them)
   * at recovery, so the bundle can be sealed before any fetch reopens it.
   */
  async cutToCommitted(id: string, committed: SpoolCommit): Promise<void> {
    for (const [file, length] of [
      [this.docsFile(id), committed.docsBytes],
      [this.idsFile(id), committed.idsBytes],
    ] as const) {
      const fh = await openTruncated(file, length);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  }

  async removeBundle(id: string): Promise<void> {
    await rm(this.bundleDir(id), { recursive: true, force: true });
  }

  /** Bundle directories present on disk (to remove ones the journal does not know). */
  async bundleIds(): Promise<string[]> {
    const { readdir } = await import('node:fs/promises');
    return readdir(path.join(this.dir, 'bundles')).catch(() => []);
  }

  async fileSize(file: string): Promise<number | undefined> {
    return stat(file).then(
      (s) => s.size,
      () => undefined,
    );
  }
}

/** Opens `file` for writing at `length`, cutting off anything a crash left past it. */
async function openTruncated(file: string, length: number): Promise<FileHandle> {
  const fh = await open(file, 'a+', 0o600).then(async (h) => {
    await h.close();
    return open(file, 'r+');
  });
  const size = (await fh.stat()).size;
  if (size < length) {
    await fh.close();
    throw new Error(
      `spool file ${file} holds ${size} bytes but the journal recorded ${length}: the spool was damaged`,
    );
  }
  if (size > length) await fh.truncate(length);
  return fh;
}

/**
 * Appends through one fixed 1 MiB buffer: bytes are copied in, so appending allocates nothing per
 * document (a long run creates little garbage, which keeps the process's RSS flat).
 */
class BufferedFile {
  private readonly buf = Buffer.allocUnsafe(WRITE_BUFFER);
  private used = 0;
  /** Bytes written to the file (position of the next write). */
  written: number;

  constructor(
    private readonly fh: FileHandle,
    start: number,
  ) {
    this.written = start;
  }

  get length(): number {
    return this.written + this.used;
  }

  async append(b: Uint8Array): Promise<void> {
    if (b.length > WRITE_BUFFER - this.used) await this.flush();
    if (b.length >= WRITE_BUFFER) {
      await this.writeAt(b, this.written);
      this.written += b.length;
      return;
    }
    this.buf.set(b, this.used);
    this.used += b.length;
  }

  /** `n` bytes of buffer space to fill in place (n ≤ 1 MiB), appended. */
  async reserve(n: number): Promise<Buffer> {
    if (n > WRITE_BUFFER) throw new RangeError(`record of ${n} bytes is larger than the write buffer`);
    if (n > WRITE_BUFFER - this.used) await this.flush();
    const out = this.buf.subarray(this.used, this.used + n);
    this.used += n;
    return out;
  }

  private async writeAt(b: Uint8Array, position: number): Promise<void> {
    let off = 0;
    while (off < b.length) {
      const { bytesWritten } = await this.fh.write(b, off, b.length - off, position + off);
      off += bytesWritten;
    }
  }

  async flush(): Promise<void> {
    if (!this.used) return;
    // Write at an explicit position: appends stay exact after a truncate.
    await this.writeAt(this.buf.subarray(0, this.used), this.written);
    this.written += this.used;
    this.used = 0;
  }

  /** Drops everything past `length` (buffered or written). */
  async cut(length: number): Promise<void> {
    await this.flush();
    if (this.written > length) {
      await this.fh.truncate(length);
      this.written = length;
    }
  }

  async sync(): Promise<void> {
    await this.fh.sync();
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Appends documents to one open bundle; implements the fetch stage's sink (with limits supplied by the worker). */
export class BundleAppender {
  private readonly docs: BufferedFile;
  private readonly ids: BufferedFile;
  private committed: SpoolCommit;
  private pending: SpoolCommit;
  private readonly initial: SpoolCommit;
  private cMs: BSON.Double;

  constructor(docsFh: FileHandle, idsFh: FileHandle, committed: SpoolCommit, cutoffMs: number) {
    this.docs = new BufferedFile(docsFh, committed.docsBytes);
    this.ids = new BufferedFile(idsFh, committed.idsBytes);
    this.committed = { ...committed };
    this.pending = { ...committed };
    this.initial = { ...committed };
    this.cMs = new BSON.Double(cutoffMs);
  }

  /** The fetch cutoff recorded with the next documents (re-checked at delete time, I2). */
  setCutoff(cutoffMs: number): void {
    this.cMs = new BSON.Double(cutoffMs);
  }

  /** Documents and bytes appended so far, checkpointed or not. */
  get current(): SpoolCommit {
    return this.pending;
  }

  get checkpointed(): SpoolCommit {
    return this.committed;
  }

  async append(doc: Uint8Array, meta: DocMeta): Promise<void> {
    // Both are copied into the write buffers here: the cursor's views are not kept.
    await this.docs.append(doc);
    const size = idRecordSize(meta);
    if (size <= WRITE_BUFFER) writeIdRecord(await this.ids.reserve(size), meta, this.cMs.value);
    else await this.ids.append(idRecord(meta, this.cMs));
    const p = this.pending;
    p.docs++;
    p.docsBytes = this.docs.length;
    p.idsBytes = this.ids.length;
    p.ageMinMs = p.ageMinMs === undefined ? meta.ageMs : Math.min(p.ageMinMs, meta.ageMs);
    p.ageMaxMs = p.ageMaxMs === undefined ? meta.ageMs : Math.max(p.ageMaxMs, meta.ageMs);
  }

  checkpoint(): void {
    Object.assign(this.committed, this.pending);
  }

  /** Cuts off everything after the last checkpoint and makes the rest durable. */
  async finish(): Promise<SpoolCommit> {
    await this.docs.cut(this.committed.docsBytes);
    await this.ids.cut(this.committed.idsBytes);
    await this.docs.sync();
    await this.ids.sync();
    this.pending = { ...this.committed };
    return { ...this.committed };
  }

  /** Drops everything appended since the appender was opened (a failed batch keeps nothing). */
  async reset(): Promise<void> {
    await this.docs.cut(this.initial.docsBytes);
    await this.ids.cut(this.initial.idsBytes);
    this.committed = { ...this.initial };
    this.pending = { ...this.initial };
  }

  async close(): Promise<void> {
    await this.docs.close().catch(() => undefined);
    await this.ids.close().catch(() => undefined);
  }
}

const doubleValue = (d: number): RawValue => {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleLE(d, 0);
  return { type: T.double, value: b };
};

const NAME_ID = Buffer.from('_id\0');
const NAME_C = Buffer.from('c\0');
const NAME_A = Buffer.from('a\0');
const NAME_G = Buffer.from('g\0');

function guardsSize(guards: (RawValue | undefined)[]): number {
  let n = 5;
  guards.forEach((v, i) => {
    if (v) n += 1 + String(i).length + 1 + v.value.length;
  });
  return n;
}

/** Bytes of the id record of `meta` (see idRecord). */
export function idRecordSize(meta: DocMeta): number {
  let n = 4 + (1 + 4 + meta.id.value.length) + 2 * (1 + 2 + 8) + 1;
  if (meta.guards) n += 1 + 2 + guardsSize(meta.guards);
  return n;
}

/** Writes the id record of `meta` into `dst` (exactly idRecordSize bytes), allocating nothing. */
export function writeIdRecord(dst: Buffer, meta: DocMeta, cutoffMs: number): void {
  let o = 0;
  dst.writeInt32LE(dst.length, o);
  o += 4;
  dst[o++] = meta.id.type;
  o += NAME_ID.copy(dst, o);
  dst.set(meta.id.value, o);
  o += meta.id.value.length;
  dst[o++] = T.double;
  o += NAME_C.copy(dst, o);
  o = dst.writeDoubleLE(cutoffMs, o);
  dst[o++] = T.double;
  o += NAME_A.copy(dst, o);
  o = dst.writeDoubleLE(meta.ageMs, o);
  if (meta.guards) {
    dst[o++] = T.object;
    o += NAME_G.copy(dst, o);
    const gStart = o;
    dst.writeInt32LE(guardsSize(meta.guards), o);
    o += 4;
    meta.guards.forEach((v, i) => {
      if (!v) return;
      dst[o++] = v.type;
      o += dst.write(`${i}\0`, o, 'utf8');
      dst.set(v.value, o);
      o += v.value.length;
    });
    dst[o++] = 0;
    if (o - gStart !== guardsSize(meta.guards)) throw new Error('id record guard size mismatch');
  }
  dst[o++] = 0;
  if (o !== dst.length) throw new Error(`id record size mismatch: wrote ${o} of ${dst.length}`);
}

/** `{_id, c, a, g}` as raw BSON: `_id` bytes copied verbatim so its exact type survives. */
export function idRecord(meta: DocMeta, cutoff: BSON.Double): Buffer {
  const fields: [string, RawValue][] = [
    ['_id', meta.id],
    ['c', doubleValue(cutoff.value)],
    ['a', doubleValue(meta.ageMs)],
  ];
  if (meta.guards) {
    const g = buildRawDocument(
      meta.guards.flatMap((v, i) => (v ? [[String(i), v] as [string, RawValue]] : [])),
    );
    fields.push(['g', { type: T.object, value: g }]);
  }
  return buildRawDocument(fields);
}

export interface IdRecord {
  /** Raw `_id` element. */
  id: RawValue;
  cutoffMs: number;
  /** The archive-field value at fetch time, epoch ms. */
  ageMs: number;
  /** Guard values by field index (absent index = field was missing at fetch). */
  guards?: Map<number, RawValue>;
  /** Offset just past this record in the ids file. */
  end: number;
}

function parseIdRecord(doc: Buffer, end: number): IdRecord {
  let id: RawValue | undefined;
  let cutoffMs = Number.NaN;
  let ageMs = Number.NaN;
  let guards: Map<number, RawValue> | undefined;
  forEachElement(doc, (name, v) => {
    if (name === '_id') id = { type: v.type, value: Buffer.from(v.value) };
    else if (name === 'c') cutoffMs = Buffer.from(v.value).readDoubleLE(0);
    else if (name === 'a') ageMs = Buffer.from(v.value).readDoubleLE(0);
    else if (name === 'g') {
      guards = new Map();
      forEachElement(
        v.value,
        (i, gv) => void guards!.set(Number(i), { type: gv.type, value: Buffer.from(gv.value) }),
      );
    }
  });
  if (!id || Number.isNaN(cutoffMs) || Number.isNaN(ageMs))
    throw new Error('corrupt record in the spool ids file');
  return { id, cutoffMs, ageMs, ...(guards ? { guards } : {}), end };
}

/** Streams the id records of an ids file from byte `start` to `end`. */
export async function* readIdRecords(file: string, start: number, end: number): AsyncGenerator<IdRecord> {
  if (end <= start) return;
  let offset = start;
  const stream = createReadStream(file, {
    start,
    end: end - 1,
    highWaterMark: 1 << 16,
  }) as AsyncIterable<Buffer>;
  for await (const doc of splitBsonDocuments(stream, file)) {
    offset += doc.length;
    yield parseIdRecord(doc, offset);
  }
}
