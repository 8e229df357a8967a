// One campaign, start to finish: private servers, namespace and policies, operator replicas, the
// writer and the fault injector for the fault phase; then a quiesce phase (faults undone, writer
// stopped, operators drain), the final state read back, and every invariant checked. Everything the
// campaign starts is stopped in `finally`, also on failure, abort or its own time bound.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { adminKubeConfig } from '../support/kube.js';
import { testEnv } from '../support/testenv.js';
import { acquire, release } from '../env/lifecycle.js';
import { envFilePath, repoRoot } from '../env/paths.js';
import { parseEnvFile } from '../env/envfile.js';
import { check, workerIntervals, type CheckResult, type Violation } from './checker.js';
import { FaultInjector, type FaultKind } from './faults.js';
import {
  CheckMongo,
  listKeys,
  presentKeys,
  s3Client,
  scanBundles,
  scanFacts,
  scanMongo,
  type PolicyFinal,
} from './final-state.js';
import { Kube } from './kube.js';
import { Ledger } from './ledger.js';
import { reapLeftovers, RUN_DIR_PREFIX, writeRunRecord } from './leftovers.js';
import { Replica } from './operators.js';
import type { CampaignOptions } from './options.js';
import { makePlans, type PolicyPlan } from './plan.js';
import { Policies, type Baseline } from './policies.js';
import { Rng } from './rng.js';
import { startPrivateServers, type PrivateServers } from './servers.js';
import { SpoolVolume } from './spool-volume.js';
import { sleep, withTimeout } from './time.js';
import { eligible } from './docs.js';
import { Writer } from './writer.js';

export interface LeaseSample {
  t: number;
  holders: Record<string, string>;
}

export interface CampaignResult {
  options: CampaignOptions;
  runDir: string;
  namespace: string;
  phases: Record<string, number>;
  faults: Record<string, number>;
  faultErrors: number;
  twoReplicaKills: number;
  /** Incarnations that were a new pod's first (replica-replace), on an empty spool. */
  newPods?: number;
  ledger: Ledger['stats'];
  writerErrors: number;
  check: CheckResult;
  incarnations: number;
  leaseHolders: number;
  leaseHandovers: number;
  spoolMounted: boolean;
  shutdown: Array<{ identity: string; ms?: number; endedBy?: string }>;
  setupError?: string;
}

type Log = (m: string) => void;

export async function runCampaign(o: CampaignOptions, abort: AbortSignal, log: Log): Promise<CampaignResult> {
  const t0 = Date.now();
  const phases: Record<string, number> = {};
  const mark = (name: string): void => {
    phases[name] = Date.now() - t0;
  };
  const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const runDir = path.join(os.tmpdir(), `${RUN_DIR_PREFIX}${runId}`);
  const logDir = path.join(runDir, 'logs');
  const dataDir = path.join(runDir, 'data');
  mkdirSync(logDir, { recursive: true });
  const namespace = `chaos-${runId}`;
  const rng = new Rng(o.seed);
  const plans = makePlans(o.policies, runId);
  log(
    `campaign ${runId}: seed ${o.seed} (replay with --seed=${o.seed}), ${o.mode} mode, ${o.policies} policies, ${Math.round(o.durationMs / 1000)}s of faults; run dir ${runDir}`,
  );

  // Everything to undo, newest first.
  const cleanups: Array<{ what: string; fn: () => Promise<unknown> }> = [];
  const onCleanup = (what: string, fn: () => Promise<unknown>): void => {
    cleanups.unshift({ what, fn });
  };

  const runViolations: Violation[] = [];
  const apiAccepted: string[] = [];
  const baselineNotes: string[] = [];
  let servers: PrivateServers | undefined;
  const replicas: Replica[] = [];
  const volumes: SpoolVolume[] = [];
  let podsReplaced = 0;
  let injector: FaultInjector | undefined;
  let writer: Writer | undefined;
  let samplerTimer: NodeJS.Timeout | undefined;
  let leaseTimer: NodeJS.Timeout | undefined;
  const leaseSamples: LeaseSample[] = [];
  let s3: S3Client | undefined;
  let succeeded = false;

  const record = (): void => {
    if (!servers) return;
    writeRunRecord(runDir, {
      ownerPid: process.pid,
      namespace,
      startedAt: new Date(t0).toISOString(),
      servers: [servers.mongo, servers.s3, ...(servers.postgres ? [servers.postgres] : [])]
        .filter((s) => s.pid > 0)
        .map((s) => ({ pid: s.pid, binary: s.spec.binary })),
      operators: replicas.flatMap((r) =>
        r.incarnations.filter((i) => i.endedAt === undefined).map((i) => i.pid),
      ),
      mounts: volumes.filter((v) => v.mounted).map((v) => v.dir),
      dataDirs: [dataDir],
    });
  };

  try {
    // ---------------------------------------------------------------- setup
    await withTimeout(
      acquire(process.pid, log),
      30 * 60_000,
      'starting the shared test environment (kube-apiserver)',
    );
    onCleanup('release the shared test environment', () => release(process.pid, log));
    loadEnvFile();
    const env = testEnv();
    for (const m of await reapLeftovers((ns) =>
      new Kube(adminKubeConfig(), env.kubeconfig, ns, env.path).deleteNamespace(),
    ))
      log(m);
    const s3Keys = {
      accessKeyId: `chaos${randomBytes(6).toString('hex')}`,
      secretAccessKey: randomBytes(24).toString('base64url'),
    };
    servers = await withTimeout(
      startPrivateServers(dataDir, logDir, s3Keys),
      120_000,
      'starting the private FerretDB and versitygw',
    );
    const srv = servers;
    onCleanup('stop the private servers', async () => {
      await srv.mongo.stop('SIGKILL');
      await srv.s3.stop('SIGKILL');
      await srv.postgres?.stop('SIGTERM');
    });
    for (const slot of ['r0', 'r1'].slice(0, o.maxReplicas)) {
      const v = await SpoolVolume.create(
        path.join(runDir, `spool-${slot}`),
        o.spoolVolumeMb * 1024 * 1024,
        o.tmpfs,
      );
      volumes.push(v);
      onCleanup(`unmount ${v.dir}`, () => v.destroy());
    }
    record();
    const spoolMounted = volumes[0]!.mounted;
    if (!volumes[0]!.mounted)
      log(
        `spool volumes are plain directories (${volumes[0]!.mountError}); spool-fill faults are skipped, spool-cap faults still run`,
      );
    else log(`spool volumes: tmpfs of ${o.spoolVolumeMb} MiB per replica`);

    s3 = s3Client(srv.s3Endpoint);
    const bucket = `chaos-${runId}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));

    const kc = adminKubeConfig();
    const kube = new Kube(kc, env.kubeconfig, namespace, env.path);
    await withTimeout(kube.ensureCrd(repoRoot), 150_000, 'installing the ArchivePolicy CRD');
    await kube.createNamespace({ 'gochive.io/chaos': runId });
    onCleanup(`delete namespace ${namespace}`, () =>
      withTimeout(kube.deleteNamespace(), 60_000, 'deleting the namespace'),
    );
    await kube.createSecret('mongo', { uri: srv.mongoUri });
    await kube.createSecret('s3', {
      AWS_ACCESS_KEY_ID: s3Keys.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3Keys.secretAccessKey,
    });

    const ledger = new Ledger(path.join(runDir, 'ledger.jsonl'), plans.length, t0);
    onCleanup('close the ledger', () => ledger.close());
    writer = new Writer({
      uri: srv.mongoUri,
      plans,
      ledger,
      rng: rng.fork('writer'),
      insertRate: o.insertRate,
      updateRate: o.updateRate,
      log,
    });
    const w = writer;
    onCleanup('close the writer', () => w.close());
    await withTimeout(w.prepare(), 60_000, 'creating collections and indexes');
    await withTimeout(w.seed(o.seedPerPolicy, Date.now()), 180_000, 'seeding the backlog');
    log(
      `seeded ${ledger.stats.inserted} documents (${ledger.stats.byClass.old} old, ${ledger.stats.byClass.new} new, ${ledger.stats.byClass.bad} without a usable archive field)`,
    );

    const cc = new CheckMongo(srv.mongoUri);
    const s3c = s3;

    const opEnv: Record<string, string> = {
      PATH: env.path,
      HOME: process.env.HOME ?? os.homedir(),
      // No AWS credentials in the environment: the policies name their Secret.
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const opCfg = {
      repoRoot,
      kubeconfig: env.kubeconfig,
      namespace,
      logDir,
      leaseDuration: o.leaseDuration,
      renewInterval: o.renewInterval,
      env: opEnv,
      log,
    };
    for (const v of [...volumes]) replicas.push(new Replica(v === volumes[0] ? 'r0' : 'r1', v, opCfg));
    onCleanup('stop the operators', async () => {
      await Promise.all(replicas.map((r) => r.stop(25_000).catch(() => r.kill9())));
    });

    const policies = new Policies(
      kube,
      plans,
      {
        mongoSecret: 'mongo',
        s3Secret: 's3',
        bucket,
        s3Endpoint: srv.s3Endpoint.endpoint,
        region: srv.s3Endpoint.region,
      },
      rng.fork('policies'),
      async (p) => takeBaseline(p),
    );

    /** Waits until no live operator runs a worker for `policy`, then records what exists now. */
    async function takeBaseline(p: PolicyPlan): Promise<Baseline> {
      // The deleted policy's worker must be gone first, or its last deletes would land after the baseline.
      const stopDeadline = Date.now() + 60_000;
      let reliable = true;
      for (;;) {
        const live = replicas.filter((r) => r.running).map((r) => r.current!);
        const open = (workerIntervals(live).get(p.name) ?? []).filter((i) => i.open);
        if (!open.length) break;
        if (Date.now() > stopDeadline) {
          baselineNotes.push(
            `${p.name}: created again while ${open.map((i) => i.identity).join(', ')} still had not stopped its worker 60 s after the delete; its status counts are only noted`,
          );
          reliable = false;
          break;
        }
        await sleep(250);
      }
      const readDeadline = Date.now() + 120_000;
      for (;;) {
        try {
          const at = Date.now();
          const keysBefore = [...ledger.docs.values()].filter((r) => r.policy === p.index).map((r) => r.key);
          const present = await cc.use((c) => presentKeys(c, p));
          const bundleKeys = new Set((await listKeys(s3c, bucket, `${p.name}/`)).map((b) => b.key));
          return { at, absentKeys: new Set(keysBefore.filter((k) => !present.has(k))), bundleKeys, reliable };
        } catch (err) {
          if (Date.now() > readDeadline) throw err;
          await sleep(1000); // a server is down right now (another fault), or a pooled connection died with it
        }
      }
    }

    await policies.createAll();
    log(`created ${plans.length} ArchivePolicies in namespace ${namespace}`);
    await replicas[0]!.start();
    record();
    mark('setup');

    // ---------------------------------------------------------------- fault phase
    samplerTimer = setInterval(() => {
      for (const r of replicas) r.sampleRss();
      record();
    }, 1000);
    leaseTimer = setInterval(() => {
      kube
        .policyLeases()
        .then((ls) => {
          const holders: Record<string, string> = {};
          for (const l of ls)
            holders[l.metadata?.annotations?.['gochive.io/policy'] ?? l.metadata?.name ?? '?'] =
              l.spec?.holderIdentity ?? '';
          leaseSamples.push({ t: Date.now(), holders });
        })
        .catch(() => undefined);
    }, 2000);

    injector = new FaultInjector({
      mongo: srv.mongo,
      s3: srv.s3,
      replicas,
      policies,
      kube,
      rng: rng.fork('faults'),
      meanGapMs: o.meanGapMs,
      killCooldownMs: o.killCooldownMs,
      holdScale: o.holdScale,
      kinds: o.faults as FaultKind[],
      crashPoints: o.crashPoints,
      forced: o.forcedFaults.map((f) => ({ afterMs: Math.round(f.at * o.durationMs), kind: f.kind })),
      replaceSpool: async (r) => {
        // A new pod's emptyDir: a new volume (its own tmpfs), never the old one emptied in place.
        const n = ++podsReplaced;
        const v = await SpoolVolume.create(
          path.join(runDir, `spool-${r.slot}-pod${n}`),
          o.spoolVolumeMb * 1024 * 1024,
          o.tmpfs,
        );
        volumes.push(v);
        onCleanup(`unmount ${v.dir}`, () => v.destroy());
        const old = r.replaceSpool(v);
        await old.destroy();
        volumes.splice(volumes.indexOf(old), 1);
        record();
      },
      log: o.quiet ? () => undefined : log,
      logFile: path.join(runDir, 'faults.jsonl'),
      t0,
    });
    const inj = injector;
    onCleanup('stop the fault injector', () => inj.stop());
    w.start();
    inj.start();
    log(`fault phase: ${Math.round(o.durationMs / 1000)}s`);
    const progress = setInterval(() => {
      if (!o.quiet)
        log(
          `… +${Math.round((Date.now() - t0) / 1000)}s: ${ledger.stats.inserted} documents written, ${Object.values(inj.counts).reduce((a, b) => a + b, 0)} faults, ${replicas.filter((r) => r.running).length} replica(s) up, writer errors ${w.errors}${w.reconnects ? ` (${w.reconnects} reconnects)` : ''}`,
        );
    }, 15_000);
    await sleep(o.durationMs, abort);
    clearInterval(progress);
    mark('faults');
    if (abort.aborted) throw new Error('aborted');

    // ---------------------------------------------------------------- quiesce
    log('quiesce: undoing active faults');
    await withTimeout(inj.stop(), 120_000, 'undoing the active faults');
    for (const v of inj.violations) runViolations.push({ invariant: 'validation', message: v });
    apiAccepted.push(...inj.apiAccepted);
    for (const s of [srv.mongo, srv.s3]) {
      if (s.state === 'stalled') s.resume();
      if (s.state === 'stopped') await s.start(60_000);
    }
    for (const v of volumes) await v.unfill();
    if (!replicas[0]!.running) await replicas[0]!.start();
    for (const s of policies.states) {
      if (!s.exists) await policies.recreate(s);
      if (s.tuning.suspend) await policies.setSuspend(s, false);
    }
    log('quiesce: stopping the writer');
    await withTimeout(w.stop(), 120_000, 'stopping the writer');
    const writerStoppedAt = Date.now();
    mark('writer-stopped');
    log(
      `quiesce: waiting for the operators to drain every backlog (giving up after ${Math.round(o.quiesceTimeoutMs / 1000)}s without progress)`,
    );
    const drained = await waitForDrain(cc, kube, policies, o.quiesceTimeoutMs, abort, log);
    if (!drained.ok)
      runViolations.push({
        invariant: 'drain',
        message: `not drained (${drained.detail})`,
      });
    mark('drained');

    // ---------------------------------------------------------------- stop and read back
    // The statuses as users see them while the operators run (drained and settled)…
    const statusesAt = Date.now();
    const statuses = await Promise.all(plans.map((p) => kube.getPolicy(p.name)));
    clearInterval(samplerTimer);
    clearInterval(leaseTimer);
    // …then every replica gets SIGTERM at once (one after the other would hand policies over).
    await Promise.all(
      replicas
        .filter((r) => r.running)
        .map(async (r) => {
          await r.stop(40_000);
          const inc = r.current!;
          if (inc.endedBy !== 'SIGTERM')
            runViolations.push({
              invariant: 'shutdown',
              message: `operator ${inc.identity} did not exit within 40 s of SIGTERM (grace period 20 s)`,
            });
        }),
    );
    record();
    // A graceful shutdown must leave the counts as they were.
    const after = await Promise.all(plans.map((p) => kube.getPolicy(p.name)));
    for (const [i, p] of plans.entries()) {
      const a = statuses[i]?.status?.totals ?? {};
      const b = after[i]?.status?.totals ?? {};
      const changed = (Object.keys({ ...a, ...b }) as Array<keyof typeof a>)
        .filter((k) => a[k] !== b[k])
        .map((k) => `${k} ${a[k]} → ${b[k]}`);
      if (changed.length)
        runViolations.push({
          invariant: 'status counts',
          policy: p.name,
          message: `the operators' graceful shutdown changed status.totals: ${changed.join(', ')} (status written by ${after[i]?.status?.activeReplica ?? '?'}, phase ${after[i]?.status?.phase ?? '?'})`,
        });
    }
    const scanAt = Date.now();
    const finals: PolicyFinal[] = [];
    for (const p of plans) {
      const present = await cc.retry((c) => scanMongo(c, p), 180_000);
      const { bundles, archived } = await scanBundles(s3c, bucket, p);
      finals.push({ present, bundles, archived });
    }
    mark('read-back');
    const incarnations = replicas.flatMap((r) => r.incarnations);
    const logTexts = incarnations.map((i) => ({ identity: i.identity, text: safeRead(i.logFile) }));
    const result = check({
      namespace,
      states: policies.states,
      ledger,
      finals,
      statuses,
      incarnations,
      scanAt,
      ineligibleGaugeFresh: statusesAt - writerStoppedAt > 65_000,
      maxRssMb: o.maxRssMb,
      runViolations,
      secrets: [s3Keys.secretAccessKey],
      logTexts,
    });
    mark('checked');
    const holders = new Set<string>();
    let handovers = 0;
    const last: Record<string, string> = {};
    for (const s of leaseSamples) {
      for (const [k, h] of Object.entries(s.holders)) {
        if (h) holders.add(h);
        if (last[k] && h && last[k] !== h) handovers++;
        if (h) last[k] = h;
      }
    }
    const ours = new Set(incarnations.map((i) => i.identity));
    for (const h of holders)
      if (!ours.has(h))
        result.violations.push({
          invariant: 'I6 single writer',
          message: `a lease was held by '${h}', which is not one of the campaign's operators`,
        });
    const twoReplicaKills = inj.records.filter(
      (r) => r.kind === 'operator-kill' && r.detail?.includes('one of two'),
    ).length;
    for (const what of apiAccepted)
      result.notes.push(
        `the API server accepted an invalid spec (${what}); the operator refused it (SPEC §3 wants the CRD to refuse it too)`,
      );
    succeeded = result.violations.length === 0;
    return {
      options: o,
      runDir,
      namespace,
      phases,
      faults: { ...inj.counts },
      faultErrors: inj.records.filter((r) => r.error).length,
      twoReplicaKills,
      newPods: incarnations.filter((i) => i.newPod).length,
      ledger: ledger.stats,
      writerErrors: w.errors,
      check: result,
      incarnations: incarnations.length,
      leaseHolders: holders.size,
      leaseHandovers: handovers,
      spoolMounted,
      shutdown: incarnations
        .filter((i) => i.endedBy === 'SIGTERM' || i.endedBy?.startsWith('SIGTERM'))
        .map((i) => ({ identity: i.identity, ms: i.shutdownMs, endedBy: i.endedBy })),
    };
  } finally {
    if (samplerTimer) clearInterval(samplerTimer);
    if (leaseTimer) clearInterval(leaseTimer);
    for (const c of cleanups) {
      try {
        await withTimeout(c.fn(), 90_000, c.what);
      } catch (err) {
        log(`cleanup: ${c.what} failed: ${(err as Error).message}`);
      }
    }
    s3?.destroy();
    rmSync(path.join(runDir, 'run.json'), { force: true });
    // A failed run keeps everything (server data too) as evidence; the servers are stopped.
    if (succeeded && !o.keep) rmSync(runDir, { recursive: true, force: true });
    else
      log(
        `run directory kept: ${runDir} (logs/, ledger.jsonl, faults.jsonl, data/ with the FerretDB and versitygw data)`,
      );
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Exports the shared environment's variables (KUBECONFIG, PATH with kubectl and helm first…). */
function loadEnvFile(): void {
  Object.assign(process.env, parseEnvFile(safeRead(envFilePath)));
}

/** How many stall windows the drain may take in all, however steadily it progresses. */
export const DRAIN_CEILING_STALLS = 3;

/**
 * Waits until, for every policy: its status shows an empty spool and the current generation, its
 * totals stopped moving, and nothing eligible under its current spec is left in MongoDB. The status is
 * polled every 2 s (cheap); MongoDB is scanned (projected to the fields eligibility needs) only when
 * every status looks drained, and at most every 10 s — scans are what a busy FerretDB is slow at.
 *
 * It gives up when nothing has moved for `stallMs` (no total changed, no eligible document left
 * MongoDB): a loaded machine drains slowly, but a stuck operator makes no progress at all. The
 * ceiling (DRAIN_CEILING_STALLS × stallMs) only keeps the run bounded.
 */
async function waitForDrain(
  cc: CheckMongo,
  kube: Kube,
  policies: Policies,
  stallMs: number,
  abort: AbortSignal,
  log: Log,
): Promise<{ ok: boolean; detail: string }> {
  const ceiling = Date.now() + DRAIN_CEILING_STALLS * stallMs;
  let lastProgress = Date.now();
  let leastLeft = Infinity;
  let prevTotals = '';
  let detail = 'not checked yet';
  let lastLog = 0;
  let lastScan = 0;
  while (Date.now() - lastProgress < stallMs && Date.now() < ceiling && !abort.aborted) {
    const pending: string[] = [];
    try {
      const items = await kube.listPolicies();
      const totals = JSON.stringify(items.map((p) => [p.metadata.name, p.status?.totals, p.status?.spool]));
      for (const p of items) {
        if ((p.status?.spool?.documents ?? 0) > 0) {
          // What the worker says of itself, so a stall names its cause in the report (CI shows no logs).
          const st = p.status;
          const err = st?.lastError ? `; last error at ${st.lastError.stage}: ${st.lastError.message}` : '';
          pending.push(
            `${p.metadata.name}: ${st?.spool?.documents} spooled (${st?.phase ?? '-'} on ${st?.activeReplica ?? '-'}${err})`,
          );
        }
        if (p.status?.observedGeneration !== p.metadata.generation)
          pending.push(
            `${p.metadata.name}: status at generation ${p.status?.observedGeneration ?? '-'} of ${p.metadata.generation}`,
          );
      }
      const moving = totals !== prevTotals;
      prevTotals = totals;
      if (moving) lastProgress = Date.now();
      if (pending.length === 0 && Date.now() - lastScan >= 10_000) {
        const t0 = Date.now();
        lastScan = t0;
        let allLeft = 0;
        await cc.use(async (c) => {
          for (const s of policies.states) {
            const last = s.criteria[s.criteria.length - 1]!;
            if (last.dryRun) continue;
            const left = (await scanFacts(c, s.plan)).filter((f) => eligible(f, last, t0)).length;
            allLeft += left;
            if (left) pending.push(`${s.plan.name}: ${left} eligible left`);
          }
        });
        if (allLeft < leastLeft) {
          leastLeft = allLeft;
          lastProgress = Date.now();
        }
        if (pending.length === 0 && !moving) return { ok: true, detail: '' };
        if (pending.length === 0) pending.push('totals still moving');
        pending.push(`(MongoDB scanned in ${((Date.now() - t0) / 1000).toFixed(1)}s)`);
      } else if (pending.length === 0) {
        pending.push(moving ? 'totals still moving' : 'statuses drained; scanning MongoDB next');
      }
    } catch (err) {
      pending.push(`read failed: ${(err as Error).message}`);
    }
    detail = pending.slice(0, 8).join('; ') + (pending.length > 8 ? `; … ${pending.length - 8} more` : '');
    if (Date.now() - lastLog > 15_000) {
      log(`quiesce: ${detail}`);
      lastLog = Date.now();
    }
    await sleep(2000, abort);
  }
  const why =
    Date.now() >= ceiling
      ? `still draining at the ${Math.round((DRAIN_CEILING_STALLS * stallMs) / 1000)}s ceiling`
      : `no progress for ${Math.round(stallMs / 1000)}s`;
  return { ok: false, detail: `${why}: ${detail}` };
}
