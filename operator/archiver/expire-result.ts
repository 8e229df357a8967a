// What an expiry pass (expire.ts) reports, and its one-line description: a module of its own so the
// controller can describe a pass in an Event without loading the bundle reader.

export interface ExpiredBundle {
  key: string;
  bytes: number;
  /** The newest document's archive-field time (for original-format keys: the upload time). */
  newest: string;
}

export type KeptReason =
  | 'ageUnreadable' // not a bundle key: its age cannot be read
  | 'manifestUnreadable' // match needs the manifest and it cannot be read
  | 'notSelected' // the manifest names another policy, database or collection, or is newer than the key says
  | 'inFlight' // the ledger still needs it
  | 'tooRecent'; // created after createdBefore

export interface ExpireResult {
  cutoff: string;
  dryRun: boolean;
  /** Removed (or, in a dry run, that would be removed), oldest folder first. */
  expired: ExpiredBundle[];
  bytes: number;
  /** Expired by age but kept, by reason. */
  kept: Record<KeptReason, number>;
  /** Some kept keys, for the log and the CLI. */
  keptKeys: { key: string; reason: KeptReason }[];
  /** The bound was reached: more bundles may be expired (the next pass continues). */
  truncated: boolean;
}

/** One line for logs, Events and the CLI: what a pass did. */
export function describeExpiry(r: ExpireResult): string {
  const kept = Object.entries(r.kept)
    .filter(([, n]) => n > 0)
    .map(([why, n]) => `${n} ${KEPT_TEXT[why as KeptReason]}`);
  return `${r.dryRun ? 'would remove' : 'removed'} ${r.expired.length} bundle(s), ${r.bytes} bytes, whose newest document is before ${r.cutoff}${kept.length ? `; kept ${kept.join(', ')}` : ''}${r.truncated ? '; more remain for the next pass' : ''}`;
}

const KEPT_TEXT: Record<KeptReason, string> = {
  ageUnreadable: 'whose age cannot be read from the key',
  manifestUnreadable: 'whose manifest cannot be read',
  notSelected: 'whose manifest names another policy or collection, or a newer document',
  inFlight: 'still in the ledger (documents not yet deleted from MongoDB)',
  tooRecent: 'uploaded too recently',
};
