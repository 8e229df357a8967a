// Bundle stage: turns a bundle's spool file into the compressed object (bundle/writer.ts) and picks its
// key (bundle/keys.ts). The payload is hashed in one pass over the spool file first (a crash may have
// cut the file back to its committed length, so a running hash from fetch time could not be trusted),
// then streamed through tar + gzip into `bundle.tar.gz` beside it — compressed, so much smaller than the
// spool, and the upload can be retried from it without rebuilding.
import type { Document } from 'mongodb';
import { bundleKey } from '../bundle/keys.js';
import {
  bundleExtension,
  summarizeSpoolFiles,
  writeBundleFile,
  type PayloadSummary,
} from '../bundle/writer.js';
import type { PolicyConfig } from './config.js';
import { SpoolIdScanner } from './id-range.js';
import type { JournalBundle } from './journal.js';
import type { Spool } from './spool.js';
import { keyDate } from './time-range.js';

export interface SealedInfo {
  key: string;
  file: string;
  size: number;
  sha256Base64: string;
}

/** The hashing pass over a bundle's spool file: what its manifest declares about the payload. */
export interface PreparedSeal {
  commit: { docs: number; docsBytes: number };
  summary: PayloadSummary;
  idRange: ReturnType<SpoolIdScanner['range']>;
}

/**
 * The first pass of a seal, on its own so the worker can run it for the next bundle while the previous
 * one is still compressing: only this bundle's files are read, and no fetch appends to them any more.
 */
export async function prepareSeal(
  spool: Spool,
  b: JournalBundle,
  signal?: AbortSignal,
): Promise<PreparedSeal> {
  const docsFile = spool.docsFile(b.id);
  const commit = { docs: b.commit.docs, docsBytes: b.commit.docsBytes };
  // The journal's commit is what the bundle holds: bytes past it are a batch that failed half-written
  // (a flush that hit ENOSPC before its cut). A bundle in `sealing` is never reopened by a fetch, so
  // the seal cuts them itself, or every retry would find them and the bundle would never be uploaded.
  await spool.cutToCommitted(b.id, b.commit);
  const ids = new SpoolIdScanner(); // `_id` range for `gochive cat --id` (restore/id-prune.ts)
  const summary = await summarizeSpoolFiles([docsFile], signal, (chunk) => ids.update(chunk));
  if (summary.bytes !== commit.docsBytes || summary.documents !== commit.docs) {
    throw new Error(
      `spool ${docsFile} holds ${summary.documents} documents / ${summary.bytes} bytes but the journal recorded ` +
        `${commit.docs} / ${commit.docsBytes}: the spool was modified outside gochive`,
    );
  }
  return { commit, summary, idRange: ids.range() };
}

export async function sealBundle(
  spool: Spool,
  b: JournalBundle,
  cfg: Pick<PolicyConfig, 'name' | 'namespace' | 'compression' | 'destination'>,
  indexes: Document[] | undefined,
  signal?: AbortSignal,
  prepared?: PreparedSeal,
): Promise<SealedInfo> {
  const docsFile = spool.docsFile(b.id);
  const current =
    prepared && prepared.commit.docs === b.commit.docs && prepared.commit.docsBytes === b.commit.docsBytes;
  const { summary, idRange } = current ? prepared : await prepareSeal(spool, b, signal);
  const createdAt = new Date();
  // Labels only (see time-range.ts): a value beyond the years 0000-9999 is archived as it is.
  const min = keyDate(b.commit.ageMinMs ?? createdAt.getTime());
  const max = keyDate(b.commit.ageMaxMs ?? createdAt.getTime());
  const codec = cfg.compression.codec;
  const key = bundleKey(cfg.destination.prefix, {
    archiveFieldMin: min,
    archiveFieldMax: max,
    createdAt,
    bundleId: b.id,
    codec,
  });
  const file = spool.bundleFile(b.id, bundleExtension(codec));
  const res = await writeBundleFile(
    {
      manifest: {
        bundleId: b.id,
        policy: { name: cfg.name, namespace: cfg.namespace },
        database: b.target.database,
        collection: b.target.collection,
        archiveField: b.target.archiveField,
        archiveFieldFormat: b.target.archiveFieldFormat,
        cutoff: keyDate(b.cutoffMaxMs ?? createdAt.getTime()).toISOString(),
        archiveFieldRange: { min: min.toISOString(), max: max.toISOString() },
        ...(idRange ? { idRange } : {}),
        createdAt: createdAt.toISOString(),
      },
      payload: { segments: [docsFile], ...summary },
      ...(indexes ? { indexes } : {}),
      compression: cfg.compression,
    },
    file,
    signal,
  );
  return { key, file, size: res.bytes, sha256Base64: res.sha256Base64 };
}
