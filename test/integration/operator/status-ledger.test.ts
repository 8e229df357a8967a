// The ledger on the real API server (controller/status-ledger.ts): steps from several writers at once,
// interleaved with the status writer, each land exactly once (the merge patch carries the resourceVersion
// its step was computed from, and a 409 recomputes the step from what is there now); a step applied
// twice (a retry after a lost reply) adds nothing; a re-created policy's ledger is not the old worker's.
import { pino } from 'pino';
import type { ArchivePolicyStatus } from '../../../operator/api/schema.js';
import {
  LedgerConflictError,
  putEntry,
  withoutEntry,
  type LedgerBundle,
} from '../../../operator/archiver/ledger.js';
import { FILTER_MAX_BYTES, filterEjsonBytes, filterOfSize } from '../../../operator/api/filter.js';
import { MAX_LEDGER_BUNDLES } from '../../../operator/api/schema.js';
import { ledgerEntry } from '../../../operator/archiver/ledger-fixture.js';
import { KubeRest } from '../../../operator/controller/kube-rest.js';
import { StatusLedgerStore } from '../../../operator/controller/status-ledger.js';
import { StatusWriter } from '../../../operator/controller/status-writer.js';
import { adminKubeConfig } from '../../support/kube.js';
import { uniqueName } from '../../support/testenv.js';
import { apply, createNamespace, deleteNamespace, ensureCrd, getPolicy, kubectl } from './harness.js';
import { policyManifest } from './fixtures.js';

const entry = (id: string, state: LedgerBundle['state'] = 'uploading'): LedgerBundle =>
  ledgerEntry(id, state, { filter: '{"status":"done"}' });

describe('the ledger in the policy status, on the API server', () => {
  const ns = uniqueName('status-ledger');
  const rest = new KubeRest(adminKubeConfig());
  const log = pino({ level: 'silent' });

  beforeAll(async () => {
    await ensureCrd();
    await createNamespace(ns);
  });
  afterAll(() => deleteNamespace(ns));

  const manifest = (name: string) =>
    policyManifest(ns, name, {
      hostAddress: '127.0.0.1:1',
      ageLimit: '30d',
      archiveCheckInterval: 60,
      database: 'd',
      collection: 'c',
      archiveField: 'createdAt',
      s3: { bucket: `bucket/${name}/`, uploadInterval: 120 },
    });

  test('steps from two writers and a status writer at once: every count exactly once', async () => {
    await apply(manifest('p'));
    const created = (await getPolicy(ns, 'p'))!;
    const store = () =>
      new StatusLedgerStore({
        rest,
        namespace: ns,
        name: 'p',
        uid: created.metadata.uid!,
        maxConflicts: 100,
      });
    const a = store();
    const b = store();
    // The status writer writes from a stale base all along (the object as created).
    const w = new StatusWriter({ rest, log, minIntervalMs: 0 });
    let n = 0;
    const progress = (prev: ArchivePolicyStatus | undefined): ArchivePolicyStatus => ({
      ...prev,
      backlog: n,
    });
    const steps: Promise<unknown>[] = [];
    for (let i = 1; i <= 10; i++) {
      n = i;
      w.request(
        `${ns}/p`,
        { namespace: ns, name: 'p' },
        undefined,
        created.metadata.resourceVersion,
        progress,
      );
      steps.push(
        a.update((cur) => ({
          bundles: putEntry(cur, entry(`a${i}`), undefined)!,
          add: { documentsArchived: i },
        })),
        b.update((cur) => ({ bundles: cur.bundles, add: { documentsDeleted: 2 * i } })),
      );
    }
    await Promise.all(steps);
    await w.flush(`${ns}/p`);
    await w.close();
    const st = (await getPolicy(ns, 'p'))!.status!;
    expect(st.totals).toMatchObject({ documentsArchived: 55, documentsDeleted: 110 });
    expect(st.ledger?.bundles?.map((x) => x.id).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `a${i + 1}`).sort(),
    );
    expect(st.backlog).toBe(10);

    // A step repeated after its reply was lost finds it applied: nothing is added again.
    const advance = (id: string) =>
      a.update((cur) => {
        const bundles = putEntry(cur, entry(id, 'uploaded'), 'uploading');
        return bundles && { bundles, add: { bundlesUploaded: 1 } };
      });
    await advance('a1');
    await advance('a1');
    const remove = (id: string) =>
      a.update((cur) => {
        const bundles = withoutEntry(cur, id);
        return bundles && { bundles, add: { documentsSkipped: 1 } };
      });
    await remove('a1');
    await remove('a1');
    const after = (await getPolicy(ns, 'p'))!.status!;
    expect(after.totals).toMatchObject({ bundlesUploaded: 1, documentsSkipped: 1 });
    expect(after.ledger?.bundles?.some((x) => x.id === 'a1')).toBe(false);
    // The filter and cutoff a successor needs are stored with the entry.
    expect(after.ledger?.bundles?.find((x) => x.id === 'a2')).toMatchObject({
      filter: '{"status":"done"}',
      cutoffMs: 1_700_000_000_000,
    });
  }, 60_000);

  test('a policy deleted and created again: the old worker cannot write into the new ledger', async () => {
    await apply(manifest('q'));
    const old = (await getPolicy(ns, 'q'))!;
    const store = new StatusLedgerStore({ rest, namespace: ns, name: 'q', uid: old.metadata.uid! });
    await store.update((cur) => ({ bundles: cur.bundles, epoch: 'e1' }));
    expect((await kubectl(['delete', 'archivepolicy', 'q', '-n', ns, '--wait=true'])).code).toBe(0);
    await apply(manifest('q'));
    await expect(
      store.update((cur) => ({ bundles: cur.bundles, add: { documentsDeleted: 1 } })),
    ).rejects.toThrow(LedgerConflictError);
    expect((await getPolicy(ns, 'q'))!.status?.totals?.documentsDeleted ?? 0).toBe(0);
  }, 60_000);

  test('the largest allowed filter in the spec and in every ledger entry: the object stays well under the API server limit', async () => {
    // The filter is in the spec, in kubectl's last-applied annotation, and copied into each of up to
    // MAX_LEDGER_BUNDLES ledger entries; the API server (etcd) refuses objects over ~1.5 MiB.
    const filter = filterOfSize(FILTER_MAX_BYTES);
    const ejson = JSON.stringify(filter); // plain strings: the same bytes as canonical Extended JSON
    expect(filterEjsonBytes(filter)).toBe(FILTER_MAX_BYTES);
    expect(ejson.length).toBe(FILTER_MAX_BYTES);
    const m = manifest('big') as { spec: Record<string, unknown> };
    m.spec.filter = filter;
    await apply(m);
    const created = (await getPolicy(ns, 'big'))!;
    const store = new StatusLedgerStore({ rest, namespace: ns, name: 'big', uid: created.metadata.uid! });
    for (let i = 0; i < MAX_LEDGER_BUNDLES; i++)
      await store.update((cur) => ({
        bundles: putEntry(
          cur,
          ledgerEntry(`big-${String(i).padStart(60, '0')}`, 'uploading', {
            filter: ejson,
            changeGuardFields: Array.from({ length: 8 }, (_, j) => `guard.field${j}`),
            archiveFieldMin: '2024-01-01T00:00:00.000Z',
            archiveFieldMax: '2024-01-02T00:00:00.000Z',
          }),
          undefined,
        )!,
      }));
    const full = (await getPolicy(ns, 'big'))!;
    expect(full.status?.ledger?.bundles).toHaveLength(MAX_LEDGER_BUNDLES);
    const bytes = Buffer.byteLength(JSON.stringify(full));
    process.stdout.write(`\nArchivePolicy with the largest filter and a full ledger: ${bytes} bytes\n`);
    // Well under: at most 1 MiB of the ~1.5 MiB the API server accepts.
    expect(bytes).toBeLessThan(1024 * 1024);
  }, 60_000);
});
