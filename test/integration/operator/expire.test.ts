// spec.s3.expireAfter end to end: the operator (real API server, FerretDB, versitygw) archives documents
// of two ages; with dryRun its expiry pass only reports the expired bundle; without, it removes this
// policy's bundles whose newest document passed expireAfter and nothing else — not another policy's
// bundle under the same prefix, not one under a longer prefix, not an object whose age cannot be read.
// The status shows the last pass; an Event and the metrics count it.
import { parseBundleKey } from '../../../operator/bundle/keys.js';
import { putGochiveBundle, putRaw, s3Dest } from '../restore/helpers.js';
import { apply, ensureCrd, getPolicy, mustKubectl, OperatorProcess, waitFor } from './harness.js';
import { DAY, listKeys, policyManifest, policySpec, sandbox, seed, type Sandbox } from './fixtures.js';
import { BSON } from 'mongodb';

const NAME = 'events-expiring';
const OTHER = { name: 'someone-else', namespace: 'elsewhere' };

describe('operator: archive expiration (s3.expireAfter)', () => {
  let sb: Sandbox;
  let op: OperatorProcess;
  const foreign: string[] = [];

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-expire');
    await seed(sb.db, 'events', 50, 500, { tag: 'old' }); // past expireAfter (400d) once archived
    await seed(sb.db, 'events', 50, 100, { tag: 'recent' }); // archived (ageLimit 30d), not expired
    const old = new Date(Date.now() - 600 * DAY);
    const dest = s3Dest(sb.bucket);
    try {
      const docs = [Buffer.from(BSON.serialize({ _id: 'x', createdAt: old }))];
      const other = { database: sb.dbName, collection: 'events', docs, policy: OTHER };
      foreign.push(await putGochiveBundle(dest, { ...other, prefix: 'events/' })); // same prefix
      foreign.push(await putGochiveBundle(dest, { ...other, prefix: 'events/eu/' })); // longer prefix
    } finally {
      await dest.close();
    }
    const unreadable = `events/${old.toISOString().slice(0, 10).replace(/-/g, '/')}/notes.txt`;
    await putRaw(sb.s3, sb.bucket, unreadable, Buffer.from('no age in this name'));
    foreign.push(unreadable);
    op = await OperatorProcess.start({ name: 'expire', args: [...sb.operatorArgs, '--expire-interval=2s'] });
    await waitFor('/readyz', async () => (await op.http('/readyz')).status === 200, 30_000);
  });

  afterAll(async () => {
    await op?.stop();
    await sb?.cleanup();
  });

  const ours = async (): Promise<string[]> =>
    (await listKeys(sb.s3, sb.bucket, 'events/')).filter((k) => !foreign.includes(k));
  const newest = (key: string): number => {
    const p = parseBundleKey(key);
    if (p?.kind !== 'gochive') throw new Error(`not a gochive key: ${key}`);
    return p.archiveFieldMax.getTime();
  };
  const cutoff = (): number => Date.now() - 400 * DAY;
  const spec = (dryRun: boolean) =>
    policySpec(sb, { dryRun, queryLimit: 50, bundle: { maxDocuments: 50 }, s3: { expireAfter: '400d' } });

  test('dryRun: the pass reports the expired bundle and removes nothing', async () => {
    await apply(policyManifest(sb.namespace, NAME, spec(true)));
    const p = await waitFor(
      'a dry run that uploaded both bundles and an expiry pass that found the old one',
      async () => {
        const s = (await getPolicy(sb.namespace, NAME))?.status;
        // Both bundles: the next test counts the dry run's recent bundle among what is left (a pass
        // that finds the old bundle can come before the recent one is uploaded).
        return s?.totals?.documentsArchived === 100 &&
          s.lastPrune?.dryRun === true &&
          (s.lastPrune.bundles ?? 0) >= 1
          ? s
          : undefined;
      },
      120_000,
      500,
    );
    expect(p.lastPrune).toMatchObject({ dryRun: true, bundles: 1, kept: 2 }); // other policy's + notes.txt
    const keys = await ours();
    expect(keys.filter((k) => newest(k) < cutoff())).toHaveLength(1); // still there
    for (const k of foreign) expect(await listKeys(sb.s3, sb.bucket, k)).toEqual([k]);
    const log = op.lines.find((l) => l.msg === 'dry run: would remove expired bundle');
    expect(log?.key).toBe(keys.find((k) => newest(k) < cutoff()));
  });

  test("without dryRun: only this policy's expired bundles go; status, Event and metrics say so", async () => {
    await apply(policyManifest(sb.namespace, NAME, spec(false)));
    const s = await waitFor(
      'the documents deleted and a pass that removed the expired bundles',
      async () => {
        const st = (await getPolicy(sb.namespace, NAME))?.status;
        if (st?.totals?.documentsDeleted !== 100 || st.lastPrune?.dryRun !== false) return undefined;
        const expired = (await ours()).filter((k) => newest(k) < cutoff());
        return expired.length === 0 ? st : undefined;
      },
      180_000,
      500,
    );
    // What is left of ours: the bundles whose newest document is younger than expireAfter (from the
    // dry run and the real run), holding the 50 recent documents each time.
    const left = await ours();
    expect(left.length).toBeGreaterThanOrEqual(2);
    for (const k of left) expect(newest(k)).toBeGreaterThanOrEqual(cutoff());
    for (const k of foreign) expect(await listKeys(sb.s3, sb.bucket, k)).toEqual([k]);
    expect(s.lastPrune?.kept).toBe(2);

    const removedLogs = op.lines.filter((l) => l.msg === 'expired bundle removed').map((l) => l.key);
    expect(removedLogs.length).toBeGreaterThanOrEqual(2); // the dry run's old bundle and the real run's
    const events = JSON.parse(
      await mustKubectl(['get', 'events.v1.events.k8s.io', '-n', sb.namespace, '-o', 'json']),
    ) as { items: Array<{ reason: string; note: string; regarding: { name: string } }> };
    const reasons = events.items.filter((e) => e.regarding.name === NAME).map((e) => e.reason);
    expect(reasons).toEqual(
      expect.arrayContaining(['BundlesWouldExpire', 'BundlesExpired', 'ExpiryKeptUnreadable']),
    );
    const metrics = await op.metrics();
    const expired = new RegExp(
      `^gochive_bundles_expired_total\\{namespace="${sb.namespace}",policy="${NAME}"\\} (\\d+)$`,
      'm',
    ).exec(metrics);
    expect(Number(expired?.[1])).toBe(removedLogs.length);
  });
});
