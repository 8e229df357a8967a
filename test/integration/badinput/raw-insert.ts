// Inserting BSON bytes no driver would produce (invalid UTF-8, dates outside JavaScript's range) by
// speaking the MongoDB wire protocol directly: one OP_MSG `insert` whose documents travel as a raw
// document sequence (section kind 1), exactly the bytes given.
import net from 'node:net';
import { BSON, type Document } from 'mongodb';

function cstring(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

/** Sends `insert` of `docs` (raw BSON) into db.coll at the server of `mongoUri`; returns the server's reply. */
export async function insertRawDocuments(
  mongoUri: string,
  db: string,
  coll: string,
  docs: Buffer[],
): Promise<Document> {
  const u = new URL(mongoUri);
  const body = Buffer.from(BSON.serialize({ insert: coll, ordered: false, $db: db }));
  const seqPayload = Buffer.concat([cstring('documents'), ...docs]);
  const seqSize = Buffer.alloc(4);
  seqSize.writeInt32LE(4 + seqPayload.length);
  const sections = Buffer.concat([Buffer.from([0]), body, Buffer.from([1]), seqSize, seqPayload]);
  const header = Buffer.alloc(20);
  header.writeInt32LE(20 + sections.length, 0); // messageLength
  header.writeInt32LE(Math.floor(Math.random() * 2 ** 31), 4); // requestID
  header.writeInt32LE(0, 8); // responseTo
  header.writeInt32LE(2013, 12); // OP_MSG
  header.writeUInt32LE(0, 16); // flagBits
  const msg = Buffer.concat([header, sections]);

  const socket = net.connect(Number(u.port || 27017), u.hostname);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const reply = new Promise<Buffer>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => reject(new Error('no reply to the raw insert within 30 s')), 30_000);
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 4 && buf.length >= buf.readInt32LE(0)) {
          clearTimeout(timer);
          resolve(buf.subarray(0, buf.readInt32LE(0)));
        }
      });
      socket.once('error', reject);
    });
    socket.write(msg);
    const r = await reply;
    // Reply: 16-byte header, 4-byte flags, section kind 0, the body document.
    return BSON.deserialize(r.subarray(21), { validation: { utf8: false } });
  } finally {
    socket.destroy();
  }
}

/** `doc` serialized, with every occurrence of the 4-byte ASCII `marker` replaced by `bytes` (same length). */
export function patchBytes(doc: Document, marker: string, bytes: Buffer): Buffer {
  if (Buffer.byteLength(marker) !== bytes.length)
    throw new Error('marker and bytes must have the same length');
  const b = Buffer.from(BSON.serialize(doc));
  let i = b.indexOf(marker);
  if (i < 0) throw new Error(`marker ${marker} not found`);
  while (i >= 0) {
    bytes.copy(b, i);
    i = b.indexOf(marker, i + bytes.length);
  }
  return b;
}

/** `doc` serialized, with the BSON date `placeholder` (its int64 millis) replaced by `millis`. */
export function withRawDate(doc: Document, placeholder: Date, millis: bigint): Buffer {
  const b = Buffer.from(BSON.serialize(doc));
  const pat = Buffer.alloc(8);
  pat.writeBigInt64LE(BigInt(placeholder.getTime()));
  const i = b.indexOf(pat);
  if (i < 0) throw new Error('placeholder date not found');
  b.writeBigInt64LE(millis, i);
  return b;
}
