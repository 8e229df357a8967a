// The writer's ledger: every document it ever inserted and every change it made, with the outcome as
// the server acknowledged it. Kept in memory for the checker and appended to a JSONL file so a failed
// run can be examined afterwards (one line per event: time, op, policy, _id, content hash, outcome).
//
// Outcomes are definitive by construction: an insert or update that failed (server down, stalled,
// connection reset) is retried with the same values until the server gives a definitive answer. Only
// when a retried update finds the document gone is the order of events unknown; such a document is
// marked `ambiguous` (both contents are then acceptable) and excluded from the "deleted while
// ineligible" check.
import { createWriteStream, type WriteStream } from 'node:fs';
import { BSON } from 'mongodb';
import type { AgeClass, Facts, UpdateKind } from './docs.js';

export interface DocRecord {
  policy: number;
  key: string;
  id: unknown;
  /** Content as last acknowledged. */
  raw: Buffer;
  hash: string;
  cls: AgeClass;
  insertedAt: number;
  /** When the current content was acknowledged (insert, or an update that matched). */
  lastAckAt: number;
  /** Every acknowledged content, oldest first (the last one is the current content). */
  history: Array<{ hash: string; at: number; facts: Facts }>;
  /** An update found the document gone (deleted by the archiver before the update). */
  goneAt?: number;
  /** Other contents the document may have had when it was archived (unknown ordering). */
  altHashes?: string[];
  ambiguous?: boolean;
  /** The insert needed a retry (it may have been applied twice around an archive + delete). */
  insertRetried?: boolean;
  /** The writer gave up on the insert without a definitive answer (only when stopping). */
  maybeNeverInserted?: boolean;
  updates: number;
}

export interface LedgerStats {
  inserted: number;
  insertRetries: number;
  updates: number;
  updatesMatched: number;
  updatesGone: number;
  updateRetries: number;
  ambiguous: number;
  byClass: Record<AgeClass, number>;
  byUpdateKind: Record<UpdateKind, number>;
}

export class Ledger {
  readonly docs = new Map<string, DocRecord>();
  /** Per policy: keys of documents the writer still believes present (candidates for updates). */
  readonly present: string[][];
  readonly stats: LedgerStats = {
    inserted: 0,
    insertRetries: 0,
    updates: 0,
    updatesMatched: 0,
    updatesGone: 0,
    updateRetries: 0,
    ambiguous: 0,
    byClass: { old: 0, new: 0, bad: 0 },
    byUpdateKind: { refresh: 0, expire: 0, status: 0, touch: 0 },
  };
  private readonly out: WriteStream;

  constructor(
    file: string,
    policies: number,
    readonly t0: number,
  ) {
    this.out = createWriteStream(file, { flags: 'a' });
    this.present = Array.from({ length: policies }, () => []);
  }

  static docKey(policy: number, key: string): string {
    return `${policy}\u0000${key}`;
  }

  get(policy: number, key: string): DocRecord | undefined {
    return this.docs.get(Ledger.docKey(policy, key));
  }

  inserted(
    policy: number,
    d: { id: unknown; key: string; raw: Buffer; hash: string; cls: AgeClass; facts: Facts },
    at: number,
    retried: boolean,
  ): void {
    const rec: DocRecord = {
      policy,
      key: d.key,
      id: d.id,
      raw: d.raw,
      hash: d.hash,
      cls: d.cls,
      insertedAt: at,
      lastAckAt: at,
      history: [{ hash: d.hash, at, facts: d.facts }],
      updates: 0,
      ...(retried ? { insertRetried: true } : {}),
    };
    this.docs.set(Ledger.docKey(policy, d.key), rec);
    this.present[policy]!.push(d.key);
    this.stats.inserted++;
    this.stats.byClass[d.cls]++;
    if (retried) this.stats.insertRetries++;
    this.line(
      {
        op: 'insert',
        p: policy,
        id: d.key,
        h: d.hash,
        cls: d.cls,
        age: d.facts.age,
        ...(retried ? { retried: true } : {}),
      },
      at,
    );
  }

  /** An insert whose outcome stayed unknown: the document may or may not exist. */
  insertUnknown(
    policy: number,
    d: { id: unknown; key: string; raw: Buffer; hash: string; cls: AgeClass; facts: Facts },
    at: number,
  ): void {
    const rec: DocRecord = {
      policy,
      key: d.key,
      id: d.id,
      raw: d.raw,
      hash: d.hash,
      cls: d.cls,
      insertedAt: at,
      lastAckAt: at,
      history: [{ hash: d.hash, at, facts: d.facts }],
      updates: 0,
      maybeNeverInserted: true,
    };
    this.docs.set(Ledger.docKey(policy, d.key), rec);
    this.stats.ambiguous++;
    this.line({ op: 'insert-unknown', p: policy, id: d.key, h: d.hash }, at);
  }

  updated(
    rec: DocRecord,
    u: { kind: UpdateKind; raw: Buffer; hash: string; facts: Facts; set: Record<string, unknown> },
    outcome: 'matched' | 'gone',
    at: number,
    retried: boolean,
  ): void {
    this.stats.updates++;
    this.stats.byUpdateKind[u.kind]++;
    if (retried) this.stats.updateRetries++;
    if (outcome === 'matched') {
      this.stats.updatesMatched++;
      rec.altHashes = undefined;
      rec.raw = u.raw;
      rec.hash = u.hash;
      rec.lastAckAt = at;
      rec.history.push({ hash: u.hash, at, facts: u.facts });
      rec.updates++;
    } else {
      this.stats.updatesGone++;
      rec.goneAt ??= at;
      if (retried) {
        // The failed attempt may have been applied before the archiver deleted the document.
        rec.ambiguous = true;
        rec.altHashes = [...(rec.altHashes ?? []), u.hash];
        this.stats.ambiguous++;
      }
    }
    this.line(
      {
        op: 'update',
        p: rec.policy,
        id: rec.key,
        kind: u.kind,
        set: BSON.EJSON.serialize(u.set, { relaxed: false }),
        h: u.hash,
        outcome,
        ...(retried ? { retried: true } : {}),
      },
      at,
    );
  }

  note(event: Record<string, unknown>, at = Date.now()): void {
    this.line(event, at);
  }

  private line(o: Record<string, unknown>, at: number): void {
    this.out.write(`${JSON.stringify({ t: at - this.t0, at: new Date(at).toISOString(), ...o })}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(() => resolve()));
  }
}
