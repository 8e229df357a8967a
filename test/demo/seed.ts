// The demo's collection: offerwall event-log documents spread evenly over the last N days, inserted in
// batches (insertMany, unordered), then the index on the archive field that every fetch relies on.
import { randomBytes } from 'node:crypto';
import type { Collection } from 'mongodb';

const DAY_MS = 86_400_000;
const EVENTS = ['offer_view', 'offer_click', 'install', 'reward_granted', 'postback'] as const;
const PLACEMENTS = ['home_banner', 'store_tab', 'daily_bonus', 'level_up'] as const;

export interface SeedResult {
  inserted: number;
  /** Documents older than `cutoffDays` at seeding time: what the policy will archive (at least). */
  olderThanCutoff: number;
  insertMs: number;
  indexMs: number;
}

function pick<T>(xs: readonly T[]): T {
  return xs[Math.floor(Math.random() * xs.length)]!;
}

/** One event, `ageMs` old, with a payload of roughly 300 bytes. */
function event(now: number, ageMs: number) {
  return {
    createdAt: new Date(now - ageMs),
    userId: `user-${Math.floor(Math.random() * 20_000)
      .toString()
      .padStart(5, '0')}`,
    event: pick(EVENTS),
    payload: {
      offerId: `offer-${Math.floor(Math.random() * 500)}`,
      placement: pick(PLACEMENTS),
      rewardPoints: Math.floor(Math.random() * 1000),
      device: { os: Math.random() < 0.5 ? 'android' : 'ios', appVersion: '5.12.3' },
      // Opaque tracking data, as ad networks send it: keeps each document a realistic size.
      trackingToken: randomBytes(150).toString('base64'),
    },
  };
}

export async function seedEvents(
  coll: Collection,
  opts: {
    count: number;
    spanDays: number;
    cutoffDays: number;
    batchSize: number;
    onProgress?: (inserted: number) => void;
  },
): Promise<SeedResult> {
  const now = Date.now();
  const span = opts.spanDays * DAY_MS;
  const cutoffAge = opts.cutoffDays * DAY_MS;
  let olderThanCutoff = 0;
  const t0 = Date.now();
  for (let start = 0; start < opts.count; start += opts.batchSize) {
    const n = Math.min(opts.batchSize, opts.count - start);
    const docs = Array.from({ length: n }, (_, i) => {
      // Evenly spread ages with a little jitter, newest up to one step old.
      const ageMs = Math.min(span, ((start + i + Math.random()) / opts.count) * span);
      if (ageMs > cutoffAge) olderThanCutoff++;
      return event(now, ageMs);
    });
    await coll.insertMany(docs, { ordered: false });
    opts.onProgress?.(start + n);
  }
  const insertMs = Date.now() - t0;
  const t1 = Date.now();
  await coll.createIndex({ createdAt: 1 });
  return { inserted: opts.count, olderThanCutoff, insertMs, indexMs: Date.now() - t1 };
}
