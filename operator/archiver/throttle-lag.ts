// Replication lag, read the way a careful operator reads `rs.status()`: the primary's last applied
// operation time minus that of the slowest secondary that is expected to keep up.
//
// Counted: members in state SECONDARY that the primary sees as healthy, hidden ones included (they hold
// data, usually vote, and a backup node falling behind is real pressure). Not counted: arbiters (no
// data), members that are down, unreachable or not SECONDARY (STARTUP2, RECOVERING, ROLLBACK…: their
// optime is stale or meaningless, and waiting for them would stall the archive for as long as a node is
// broken, which archiving cannot fix), and delayed members (secondaryDelaySecs / slaveDelay: behind by
// design). No primary, or no secondary to compare with, means no reading this time. A server that is
// not a replica set member (standalone, mongos, FerretDB) gives no lag signal at all: said once in the
// log, never retried.
import { MongoServerError, type Db, type Document } from 'mongodb';
import type { Logger } from '../util/logger.js';

/** replSetGetStatus member states (MongoDB manual, "Replica Set Member States"). */
const PRIMARY = 1;
const SECONDARY = 2;
const ARBITER = 7;

export type LagReading =
  | {
      kind: 'lag';
      seconds: number;
      /** The secondary furthest behind. */
      member: string;
      primary: string;
      /** Members left out, with why (for logs and messages). */
      ignored: string[];
    }
  | { kind: 'none'; why: string };

function optimeMs(m: Document): number | undefined {
  const d = m.optimeDate as unknown;
  // Not `instanceof Date`: a reply may come from another realm (a copied document, a test's VM context).
  if (Object.prototype.toString.call(d) !== '[object Date]') return undefined;
  const ms = (d as Date).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

/** A number, or a BSON Long (a reply decoded without promoteLongs) as one. */
function toNumber(v: unknown): number {
  if (typeof v === 'object' && v !== null && typeof (v as { toNumber?: unknown }).toNumber === 'function')
    return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

/** Lag from a replSetGetStatus reply and (optionally) the replSetGetConfig `config` document. */
export function replicationLag(status: Document, config?: Document): LagReading {
  const members = Array.isArray(status.members) ? (status.members as Document[]) : [];
  const configured = new Map<unknown, Document>();
  for (const c of Array.isArray(config?.members) ? (config.members as Document[]) : [])
    configured.set(c._id, c);
  const name = (m: Document): string => (typeof m.name === 'string' ? m.name : `member ${String(m._id)}`);
  // The member answering has no `health` field (the manual: it is only reported for the others).
  const healthy = (m: Document): boolean => (m.self === true && m.health === undefined) || m.health === 1;

  const primaries = members.filter((m) => m.state === PRIMARY && healthy(m) && optimeMs(m) !== undefined);
  if (!primaries.length) return { kind: 'none', why: 'no reachable primary (an election in progress?)' };
  // Two members may both claim PRIMARY for a moment after an election; the newer optime is the primary.
  const primary = primaries.reduce((a, b) => (optimeMs(b)! > optimeMs(a)! ? b : a));

  const ignored: string[] = [];
  let slowest: Document | undefined;
  for (const m of members) {
    if (m === primary) continue;
    const c = configured.get(m._id);
    const delay = toNumber(c?.secondaryDelaySecs ?? c?.slaveDelay ?? 0);
    if (m.state === ARBITER || c?.arbiterOnly === true) ignored.push(`${name(m)} (arbiter)`);
    else if (!healthy(m)) ignored.push(`${name(m)} (unreachable)`);
    else if (m.state !== SECONDARY) ignored.push(`${name(m)} (${String(m.stateStr ?? `state ${m.state}`)})`);
    else if (delay > 0) ignored.push(`${name(m)} (delayed ${delay}s by design)`);
    else if (optimeMs(m) === undefined) ignored.push(`${name(m)} (no optime)`);
    else if (!slowest || optimeMs(m)! < optimeMs(slowest)!) slowest = m;
  }
  if (!slowest) {
    return {
      kind: 'none',
      why: `no healthy secondary to compare with${ignored.length ? ` (ignored: ${ignored.join(', ')})` : ''}`,
    };
  }
  return {
    kind: 'lag',
    seconds: Math.max(0, (optimeMs(primary)! - optimeMs(slowest)!) / 1000),
    member: name(slowest),
    primary: name(primary),
    ignored,
  };
}

/** Reads the lag through a connected client's `admin` database (server status commands only). */
export class ReplicationLagProbe {
  /** Set once the server turned out to give no lag signal: never asked again. */
  private unavailable?: string;
  private configRefusedLogged = false;

  constructor(private readonly log: Logger) {}

  /** Why there is no signal at all, once known. */
  get noSignal(): string | undefined {
    return this.unavailable;
  }

  /** One reading. Network errors are thrown (the caller treats them as "no reading this time"). */
  async read(admin: Db): Promise<LagReading> {
    if (this.unavailable) return { kind: 'none', why: this.unavailable };
    const hello = await admin.command({ hello: 1 });
    if (hello.msg === 'isdbgrid')
      return this.giveUp(
        'connected to mongos, which reports no replication lag (the shards are not checked)',
      );
    if (typeof hello.setName !== 'string')
      return this.giveUp('the server is not a replica set member (standalone, or FerretDB)');
    let status: Document;
    try {
      status = await admin.command({ replSetGetStatus: 1 });
    } catch (err) {
      if (!(err instanceof MongoServerError)) throw err;
      return this.giveUp(
        `replSetGetStatus was refused (${err.message}); grant the clusterMonitor role to measure lag`,
      );
    }
    let config: Document | undefined;
    try {
      config = (await admin.command({ replSetGetConfig: 1 })).config as Document | undefined;
    } catch (err) {
      if (!(err instanceof MongoServerError)) throw err;
      if (!this.configRefusedLogged) {
        this.configRefusedLogged = true;
        this.log.warn(
          { err: err.message },
          'replSetGetConfig was refused: delayed secondaries cannot be told apart and count towards the lag',
        );
      }
    }
    return replicationLag(status, config);
  }

  private giveUp(why: string): LagReading {
    this.unavailable = why;
    this.log.info(
      { why },
      'no replication lag signal: throttle.maxReplicationLag is not applied (query latency still is, if set)',
    );
    return { kind: 'none', why };
  }
}
