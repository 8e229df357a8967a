// The campaign's view of its 20 ArchivePolicies: the spec each one has now, and the history of what
// made a document eligible under each (ageLimit, filter, dryRun), which the checker uses to decide
// whether a deleted document could ever have been eligible. Also the baseline taken when a deleted
// policy is created again (its status starts from zero then).
import type { Kube } from './kube.js';
import {
  filterOf,
  initialTuning,
  randomEdit,
  specOf,
  type Connection,
  type FilterKind,
  type PolicyPlan,
  type Tuning,
} from './plan.js';
import type { Rng } from './rng.js';

export interface Criteria {
  t: number;
  ageLimitDays: number;
  filterKind: FilterKind;
  dryRun: boolean;
}

export interface Baseline {
  at: number;
  /** Ledger documents of this policy already absent from MongoDB when the policy was created again. */
  absentKeys: Set<string>;
  /** Bundle keys already under the policy's prefix then. */
  bundleKeys: Set<string>;
  /** False when the old worker had not stopped when the baseline was taken (counts then only noted). */
  reliable: boolean;
}

export interface PolicyState {
  plan: PolicyPlan;
  tuning: Tuning;
  exists: boolean;
  /** Every eligibility-relevant version ever applied (never pruned: an old bundle may be deleted late). */
  criteria: Criteria[];
  /** Set when the policy was deleted and created again. */
  baseline?: Baseline;
  deletions: number;
  /** A fault is working on this policy (edit in flight, suspended, deleted): others leave it alone. */
  busy: boolean;
}

export class Policies {
  readonly states: PolicyState[];

  constructor(
    private readonly kube: Kube,
    plans: PolicyPlan[],
    private readonly conn: Connection,
    rng: Rng,
    private readonly takeBaseline: (p: PolicyPlan) => Promise<Baseline>,
  ) {
    this.states = plans.map((plan) => {
      const tuning = initialTuning(plan, rng);
      return { plan, tuning, exists: false, criteria: [], deletions: 0, busy: false };
    });
  }

  spec(s: PolicyState, tuning = s.tuning): Record<string, unknown> {
    return specOf(s.plan, tuning, this.conn);
  }

  private record(s: PolicyState): void {
    s.criteria.push({
      t: Date.now(),
      ageLimitDays: s.tuning.ageLimit.days,
      filterKind: s.tuning.filterKind,
      dryRun: s.plan.dryRun,
    });
  }

  async createAll(): Promise<void> {
    for (const s of this.states) {
      await this.kube.createPolicy(s.plan.name, this.spec(s));
      s.exists = true;
      this.record(s);
    }
  }

  async apply(s: PolicyState, tuning: Tuning): Promise<void> {
    // Record before the write: the operator may act on the new spec the moment it is stored.
    const prev = s.tuning;
    s.tuning = tuning;
    this.record(s);
    try {
      await this.kube.replaceSpec(s.plan.name, this.spec(s));
    } catch (err) {
      s.tuning = prev;
      throw err;
    }
  }

  async edit(s: PolicyState, rng: Rng): Promise<string> {
    const { tuning, what } = randomEdit(s.plan, s.tuning, rng);
    await this.apply(s, tuning);
    return what;
  }

  async setSuspend(s: PolicyState, suspend: boolean): Promise<void> {
    await this.apply(s, { ...s.tuning, suspend });
  }

  async setSpoolCap(s: PolicyState, cap: string | undefined): Promise<void> {
    await this.apply(s, { ...s.tuning, spoolMaxBytes: cap });
  }

  async delete(s: PolicyState): Promise<void> {
    s.exists = false;
    s.deletions++;
    await this.kube.deletePolicy(s.plan.name);
  }

  async recreate(s: PolicyState): Promise<void> {
    // Wait until the old object is really gone (no finalizer is expected; bounded anyway).
    const deadline = Date.now() + 30_000;
    while ((await this.kube.getPolicy(s.plan.name)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    s.baseline = await this.takeBaseline(s.plan);
    await this.kube.createPolicy(s.plan.name, this.spec(s));
    s.exists = true;
    this.record(s);
  }

  describe(s: PolicyState): string {
    const f = filterOf(s.tuning.filterKind);
    return `${s.plan.name} (${s.plan.format} ${s.plan.archiveField}${f ? ` filter ${JSON.stringify(f)}` : ''}${s.plan.guard ? ' guard rev' : ''}${s.plan.dryRun ? ' dryRun' : ''})`;
  }
}
