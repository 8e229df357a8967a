// The MongoDB clients every part of the engine uses for a policy's connection. Policies on one cluster
// share one client (one connection pool and one set of monitoring connections): a client per policy
// held about two server connections per policy at idle, so 1,000 policies on one cluster meant
// thousands of connections. Options written in the URI win over the defaults below.
import { createHash } from 'node:crypto';
import { MongoClient } from 'mongodb';

/** Per shared client: enough for many policies' short queries, far below the driver's 100. */
const MAX_POOL_SIZE = 10;

/** Each default applies only when the URI does not set the option: the driver lets object options win. */
export function newMongoClient(uri: string): MongoClient {
  const inUri = (option: string) => new RegExp(`[?&]${option}=`, 'i').test(uri);
  return new MongoClient(uri, {
    ...(inUri('appName') ? {} : { appName: 'gochive' }),
    ...(inUri('maxPoolSize') ? {} : { maxPoolSize: MAX_POOL_SIZE }),
    ...(inUri('serverSelectionTimeoutMS') ? {} : { serverSelectionTimeoutMS: 15_000 }),
  });
}

/** One policy's use of a shared client. */
export interface MongoClientLease {
  readonly client: MongoClient;
  /** Stops using the client; the last user closes it. Idempotent. */
  release(): Promise<void>;
  /**
   * Like release(), and later acquire()s for the same URI get a new client: for a client that keeps
   * failing. Its other users keep it until they release it.
   */
  discard(): Promise<void>;
}

interface Entry {
  client: MongoClient;
  users: number;
}

/**
 * Reference-counted MongoClients keyed by the whole connection URI. The URI carries the address, the
 * credentials and every option a policy can set (the client options above are the same for all), so
 * two policies share a client exactly when nothing about their connection differs. Keys are hashes:
 * the map never holds a password in clear.
 */
export class MongoClientPool {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly create: (uri: string) => MongoClient = newMongoClient) {}

  /** Clients currently open (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  acquire(uri: string): MongoClientLease {
    const key = createHash('sha256').update(uri).digest('hex');
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { client: this.create(uri), users: 0 };
      this.entries.set(key, entry);
    }
    entry.users++;
    const e = entry;
    let done = false;
    const drop = async (discard: boolean): Promise<void> => {
      if (done) return;
      done = true;
      e.users--;
      if (discard && this.entries.get(key) === e) this.entries.delete(key);
      if (e.users > 0) return;
      if (this.entries.get(key) === e) this.entries.delete(key);
      await e.client.close(discard).catch(() => undefined);
    };
    return { client: e.client, release: () => drop(false), discard: () => drop(true) };
  }
}

/** The process-wide pool: the operator's workers and the CLI's jobs. */
export const mongoClients = new MongoClientPool();
