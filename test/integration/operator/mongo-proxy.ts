// A TCP proxy between the operator and FerretDB that reads the MongoDB wire protocol going to the
// server and counts commands by name. It proves "no more database operations" more strongly than any
// self-reported metric: if the operator sends a find, delete or count, the proxy sees it. It can also
// make the database unreachable (every connection is cut at once) and reachable again.
import net from 'node:net';
import { BSON } from 'mongodb';

/** Connection-level chatter of the driver: not a database operation on the policy's data. */
export const HANDSHAKE_COMMANDS = new Set([
  'hello',
  'ismaster',
  'isMaster',
  'ping',
  'saslStart',
  'saslContinue',
  'endSessions',
  'buildInfo',
  'buildinfo',
  'getParameter',
]);

export interface CommandRecord {
  at: number;
  name: string;
  /** Database the command ran on (`$db`), when the message says so. */
  db?: string;
}

/** A `saslStart` the client sent: which mechanism, and its first payload (PLAIN's carries the password). */
export interface SaslStartRecord {
  at: number;
  mechanism: string;
  payload: Buffer;
}

export class MongoProxy {
  readonly commands: CommandRecord[] = [];
  /** Held in memory only, for tests that prove which credentials reached the wire; never print them. */
  readonly saslStarts: SaslStartRecord[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private open = 0;
  private reachable = true;
  port = 0;

  constructor(private readonly upstream: { host: string; port: number }) {
    this.server = net.createServer((client) => this.handle(client));
  }

  static fromUri(uri: string): MongoProxy {
    const m = /^mongodb:\/\/(?:[^@/]*@)?([^:/]+):(\d+)/.exec(uri);
    if (!m) throw new Error(`cannot proxy ${uri}: expected mongodb://host:port/`);
    return new MongoProxy({ host: m[1]!, port: Number(m[2]) });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Connections currently open from the operator to the database. */
  get openConnections(): number {
    return this.open;
  }

  /** Commands other than handshakes/heartbeats since `since` (optionally for one database). */
  dataCommands(since = 0, db?: string): CommandRecord[] {
    return this.commands.filter(
      (c) => c.at >= since && !HANDSHAKE_COMMANDS.has(c.name) && (db === undefined || c.db === db),
    );
  }

  /**
   * Whether a client logged in with PLAIN as `username`/`password` since `since`: PLAIN's payload is
   * "\0username\0password", so this proves what the credentials Secret put into the URI reached the
   * server, decoded, whatever the server then answered.
   */
  sawPlainLogin(username: string, password: string, since = 0): boolean {
    const expected = Buffer.from(`\0${username}\0${password}`, 'utf8');
    return this.saslStarts.some(
      (s) => s.at >= since && s.mechanism === 'PLAIN' && s.payload.equals(expected),
    );
  }

  /** Cuts every connection and refuses new ones until setReachable(true). */
  setReachable(on: boolean): void {
    this.reachable = on;
    if (!on) for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(client: net.Socket): void {
    if (!this.reachable) {
      client.destroy();
      return;
    }
    this.open++;
    const up = net.connect(this.upstream.port, this.upstream.host);
    this.sockets.add(client);
    this.sockets.add(up);
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      this.open--;
      this.sockets.delete(client);
      this.sockets.delete(up);
      client.destroy();
      up.destroy();
    };
    client.on('close', close);
    up.on('close', close);
    client.on('error', close);
    up.on('error', close);
    let buf = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      up.write(chunk);
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 16) {
        const len = buf.readInt32LE(0);
        if (len < 16 || buf.length < len) break;
        this.record(buf.subarray(0, len));
        buf = buf.subarray(len);
      }
    });
    up.pipe(client);
  }

  private record(msg: Buffer): void {
    const opCode = msg.readInt32LE(12);
    let doc: Buffer | undefined;
    if (opCode === 2013) {
      // OP_MSG: flagBits, then sections; kind 0 is the command body.
      let off = 20;
      while (off < msg.length) {
        const kind = msg[off]!;
        off++;
        const size = msg.readInt32LE(off);
        if (kind === 0) {
          doc = msg.subarray(off, off + size);
          break;
        }
        off += size; // kind 1: size covers identifier and documents
      }
    } else if (opCode === 2004) {
      // OP_QUERY: flags, fullCollectionName (cstring), skip, return, query document.
      let off = 20;
      while (off < msg.length && msg[off] !== 0) off++;
      off += 1 + 8;
      doc = msg.subarray(off, off + msg.readInt32LE(off));
    }
    if (!doc || doc.length < 6) return;
    const name = firstKey(doc);
    if (name) this.commands.push({ at: Date.now(), name, db: stringField(doc, '$db') });
    if (name === 'saslStart') {
      const cmd = BSON.deserialize(doc, { promoteBuffers: true }) as {
        mechanism?: unknown;
        payload?: unknown;
      };
      if (typeof cmd.mechanism === 'string' && Buffer.isBuffer(cmd.payload))
        this.saslStarts.push({ at: Date.now(), mechanism: cmd.mechanism, payload: cmd.payload });
    }
  }
}

function firstKey(doc: Buffer): string | undefined {
  const end = doc.indexOf(0, 5);
  return end > 5 ? doc.toString('utf8', 5, end) : undefined;
}

/** The value of a top-level string field of a BSON document (enough for `$db`). */
function stringField(doc: Buffer, field: string): string | undefined {
  let off = 4;
  while (off < doc.length - 1) {
    const type = doc[off]!;
    const keyEnd = doc.indexOf(0, off + 1);
    if (keyEnd < 0) return undefined;
    const key = doc.toString('utf8', off + 1, keyEnd);
    off = keyEnd + 1;
    const size = valueSize(doc, off, type);
    if (size === undefined) return undefined;
    if (key === field && type === 0x02)
      return doc.toString('utf8', off + 4, off + 4 + doc.readInt32LE(off) - 1);
    off += size;
  }
  return undefined;
}

function valueSize(doc: Buffer, off: number, type: number): number | undefined {
  switch (type) {
    case 0x01: // double
    case 0x09: // datetime
    case 0x11: // timestamp
    case 0x12: // int64
      return 8;
    case 0x02: // string
    case 0x0d: // javascript
    case 0x0e: // symbol
      return 4 + doc.readInt32LE(off);
    case 0x03: // document
    case 0x04: // array
    case 0x0f: // code w/ scope
      return doc.readInt32LE(off);
    case 0x05: // binary
      return 5 + doc.readInt32LE(off);
    case 0x07: // objectid
      return 12;
    case 0x08: // bool
      return 1;
    case 0x0a: // null
    case 0x06: // undefined
    case 0x7f: // maxkey
    case 0xff: // minkey
      return 0;
    case 0x10: // int32
      return 4;
    case 0x13: // decimal128
      return 16;
    default:
      return undefined;
  }
}
