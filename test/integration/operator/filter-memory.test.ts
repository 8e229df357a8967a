// The filter's size is capped (operator/api/filter.ts) because it is copied into queries, the journal
// and every ledger entry in the status. Three policies carrying the largest allowed filter, archiving
// with full ledgers, keep the operator well under the chart's 512Mi memory limit.
import { FILTER_MAX_BYTES, filterEjsonBytes, filterOfSize } from '../../../operator/api/filter.js';
import { apply, condition, ensureCrd, getPolicy, OperatorProcess, waitFor } from './harness.js';
import { policyManifest, policySpec, sandbox, seed, type Sandbox } from './fixtures.js';

const MIB = 1024 * 1024;
const CHART_LIMIT = 512 * MIB;
/** Asserted bound: half the chart's limit (the rest is margin for heavier documents and GC timing). */
const BOUND = CHART_LIMIT / 2;
const DOCS = 1000;
const names = ['big-a', 'big-b', 'big-c'];

describe('operator memory with the largest allowed filter', () => {
  let sb: Sandbox;
  let op: OperatorProcess;

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-bigfilter');
    op = await OperatorProcess.start({ name: 'bigfilter', args: sb.operatorArgs });
  });

  afterAll(async () => {
    await op?.stop();
    await sb?.cleanup();
  });

  test('three policies, each with a filter at the cap, archive everything with peak RSS well under 512Mi', async () => {
    const filter = filterOfSize(FILTER_MAX_BYTES); // tag $nin [...]: every seeded document ('seed') matches
    expect(filterEjsonBytes(filter)).toBe(FILTER_MAX_BYTES);
    for (const n of names) await seed(sb.db, n, DOCS, 40);
    const idle = op.peakRssBytes();
    // Small bundles and a short upload interval: many bundles in flight, so the ledger (one filter copy
    // per entry) fills up and is rewritten often.
    await apply(
      names.map((n) =>
        policyManifest(
          sb.namespace,
          n,
          policySpec(sb, { filter, queryLimit: 100, bundle: { maxDocuments: 100 } }, n),
        ),
      ),
    );
    let maxLedger = 0;
    await waitFor(
      'every policy to archive all its documents',
      async () => {
        let done = 0;
        for (const n of names) {
          const p = await getPolicy(sb.namespace, n);
          maxLedger = Math.max(maxLedger, p?.status?.ledger?.bundles?.length ?? 0);
          if (condition(p, 'Ready')?.reason === 'InvalidSpec')
            throw new Error(`${n} refused: ${JSON.stringify(p?.status)}`);
          if (p?.status?.totals?.documentsDeleted === DOCS) done++;
        }
        return done === names.length;
      },
      300_000,
      500,
    );
    for (const n of names) expect(await sb.db.collection(n).countDocuments({})).toBe(0);
    const peak = op.peakRssBytes();
    process.stdout.write(
      `\nlargest filter (${FILTER_MAX_BYTES} B) x ${names.length} policies, ${DOCS} docs each: ` +
        `peak RSS ${(peak / MIB).toFixed(0)} MiB (before the policies: ${(idle / MIB).toFixed(0)} MiB; ` +
        `most ledger entries seen: ${maxLedger}); bound ${BOUND / MIB} MiB, chart limit ${CHART_LIMIT / MIB} MiB\n`,
    );
    expect(peak).toBeLessThan(BOUND);
  }, 400_000);
});
