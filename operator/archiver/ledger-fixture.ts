// A ledger entry for tests (unit and integration): one bundle of database d, collection c.
import type { LedgerBundle } from './ledger.js';

export function ledgerEntry(
  id: string,
  state: LedgerBundle['state'] = 'uploading',
  over: Partial<LedgerBundle> = {},
): LedgerBundle {
  return {
    id,
    key: `p/2024/01/01/${id}.tar.gz`,
    state,
    documents: 10,
    bytes: 1000,
    sha256: 'A'.repeat(44),
    database: 'd',
    collection: 'c',
    archiveField: 'createdAt',
    archiveFieldFormat: 'date',
    cutoffMs: 1_700_000_000_000,
    ...over,
  };
}
