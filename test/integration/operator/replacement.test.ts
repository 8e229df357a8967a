// I8: a replica killed at any stage and replaced by a new one with an EMPTY spool and another identity
// (what a new pod is). The successor finishes what the policy's ledger (status.ledger) lists, reading
// the `_id`s from the bucket: nothing lost, nothing held twice in S3, and status.totals equal to the
// truth counted from S3 and MongoDB.
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { ArchivePolicy } from '../../../operator/api/schema.js';
import { apply, ensureCrd, getPolicy, OperatorProcess, waitFor } from './harness.js';
import { policyManifest, policySpec, readBundles, sandbox, seed, type Sandbox } from './fixtures.js';

const DUE = 600;
const RECENT = 150;
const POINTS = ['after-spool', 'after-seal', 'mid-upload', 'after-upload', 'before-delete', 'mid-delete'];

/** What S3 and MongoDB say happened to a policy's documents, and whether the status agrees. */
async function truth(sb: Sandbox, collection: string, seeded: Set<string>) {
  const prefix = `${collection}/`;
  const { BSON } = await import('mongodb');
  const inDb = new Set(
    (
      await sb.db
        .collection(collection)
        .find({}, { projection: { _id: 1 } })
        .toArray()
    ).map((d) => BSON.EJSON.stringify(d._id, { relaxed: false })),
  );
  const bundles = await readBundles(sb.s3, sb.bucket, prefix);
  const held = new Map<string, number>();
  for (const b of bundles) for (const id of b.ids) held.set(id, (held.get(id) ?? 0) + 1);
  let bytes = 0;
  let token: string | undefined;
  do {
    const r = await sb.s3.send(
      new ListObjectsV2Command({ Bucket: sb.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of r.Contents ?? []) bytes += o.Size ?? 0;
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  const lost = [...seeded].filter((id) => !inDb.has(id) && !held.has(id)).length;
  const twice = [...held.values()].reduce((n, c) => n + c - 1, 0);
  const archived = [...held.values()].reduce((n, c) => n + c, 0);
  const deleted = [...held.keys()].filter((id) => !inDb.has(id)).length;
  return {
    lost,
    twice,
    totals: {
      documentsArchived: archived,
      documentsDeleted: deleted,
      documentsSkipped: archived - deleted,
      bundlesUploaded: bundles.length,
      bytesUploaded: bytes,
      duplicatesUploaded: 0,
    },
  };
}

async function seededIds(sb: Sandbox, collection: string): Promise<Set<string>> {
  const { BSON } = await import('mongodb');
  const docs = await sb.db
    .collection(collection)
    .find({}, { projection: { _id: 1 } })
    .toArray();
  return new Set(docs.map((d) => BSON.EJSON.stringify(d._id, { relaxed: false })));
}

const idleAndSettled = (p: ArchivePolicy | undefined): boolean =>
  p?.status?.phase === 'Idle' &&
  (p.status.ledger?.bundles ?? []).length === 0 &&
  (p.status.totals?.documentsDeleted ?? 0) >= DUE;

describe('operator: a replica replaced by a new one with an empty spool', () => {
  let sb: Sandbox;
  const ops: OperatorProcess[] = [];
  let args: string[];

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-replace');
    args = [...sb.operatorArgs, '--lease-duration=4s', '--renew-interval=1s'];
  });
  afterAll(async () => {
    await Promise.all(ops.map((o) => o.stop()));
    await sb?.cleanup();
  });

  const start = async (name: string, identity: string, env: Record<string, string> = {}) => {
    const op = await OperatorProcess.start({ name, args: [...args, `--identity=${identity}`], env });
    ops.push(op);
    return op;
  };

  const spec = (collection: string) =>
    policySpec(sb, { queryLimit: 100, bundle: { maxDocuments: 200 }, s3: { uploadInterval: 2 } }, collection);

  test.each(POINTS)(
    'kill -9 %s, then a new replica with an empty spool: 0 lost, 0 twice in S3, exact totals',
    async (point) => {
      const coll = `c_${point.replace(/-/g, '_')}`;
      const name = `p-${point}`;
      await seed(sb.db, coll, DUE, 40);
      await seed(sb.db, coll, RECENT, 1, { index: false, tag: 'recent' });
      const seeded = await seededIds(sb, coll);

      const a = await start(`repl-${point}-a`, `a-${point}`, { GOCHIVE_TEST_CRASH_AT: point });
      await apply(policyManifest(sb.namespace, name, spec(coll)));
      const exit = await waitFor(`replica A to kill itself at ${point}`, () => a.exitInfo, 120_000);
      expect(exit.signal).toBe('SIGKILL');

      // A new pod: another identity, a fresh (empty) spool directory.
      const b = await start(`repl-${point}-b`, `b-${point}`);
      const p = await waitFor(
        'the policy to be Idle with nothing in flight',
        async () => {
          const cur = await getPolicy(sb.namespace, name);
          return idleAndSettled(cur) && cur;
        },
        180_000,
      );
      const t = await truth(sb, coll, seeded);
      expect({ lost: t.lost, twice: t.twice }).toEqual({ lost: 0, twice: 0 });
      expect(t.totals.documentsDeleted).toBe(DUE);
      expect(await sb.db.collection(coll).countDocuments()).toBe(RECENT);
      expect(p.status?.totals).toMatchObject(t.totals);
      await b.stop();
    },
    420_000,
  );

  test('two replicas; the killed one never comes back: the survivor finishes its bundles', async () => {
    // A namespace of its own: only these four policies, so the fair share gives each replica two.
    const sb2 = await sandbox('op-replace2');
    const args2 = [...sb2.operatorArgs, '--lease-duration=4s', '--renew-interval=1s'];
    const start2 = async (identity: string, env: Record<string, string> = {}) => {
      const op = await OperatorProcess.start({
        name: identity,
        args: [...args2, `--identity=${identity}`],
        env,
      });
      ops.push(op);
      return op;
    };
    try {
      const colls = ['two_a', 'two_b', 'two_c', 'two_d'];
      const seeded = new Map<string, Set<string>>();
      for (const c of colls) {
        await seed(sb2.db, c, DUE, 40);
        seeded.set(c, await seededIds(sb2, c));
      }
      const a = await start2('two-a', { GOCHIVE_TEST_CRASH_AT: 'after-upload' });
      const b = await start2('two-b');
      await apply(
        colls.map((c) =>
          policyManifest(
            sb2.namespace,
            c.replace('_', '-'),
            policySpec(sb2, { queryLimit: 100, bundle: { maxDocuments: 200 }, s3: { uploadInterval: 2 } }, c),
          ),
        ),
      );
      const exit = await waitFor('replica A to kill itself after an upload', () => a.exitInfo, 180_000);
      expect(exit.signal).toBe('SIGKILL');
      for (const c of colls) {
        const p = await waitFor(
          `${c} to be Idle with nothing in flight`,
          async () => {
            const cur = await getPolicy(sb2.namespace, c.replace('_', '-'));
            return idleAndSettled(cur) && cur;
          },
          240_000,
        );
        const t = await truth(sb2, c, seeded.get(c)!);
        expect({ policy: c, lost: t.lost, twice: t.twice }).toEqual({ policy: c, lost: 0, twice: 0 });
        expect(p.status?.totals).toMatchObject(t.totals);
      }
      await b.stop();
    } finally {
      await sb2.cleanup();
    }
  }, 600_000);
});
