// The writer: keeps inserting documents (old and new, every type FerretDB stores, mixed `_id`s) into
// the policies' collections and changes some of them while they may be in flight, recording every
// acknowledged outcome in the ledger. Failed operations (server killed or stalled) are retried with
// the same values until the answer is definitive, so the ledger never guesses.
import { MongoClient, MongoBulkWriteError, type Collection, type Document } from 'mongodb';
import { decode, makeDoc, makeUpdate, type AgeClass, type NewDoc } from './docs.js';
import type { Ledger } from './ledger.js';
import type { PolicyPlan } from './plan.js';
import type { Rng } from './rng.js';
import { sleep } from './time.js';

export interface WriterOptions {
  uri: string;
  plans: PolicyPlan[];
  ledger: Ledger;
  rng: Rng;
  /** Documents per second (inserts). */
  insertRate: number;
  /** Updates per second. */
  updateRate: number;
  log: (m: string) => void;
}

const DUPLICATE_KEY = 11000;

export class Writer {
  private client: MongoClient;
  private colls: Collection[];
  private stopped = false;
  private loop?: Promise<void>;
  private readonly abort = new AbortController();
  errors = 0;
  reconnects = 0;
  private failuresInRow = 0;
  lastError?: string;

  constructor(private readonly o: WriterOptions) {
    this.client = Writer.connect(o.uri);
    this.colls = o.plans.map((p) => this.client.db(p.database).collection(p.collection));
  }

  // Short timeouts: a stalled server must fail the attempt (then it is retried), not hang the writer.
  private static connect(uri: string): MongoClient {
    return new MongoClient(uri, {
      serverSelectionTimeoutMS: 2000,
      connectTimeoutMS: 2000,
      socketTimeoutMS: 8000,
      maxPoolSize: 4,
      retryWrites: false,
      retryReads: false,
    });
  }

  /** After many failures in a row, start over with a new client (a broken pool must not stick). */
  private async reconnectIfStuck(): Promise<void> {
    if (this.failuresInRow < 10) return;
    this.failuresInRow = 0;
    const old = this.client;
    this.client = Writer.connect(this.o.uri);
    this.colls = this.o.plans.map((p) => this.client.db(p.database).collection(p.collection));
    this.reconnects++;
    await old.close().catch(() => undefined);
  }

  /** Creates the archive-field indexes (the policies are Blocked without them). */
  async prepare(): Promise<void> {
    await this.client.connect();
    for (const [i, p] of this.o.plans.entries()) {
      if (p.format !== 'objectId') await this.colls[i]!.createIndex({ [p.archiveField]: 1 });
      else
        await this.client
          .db(p.database)
          .createCollection(p.collection)
          .catch(() => undefined);
    }
  }

  /** Inserts a backlog: `perPolicy` documents per collection, mostly old. */
  async seed(perPolicy: number, now: number): Promise<void> {
    for (const [i, p] of this.o.plans.entries()) {
      const docs: NewDoc[] = [];
      for (let k = 0; k < perPolicy; k++) docs.push(makeDoc(p, this.ageClass(0.7, 0.2), this.o.rng, now));
      for (let k = 0; k < docs.length; k += 200) await this.insertBatch(i, docs.slice(k, k + 200));
    }
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop;
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
  }

  private ageClass(old: number, fresh: number): AgeClass {
    const x = this.o.rng.next();
    return x < old ? 'old' : x < old + fresh ? 'new' : 'bad';
  }

  private async run(): Promise<void> {
    const tickMs = 100;
    let insertCredit = 0;
    let updateCredit = 0;
    let last = Date.now();
    while (!this.stopped) {
      const now = Date.now();
      insertCredit = Math.min(
        insertCredit + ((now - last) / 1000) * this.o.insertRate,
        this.o.insertRate * 2,
      );
      updateCredit = Math.min(
        updateCredit + ((now - last) / 1000) * this.o.updateRate,
        this.o.updateRate * 2,
      );
      last = now;
      if (insertCredit >= 1) {
        const n = Math.floor(insertCredit);
        insertCredit -= n;
        const policy = this.o.rng.int(0, this.o.plans.length - 1);
        const p = this.o.plans[policy]!;
        const docs = Array.from({ length: n }, () => makeDoc(p, this.ageClass(0.5, 0.4), this.o.rng, now));
        await this.insertBatch(policy, docs);
      }
      while (updateCredit >= 1 && !this.stopped) {
        updateCredit -= 1;
        await this.updateOne();
      }
      await sleep(tickMs, this.abort.signal);
    }
  }

  /** Inserts until every document of the batch is definitely in (acknowledged or duplicate key). */
  private async insertBatch(policy: number, docs: NewDoc[]): Promise<void> {
    let pending = docs;
    let attempt = 0;
    while (pending.length > 0) {
      attempt++;
      try {
        await this.colls[policy]!.insertMany(
          pending.map((d) => rawDoc(d.raw)),
          { ordered: false },
        );
        for (const d of pending) this.o.ledger.inserted(policy, d, Date.now(), attempt > 1);
        pending = [];
        this.failuresInRow = 0;
      } catch (err) {
        const failedIdx = new Set<number>();
        let definitive = false;
        // Only a server reply listing per-document write errors is definitive. The driver also wraps a
        // network error (server killed mid-insert) in MongoBulkWriteError, with no write errors: then
        // nothing is known and the whole batch is retried (duplicate keys settle what got in).
        const errs =
          err instanceof MongoBulkWriteError
            ? (Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]).filter(Boolean)
            : [];
        if (
          errs.length > 0 &&
          errs.every((we) => typeof we.code === 'number' && typeof we.index === 'number')
        ) {
          definitive = true;
          for (const we of errs) if (we.code !== DUPLICATE_KEY) failedIdx.add(we.index);
        }
        if (!definitive) {
          this.noteError(err);
          // Give up only when the campaign is stopping: the outcome is then recorded as unknown.
          if (this.stopped && attempt > 10) {
            for (const d of pending) this.o.ledger.insertUnknown(policy, d, Date.now());
            return;
          }
          await this.reconnectIfStuck();
          await sleep(Math.min(2000, 200 * attempt));
          continue;
        }
        // Duplicate keys mean an earlier attempt got the document in: it counts as inserted.
        const done = pending.filter((_, i) => !failedIdx.has(i));
        for (const d of done) this.o.ledger.inserted(policy, d, Date.now(), true);
        pending = pending.filter((_, i) => failedIdx.has(i));
        if (pending.length) {
          this.noteError(err);
          await sleep(Math.min(2000, 200 * attempt));
        }
      }
    }
  }

  /** Changes one random document the ledger believes present. */
  private async updateOne(): Promise<void> {
    const policy = this.o.rng.int(0, this.o.plans.length - 1);
    const keys = this.o.ledger.present[policy]!;
    if (keys.length === 0) return;
    const idx = this.o.rng.int(0, keys.length - 1);
    const rec = this.o.ledger.get(policy, keys[idx]!)!;
    if (rec.goneAt !== undefined) {
      // Forget documents known to be gone (swap-remove).
      keys[idx] = keys[keys.length - 1]!;
      keys.pop();
      return;
    }
    const u = makeUpdate(this.o.plans[policy]!, rec.raw, this.o.rng, Date.now());
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.colls[policy]!.updateOne({ _id: rec.id } as Document, { $set: u.set });
        this.o.ledger.updated(rec, u, r.matchedCount === 1 ? 'matched' : 'gone', Date.now(), attempt > 1);
        this.failuresInRow = 0;
        return;
      } catch (err) {
        this.noteError(err);
        if (this.stopped && attempt > 10) {
          // Unknown whether it was applied: either content is acceptable from now on.
          rec.altHashes = [...(rec.altHashes ?? []), u.hash];
          rec.ambiguous = true;
          this.o.ledger.stats.ambiguous++;
          this.o.ledger.note({ op: 'update-unknown', p: policy, id: rec.key, h: u.hash });
          return;
        }
        await this.reconnectIfStuck();
        await sleep(Math.min(2000, 200 * attempt));
      }
    }
  }

  private noteError(err: unknown): void {
    this.errors++;
    this.failuresInRow++;
    this.lastError = err instanceof Error ? err.message : String(err);
  }
}

/** The ledger's bytes as a document (decoded without promotion, so it re-serialises to the same bytes). */
function rawDoc(raw: Buffer): Document {
  return decode(raw);
}
