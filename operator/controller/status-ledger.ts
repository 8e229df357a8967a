// The operator's ledger store: status.ledger, status.totals and status.dryRunPosition of one
// ArchivePolicy, changed by read → step → merge patch conditional on the resourceVersion read. A 409
// (another writer got in between: the status writer, or a stale replica) re-reads and runs the step
// again on what is there now, so a step's counts land exactly once.
import type { ArchivePolicyStatus } from '../api/schema.js';
import {
  applyChange,
  ledgerOfStatus,
  LedgerConflictError,
  type LedgerChange,
  type LedgerStore,
  type LedgerView,
} from '../archiver/ledger.js';
import { isConflict, isNotFound, type KubeClient } from './kube-rest.js';
import { policyStatusPath } from './status-writer.js';

interface PolicyObject {
  metadata?: { resourceVersion?: string; uid?: string };
  status?: ArchivePolicyStatus;
}

export interface StatusLedgerOptions {
  rest: KubeClient;
  namespace: string;
  name: string;
  /** metadata.uid of the policy the worker runs for: a re-created policy's ledger is not ours. */
  uid: string;
  /** Told about every status this store wrote (the status writer rebases on it). */
  onWritten?: (status: ArchivePolicyStatus, resourceVersion: string | undefined) => void;
  /** Attempts when other writers keep getting in between (default 20). */
  maxConflicts?: number;
}

export class StatusLedgerStore implements LedgerStore {
  constructor(private readonly o: StatusLedgerOptions) {}

  private get path(): string {
    return policyStatusPath(this.o.namespace, this.o.name);
  }

  private async get(): Promise<PolicyObject> {
    try {
      const obj = await this.o.rest.request<PolicyObject>({ method: 'GET', path: this.path });
      if (obj?.metadata?.uid && obj.metadata.uid !== this.o.uid)
        throw new LedgerConflictError(
          'the policy was deleted and created again: its ledger belongs to the new object',
        );
      return obj ?? {};
    } catch (err) {
      if (isNotFound(err)) throw new LedgerConflictError('the policy was deleted');
      throw err;
    }
  }

  async read(): Promise<LedgerView> {
    return ledgerOfStatus((await this.get()).status);
  }

  async update(step: (current: LedgerView) => LedgerChange | undefined): Promise<LedgerView> {
    const attempts = this.o.maxConflicts ?? 20;
    for (let i = 0; ; i++) {
      const obj = await this.get();
      const cur = ledgerOfStatus(obj.status);
      const change = step(cur);
      if (!change) return cur;
      const next = applyChange(cur, change);
      const status: ArchivePolicyStatus = {
        totals: { ...(obj.status?.totals ?? {}), ...next.totals },
        ledger: { ...(next.epoch ? { epoch: next.epoch } : {}), bundles: next.bundles },
        ...(next.dryRunPosition ? { dryRunPosition: next.dryRunPosition } : {}),
      };
      try {
        const written = await this.o.rest.request<PolicyObject>({
          method: 'PATCH',
          path: this.path,
          contentType: 'application/merge-patch+json',
          body: { metadata: { resourceVersion: obj.metadata?.resourceVersion }, status },
        });
        if (written?.status) this.o.onWritten?.(written.status, written.metadata?.resourceVersion);
        return next;
      } catch (err) {
        if (isNotFound(err)) throw new LedgerConflictError('the policy was deleted');
        if (!isConflict(err) || i + 1 >= attempts) throw err;
      }
    }
  }
}
