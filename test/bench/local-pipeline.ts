// The archiver's own work without a server: documents from a local BSON file go through what the worker
// does with each fetched batch — docMeta (fetch.ts), the spool appender with a checkpoint and fsync per
// batch (spool.ts), and sealing in the background while the next bundle is spooled (background-seal.ts,
// seal.ts: hashing, tar, gzip). Uploading is left out (that is the store's time). The input is read in
// 4 MiB slices, about what one server reply holds (fetch.ts batchSizeFor).
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BackgroundSeal } from '../../operator/archiver/background-seal.js';
import type { PolicyConfig } from '../../operator/archiver/config.js';
import { docMeta } from '../../operator/archiver/fetch.js';
import type { JournalBundle } from '../../operator/archiver/journal.js';
import { prepareSeal, sealBundle } from '../../operator/archiver/seal.js';
import { EMPTY_COMMIT, Spool, type BundleAppender } from '../../operator/archiver/spool.js';
import { splitBsonDocuments } from '../../operator/bundle/bson-stream.js';

export interface LocalPipelineResult {
  seconds: number;
  documents: number;
  bundles: number;
  /** Bytes of the bundle files (tar.gz). */
  bundleBytes: number;
  /** Main-thread busy time (event-loop utilization), seconds. */
  mainThreadSeconds: number;
  /** CPU time of the whole process (all threads), seconds. */
  cpuSeconds: number;
}

const target = {
  database: 'bench',
  collection: 'local',
  archiveField: 'createdAt',
  archiveFieldFormat: 'date' as const,
};

export async function runLocalPipeline(
  bsonFile: string,
  o: { batchDocuments: number; bundleDocuments: number },
): Promise<LocalPipelineResult> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'gochive-local-pipeline-'));
  const spool = await Spool.open(root, 'bench', 'local');
  const cfg: Pick<PolicyConfig, 'name' | 'namespace' | 'compression' | 'destination'> = {
    name: 'local',
    namespace: 'bench',
    compression: { codec: 'gzip', level: 6 },
    destination: { kind: 'file', root, prefix: '' },
  };
  const seals = new BackgroundSeal();
  let bundles = 0;
  let bundleBytes = 0;
  let documents = 0;
  let bundle: JournalBundle | undefined;
  let appender: BundleAppender | undefined;
  const cutoffMs = Date.now();

  const open = async (): Promise<void> => {
    bundle ??= {
      id: `b${String(bundles).padStart(6, '0')}`,
      state: 'open',
      createdAt: new Date().toISOString(),
      target,
      commit: { ...EMPTY_COMMIT },
      cutoffMaxMs: cutoffMs,
    };
    appender = await spool.openAppender(bundle.id, bundle.commit, cutoffMs);
  };
  /** The end of a fetch batch: checkpoint, fsync, close (the worker opens an appender per batch). */
  const endBatch = async (): Promise<void> => {
    appender!.checkpoint();
    bundle!.commit = await appender!.finish();
    await appender!.close();
    appender = undefined;
  };
  const seal = async (): Promise<void> => {
    const b = bundle!;
    bundle = undefined;
    bundles++;
    // As the worker does: the hashing pass runs while the previous bundle compresses.
    const prepared = seals.inFlight ? prepareSeal(spool, b) : undefined;
    prepared?.catch(() => undefined);
    await seals.wait();
    seals.start(b.id, async () => {
      const info = await sealBundle(spool, b, cfg, undefined, undefined, await prepared);
      bundleBytes += info.size;
      await spool.removeBundle(b.id);
    });
  };

  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    const source = createReadStream(bsonFile, { highWaterMark: 4 << 20 }) as AsyncIterable<Buffer>;
    for await (const doc of splitBsonDocuments(source, bsonFile)) {
      if (!appender) await open();
      const meta = docMeta(doc, target, undefined);
      if (!meta) throw new Error(`document ${documents} of ${bsonFile} has no readable createdAt`);
      await appender!.append(doc, meta);
      documents++;
      if (documents % o.batchDocuments === 0) {
        await endBatch();
        if (bundle!.commit.docs >= o.bundleDocuments) await seal();
      }
    }
    if (appender) await endBatch();
    if (bundle && bundle.commit.docs > 0) await seal();
    await seals.wait();
  } finally {
    await appender?.close();
    await seals.settle();
    await spool.unlock();
    await rm(root, { recursive: true, force: true });
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    seconds,
    documents,
    bundles,
    bundleBytes,
    mainThreadSeconds: performance.eventLoopUtilization(elu0).active / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}
