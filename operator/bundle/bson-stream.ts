// Incremental BSON framing over a byte stream: documents are cut out by their 4-byte length prefix as
// the bytes arrive, so no file or tar entry is ever held whole in memory.

/** The largest document we accept. MongoDB's limit is 16 MiB; archives may carry a little slack. */
export const MAX_DOCUMENT_BYTES = 48 * 1024 * 1024;

export class BsonFramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BsonFramingError';
  }
}

/** Pull-based reader over an async iterator of chunks. */
export class ChunkReader {
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  private buffered = 0;
  private done = false;
  /** Bytes handed out so far (for error messages and accounting). */
  consumed = 0;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  /** Makes at least `n` bytes available; false if the stream ended first. */
  async ensure(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.done) return false;
      const r = await this.source.next();
      if (r.done) {
        this.done = true;
        return this.buffered >= n;
      }
      const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
      if (c.length === 0) continue;
      this.chunks.push(c);
      this.buffered += c.length;
    }
    return true;
  }

  /** True when every byte has been consumed and the source is exhausted. */
  async atEnd(): Promise<boolean> {
    return !(await this.ensure(1));
  }

  get available(): number {
    return this.buffered;
  }

  peekUInt8(): number {
    return this.chunks[0]![this.head]!;
  }

  /** Reads a little-endian int32 from the next 4 buffered bytes without consuming them. */
  peekInt32LE(): number {
    const first = this.chunks[0]!;
    if (first.length - this.head >= 4) return first.readInt32LE(this.head);
    return this.copy(4).readInt32LE(0);
  }

  /** Consumes `n` buffered bytes. Zero-copy when they lie in one chunk. */
  take(n: number): Buffer {
    if (n > this.buffered) throw new Error(`ChunkReader.take(${n}) with only ${this.buffered} buffered`);
    const first = this.chunks[0];
    let out: Buffer;
    if (first && first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n);
      this.advance(n);
    } else {
      out = this.copy(n);
      this.advance(n);
    }
    return out;
  }

  skip(n: number): void {
    this.advance(n);
  }

  /** Reads a NUL-terminated string (BSON element name), consuming the NUL. */
  async readCString(maxLen = 1 << 16): Promise<string> {
    const parts: Buffer[] = [];
    let total = 0;
    for (;;) {
      if (!(await this.ensure(1))) throw new BsonFramingError('stream ended inside an element name');
      const first = this.chunks[0]!;
      const nul = first.indexOf(0, this.head);
      if (nul >= 0) {
        parts.push(first.subarray(this.head, nul));
        this.advance(nul - this.head + 1);
        return Buffer.concat(parts).toString('utf8');
      }
      const rest = first.subarray(this.head);
      parts.push(rest);
      total += rest.length;
      if (total > maxLen) throw new BsonFramingError('element name too long (missing NUL terminator)');
      this.advance(rest.length);
    }
  }

  private copy(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    let idx = 0;
    let off = this.head;
    while (written < n) {
      const c = this.chunks[idx]!;
      const m = Math.min(n - written, c.length - off);
      c.copy(out, written, off, off + m);
      written += m;
      idx++;
      off = 0;
    }
    return out;
  }

  private advance(n: number): void {
    this.buffered -= n;
    this.consumed += n;
    while (n > 0) {
      const first = this.chunks[0]!;
      const left = first.length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.head = 0;
    }
  }
}

/** Checks the frame of one document: sane length and a trailing NUL. */
export function checkDocumentFrame(doc: Buffer, where: string): void {
  if (doc.length < 5)
    throw new BsonFramingError(`${where}: document length ${doc.length} is below the BSON minimum of 5`);
  if (doc[doc.length - 1] !== 0)
    throw new BsonFramingError(`${where}: document does not end with a NUL byte`);
}

/** Reads the next length-prefixed document; undefined at a clean end of stream. */
export async function readDocument(r: ChunkReader, where: string): Promise<Buffer | undefined> {
  if (!(await r.ensure(4))) {
    if (r.available === 0) return undefined;
    throw new BsonFramingError(
      `${where}: stream ends with ${r.available} stray byte(s) after the last document`,
    );
  }
  const len = r.peekInt32LE();
  if (len < 5 || len > MAX_DOCUMENT_BYTES) {
    throw new BsonFramingError(`${where}: invalid document length ${len} at byte ${r.consumed}`);
  }
  if (!(await r.ensure(len))) {
    throw new BsonFramingError(
      `${where}: truncated document at byte ${r.consumed} (${len} bytes declared, ${r.available} present)`,
    );
  }
  const doc = r.take(len);
  checkDocumentFrame(doc, where);
  return doc;
}

/** Yields each document of a stream of concatenated BSON documents (mongodump's .bson layout). */
export async function* splitBsonDocuments(
  source: AsyncIterable<Buffer>,
  where = 'bson',
): AsyncGenerator<Buffer> {
  const r = new ChunkReader(source[Symbol.asyncIterator]());
  for (;;) {
    const doc = await readDocument(r, where);
    if (!doc) return;
    yield doc;
  }
}

/** Counts documents in concatenated BSON as bytes pass by, without copying them. */
export class BsonDocumentCounter {
  count = 0;
  private pending = 0; // body bytes left in the current document
  private header = Buffer.alloc(4);
  private headerLen = 0;
  private lastByte = 0;

  update(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.pending > 0) {
        const m = Math.min(this.pending, n - i);
        this.pending -= m;
        i += m;
        this.lastByte = chunk[i - 1]!;
        if (this.pending === 0 && this.lastByte !== 0)
          throw new BsonFramingError(`document ${this.count} does not end with a NUL byte`);
        continue;
      }
      this.header[this.headerLen++] = chunk[i++]!;
      if (this.headerLen === 4) {
        const len = this.header.readInt32LE(0);
        if (len < 5 || len > MAX_DOCUMENT_BYTES)
          throw new BsonFramingError(`document ${this.count + 1} has invalid length ${len}`);
        this.pending = len - 4;
        this.headerLen = 0;
        this.count++;
      }
    }
  }

  /** Throws if the stream stopped inside a document. */
  finish(): number {
    if (this.pending > 0 || this.headerLen > 0)
      throw new BsonFramingError(`stream ends inside document ${this.count}`);
    return this.count;
  }
}
