// Where a dryRun policy's pass has got to, shared through the policy status. A dryRun never deletes, so
// its documents stay eligible and its fetch position is the only thing that keeps it from uploading
// them again; that position lives in one replica's spool. The worker publishes the position its
// uploaded bundles reach, and a worker starting without a position of its own (a fresh spool, or a
// journal another replica superseded) continues from it instead of starting the pass over.
import { createHash } from 'node:crypto';
import { DRY_RUN_POSITION_MAX_CHARS, type ArchivePolicyStatus } from '../api/schema.js';
import { decodeRawOperand, type FetchPosition } from './fetch.js';
import type { JournalFingerprint } from './journal.js';

export type DryRunPosition = NonNullable<ArchivePolicyStatus['dryRunPosition']>;

/** Names the selection a position belongs to (a changed filter or field makes it meaningless). */
export function selectionOf(fp: JournalFingerprint): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        fp.database,
        fp.collection,
        fp.archiveField,
        fp.archiveFieldFormat,
        fp.filterEJSON ?? null,
      ]),
    )
    .digest('hex');
}

/** The position to publish; undefined when a value is too long to share. */
export function publishPosition(fp: JournalFingerprint, p: FetchPosition): DryRunPosition | undefined {
  const values = p.mode === 'range' ? [p.lastAge] : [p.age, p.lastId];
  if (values.some((v) => v !== undefined && v.length > DRY_RUN_POSITION_MAX_CHARS)) return undefined;
  return { selection: selectionOf(fp), ...p };
}

/** The fetch position to continue from, if `p` was published for this selection and is well-formed. */
export function continueFrom(
  fp: JournalFingerprint,
  p: DryRunPosition | undefined,
): FetchPosition | undefined {
  if (!p || p.selection !== selectionOf(fp)) return undefined;
  let out: FetchPosition | undefined;
  if (p.mode === 'range' && p.lastAge !== undefined) out = { mode: 'range', lastAge: p.lastAge };
  else if (p.mode === 'tie' && p.age !== undefined)
    out = { mode: 'tie', age: p.age, ...(p.lastId !== undefined ? { lastId: p.lastId } : {}) };
  try {
    // A damaged value (the status is user-writable) starts the pass over rather than failing the worker.
    for (const v of [p.lastAge, p.age, p.lastId]) if (v !== undefined) decodeRawOperand(v);
  } catch {
    return undefined;
  }
  return out;
}
