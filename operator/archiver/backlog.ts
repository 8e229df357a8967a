// The backlog estimate shown in the status: how many eligible documents are still in MongoDB (not
// counting those already in bundles in flight), how old the oldest is, and how many documents the
// filter selects but can never be archived (archive field missing or of the wrong type — a gauge).
import type { Collection } from 'mongodb';
import { ageMillis, agePath, eligibleQuery, ineligibleQuery, type EligibilityTarget } from './eligibility.js';
import { getRawValue } from './raw-bson.js';

export interface MeasureOptions {
  cutoffMs: number;
  nowMs: number;
  /** Eligible documents already in bundles in flight (still in MongoDB until deleted). */
  inFlight: number;
  /** The end of a `once` run: the count alone (the ineligible count scans on FerretDB). */
  countOnly: boolean;
  withAliasFallback<T>(fn: () => Promise<T>): Promise<T>;
}

export class BacklogEstimate {
  backlog?: number;
  oldestAgeSeconds?: number;
  ineligible = 0;
  lastAt = Number.NEGATIVE_INFINITY;

  /** Measures now; returns the seconds spent waiting for the server. */
  async measure(coll: Collection, target: EligibilityTarget, o: MeasureOptions): Promise<number> {
    this.lastAt = o.nowMs;
    const t0 = performance.now();
    const q = eligibleQuery(target, o.cutoffMs);
    const count = await coll.countDocuments(q);
    this.backlog = Math.max(0, count - o.inFlight);
    const p = agePath(target);
    const oldest =
      o.countOnly && count === 0
        ? null
        : await coll.findOne(q, { sort: { [p]: 1 }, projection: { [p]: 1 }, raw: true });
    const ageMs = oldest
      ? ageMillis(target.archiveFieldFormat, getRawValue(oldest as unknown as Uint8Array, p))
      : undefined;
    // 0 when nothing is eligible (as the CRD documents): leaving it out kept an old age in the status.
    this.oldestAgeSeconds = ageMs === undefined ? 0 : Math.max(0, Math.round((o.nowMs - ageMs) / 1000));
    if (!o.countOnly) {
      const accepted =
        target.archiveFieldFormat === 'epochSeconds' ||
        target.archiveFieldFormat === 'epochMillis' ||
        target.archiveFieldFormat === 'epochNanos'
          ? ['number']
          : undefined;
      this.ineligible = await o.withAliasFallback(() =>
        coll.countDocuments(ineligibleQuery(target, accepted)),
      );
    }
    return (performance.now() - t0) / 1000;
  }
}
