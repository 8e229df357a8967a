// The fault injector: at random moments (seeded) it starts one fault; faults overlap, but never two
// on the same target. Every fault undoes itself (restart, SIGCONT, free the spool, resume, recreate)
// after a random hold time — or at once when the campaign stops injecting.
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Kube } from './kube.js';
import type { Replica } from './operators.js';
import { badEdits } from './plan.js';
import type { Policies, PolicyState } from './policies.js';
import type { Rng } from './rng.js';
import type { ManagedServer } from './servers.js';
import { sleep } from './time.js';

export type FaultKind =
  | 'operator-kill'
  | 'crash-point'
  | 'replica-start'
  | 'replica-stop'
  | 'replica-replace'
  | 'mongo-kill'
  | 'mongo-stall'
  | 'mongo-restart'
  | 's3-kill'
  | 's3-stall'
  | 's3-restart'
  | 'spool-fill'
  | 'spool-cap'
  | 'policy-edit'
  | 'policy-suspend'
  | 'policy-delete'
  | 'bad-edit';

export const FAULT_KINDS: FaultKind[] = [
  'operator-kill',
  'crash-point',
  'replica-start',
  'replica-stop',
  'replica-replace',
  'mongo-kill',
  'mongo-stall',
  'mongo-restart',
  's3-kill',
  's3-stall',
  's3-restart',
  'spool-fill',
  'spool-cap',
  'policy-edit',
  'policy-suspend',
  'policy-delete',
  'bad-edit',
];

const WEIGHTS: Record<FaultKind, number> = {
  'operator-kill': 3,
  'crash-point': 1.2,
  'replica-start': 1.5,
  'replica-stop': 0.7,
  'replica-replace': 1.2,
  'mongo-kill': 0.8,
  'mongo-stall': 1,
  'mongo-restart': 0.6,
  's3-kill': 0.8,
  's3-stall': 1,
  's3-restart': 0.6,
  'spool-fill': 1,
  'spool-cap': 0.6,
  'policy-edit': 2.5,
  'policy-suspend': 1,
  'policy-delete': 0.8,
  'bad-edit': 0.5,
};

/** The engine's crash hooks (GOCHIVE_TEST_CRASH_AT, operator/archiver/worker.ts). */
export const CRASH_POINTS = [
  'after-spool',
  'after-seal',
  'mid-upload',
  'after-upload',
  'before-delete',
  'mid-delete',
] as const;

export interface FaultContext {
  mongo: ManagedServer;
  s3: ManagedServer;
  replicas: Replica[];
  policies: Policies;
  kube: Kube;
  rng: Rng;
  /** Mean time between fault starts. */
  meanGapMs: number;
  /** Least time between two kill -9 of the same replica slot (so some incarnations live long enough for the memory check). */
  killCooldownMs: number;
  /** Hold times scale (1 = full mode). */
  holdScale: number;
  /** Fault kinds to inject (all when empty). */
  kinds: FaultKind[];
  /** Crash points for `crash-point` faults (all when empty). */
  crashPoints: string[];
  /**
   * Faults started at a fixed offset into the fault phase whatever the dice say (so a short run is
   * sure to exercise them); retried every 0.5 s while their target is busy.
   */
  forced: Array<{ afterMs: number; kind: FaultKind }>;
  /** A new, empty spool volume for `replica`'s next pod (replica-replace); the old one is destroyed. */
  replaceSpool: (replica: Replica) => Promise<void>;
  log: (m: string) => void;
  logFile: string;
  t0: number;
}

export interface FaultRecord {
  t: number;
  kind: FaultKind;
  target: string;
  detail?: string;
  endT?: number;
  error?: string;
}

export class FaultInjector {
  readonly records: FaultRecord[] = [];
  readonly counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  /** Violations found while injecting (an invalid spec the API server accepted). */
  readonly violations: string[] = [];
  /** Invalid specs the API server accepted (the operator then had to refuse them). */
  readonly apiAccepted = new Set<string>();
  private readonly busy = new Set<string>();
  private readonly active = new Set<Promise<void>>();
  private readonly stopCtl = new AbortController();
  private loop?: Promise<void>;
  private readonly lastKill = new Map<string, number>();
  private readonly out: WriteStream;

  private readonly weights: Record<string, number>;

  constructor(private readonly c: FaultContext) {
    this.out = createWriteStream(c.logFile, { flags: 'a' });
    this.weights = Object.fromEntries(
      Object.entries(WEIGHTS).filter(([k]) => !c.kinds.length || c.kinds.includes(k as FaultKind)),
    );
  }

  start(): void {
    this.loop = Promise.all([this.run(), ...this.c.forced.map((f) => this.runForced(f))]).then(
      () => undefined,
    );
  }

  /** Stops injecting and undoes every active fault (restarts, resumes, recreates); bounded by the callers' timeouts. */
  async stop(): Promise<void> {
    this.stopCtl.abort();
    await this.loop;
    while (this.active.size) await Promise.allSettled([...this.active]);
    if (!this.out.writableEnded) await new Promise<void>((r) => this.out.end(() => r()));
  }

  private get stopping(): boolean {
    return this.stopCtl.signal.aborted;
  }

  private hold(minS: number, maxS: number): Promise<void> {
    return sleep(this.c.rng.float(minS, maxS) * 1000 * this.c.holdScale, this.stopCtl.signal);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      // Exponential gaps: bursts and lulls, like real incidents.
      const gap = Math.min(this.c.meanGapMs * 4, -Math.log(1 - this.c.rng.next()) * this.c.meanGapMs);
      await sleep(gap, this.stopCtl.signal);
      if (this.stopping) break;
      const kind = this.c.rng.weighted(this.weights);
      const launched = this.launch(kind as FaultKind);
      if (!launched) continue;
      const p = launched.finally(() => this.active.delete(p));
      this.active.add(p);
    }
  }

  private async runForced(f: { afterMs: number; kind: FaultKind }): Promise<void> {
    if (this.c.kinds.length && !this.c.kinds.includes(f.kind)) return;
    await sleep(f.afterMs, this.stopCtl.signal);
    while (!this.stopping) {
      const launched = this.launch(f.kind, true);
      if (launched) {
        const p = launched.finally(() => this.active.delete(p));
        this.active.add(p);
        return;
      }
      await sleep(500, this.stopCtl.signal);
    }
  }

  /**
   * Starts `kind` if its target is free; undefined when it does not apply right now. `forced`: a
   * scheduled fault, which ignores the kill cooldown.
   */
  private launch(kind: FaultKind, forced = false): Promise<void> | undefined {
    const c = this.c;
    const rng = c.rng;
    const free = (target: string): boolean => !this.busy.has(target);
    switch (kind) {
      case 'operator-kill': {
        const now = Date.now();
        const cands = c.replicas.filter(
          (r) => r.running && !r.busy && now - (this.lastKill.get(r.slot) ?? 0) >= c.killCooldownMs,
        );
        if (!cands.length) return undefined;
        const r = rng.pick(cands);
        this.lastKill.set(r.slot, now);
        return this.track(kind, `replica:${r.slot}`, async (rec) => {
          r.busy = true;
          try {
            rec.detail = `kill -9 ${r.current?.identity} (pid ${r.current?.pid})${c.replicas.filter((x) => x.running).length > 1 ? ' (one of two replicas)' : ''}`;
            await r.kill9();
            await this.hold(0.2, 3);
            await r.start();
          } finally {
            r.busy = false;
          }
        });
      }
      case 'crash-point': {
        // Restart a replica with the engine's crash hook: it kills itself at a precise, dangerous
        // point (after spooling, sealing, mid-upload, after the upload, mid-delete), then comes back.
        const now = Date.now();
        const cands = c.replicas.filter(
          (r) => r.running && !r.busy && now - (this.lastKill.get(r.slot) ?? 0) >= c.killCooldownMs,
        );
        if (!cands.length) return undefined;
        const r = rng.pick(cands);
        const point = rng.pick(c.crashPoints.length ? c.crashPoints : CRASH_POINTS);
        this.lastKill.set(r.slot, now);
        return this.track(kind, `replica:${r.slot}`, async (rec) => {
          r.busy = true;
          try {
            await r.kill9();
            const inc = await r.start(30_000, point);
            const crashed = await r.waitExit(45_000 * c.holdScale, this.stopCtl.signal);
            if (!crashed) await r.kill9();
            rec.detail = crashed
              ? `${inc.identity} killed itself at ${point} after ${Date.now() - inc.startedAt} ms`
              : `${inc.identity} did not reach ${point} in time; killed -9`;
            await r.start();
          } finally {
            r.busy = false;
          }
        });
      }
      case 'replica-replace': {
        // A pod replaced (node lost, eviction, rollout): kill -9 a running replica, and start a new pod
        // in its slot — a new identity and a new, EMPTY spool volume. Whatever the old pod had spooled is
        // gone; the bundles the ledger (the policy status) lists must be finished from the store.
        const now = Date.now();
        const cands = c.replicas.filter(
          (r) =>
            r.running &&
            !r.busy &&
            free(`spool:${r.slot}`) &&
            (forced || now - (this.lastKill.get(r.slot) ?? 0) >= c.killCooldownMs),
        );
        if (!cands.length) return undefined;
        const r = rng.pick(cands);
        this.lastKill.set(r.slot, now);
        return this.track(kind, `replica:${r.slot}`, async (rec) => {
          r.busy = true;
          this.busy.add(`spool:${r.slot}`);
          try {
            const old = r.current;
            const oldDir = r.spool.dir;
            rec.detail = `kill -9 ${old?.identity} (pid ${old?.pid})${c.replicas.filter((x) => x.running).length > 1 ? ' (one of two replicas)' : ''}`;
            await r.kill9();
            await c.replaceSpool(r);
            await this.hold(0.2, 3);
            const inc = await r.start();
            rec.detail += `; new pod ${inc.identity} on an empty spool ${inc.spoolDir} (${oldDir} destroyed)`;
          } finally {
            this.busy.delete(`spool:${r.slot}`);
            r.busy = false;
          }
        });
      }
      case 'replica-start': {
        const r = c.replicas.find((x) => !x.running && !x.busy && x.slot !== 'r0');
        if (!r) return undefined;
        return this.track(kind, `replica:${r.slot}`, async (rec) => {
          r.busy = true;
          try {
            const inc = await r.start();
            rec.detail = `started ${inc.identity}`;
          } finally {
            r.busy = false;
          }
        });
      }
      case 'replica-stop': {
        const r = c.replicas.find((x) => x.running && !x.busy && x.slot !== 'r0');
        if (!r) return undefined;
        return this.track(kind, `replica:${r.slot}`, async (rec) => {
          r.busy = true;
          try {
            rec.detail = `SIGTERM ${r.current?.identity}`;
            await r.stop();
            rec.detail += ` (exited after ${r.current?.shutdownMs ?? '?'} ms)`;
          } finally {
            r.busy = false;
          }
        });
      }
      case 'mongo-kill':
      case 's3-kill':
      case 'mongo-restart':
      case 's3-restart': {
        const srv = kind.startsWith('mongo') ? c.mongo : c.s3;
        if (!free(srv.name) || srv.state !== 'running') return undefined;
        const crash = kind.endsWith('kill');
        return this.track(kind, srv.name, async (rec) => {
          rec.detail = crash ? 'SIGKILL, down for a while, restart' : 'SIGTERM, restart at once';
          await srv.stop(crash ? 'SIGKILL' : 'SIGTERM');
          if (crash) await this.hold(1, 8);
          await this.restartServer(srv);
        });
      }
      case 'mongo-stall':
      case 's3-stall': {
        const srv = kind.startsWith('mongo') ? c.mongo : c.s3;
        if (!free(srv.name) || srv.state !== 'running') return undefined;
        return this.track(kind, srv.name, async (rec) => {
          const t0 = Date.now();
          srv.stall();
          try {
            await this.hold(1, 12);
          } finally {
            srv.resume();
          }
          rec.detail = `SIGSTOP for ${Date.now() - t0} ms, then SIGCONT`;
        });
      }
      case 'spool-fill': {
        const cands = c.replicas.filter((r) => r.spool.mounted && !r.spool.filled && free(`spool:${r.slot}`));
        if (!cands.length) return undefined;
        const r = rng.pick(cands);
        return this.track(kind, `spool:${r.slot}`, async (rec) => {
          const bytes = await r.spool.fill();
          try {
            const t0 = Date.now();
            await this.hold(3, 15);
            rec.detail = `filled ${r.slot}'s spool volume with ${Math.round(bytes / 1024)} KiB of junk (ENOSPC) for ${Date.now() - t0} ms`;
          } finally {
            await r.spool.unfill();
          }
        });
      }
      case 'spool-cap': {
        const s = this.pickPolicy((x) => x.exists && !x.tuning.suspend);
        if (!s) return undefined;
        return this.policyFault(kind, s, async (rec) => {
          const before = s.tuning.spoolMaxBytes;
          await c.policies.setSpoolCap(s, '1Ki');
          rec.detail = `spool.maxBytes 1Ki (was ${before ?? 'default'})`;
          try {
            await this.hold(4, 15);
          } finally {
            await c.policies.setSpoolCap(s, before);
          }
        });
      }
      case 'policy-edit': {
        const s = this.pickPolicy((x) => x.exists);
        if (!s) return undefined;
        return this.policyFault(kind, s, async (rec) => {
          rec.detail = await c.policies.edit(s, rng);
        });
      }
      case 'policy-suspend': {
        const s = this.pickPolicy((x) => x.exists && !x.tuning.suspend);
        if (!s) return undefined;
        return this.policyFault(kind, s, async (rec) => {
          await c.policies.setSuspend(s, true);
          const t0 = Date.now();
          try {
            await this.hold(2, 15);
          } finally {
            await c.policies.setSuspend(s, false);
          }
          rec.detail = `suspended for ${Date.now() - t0} ms, then resumed`;
        });
      }
      case 'policy-delete': {
        const s = this.pickPolicy((x) => x.exists && !x.tuning.suspend);
        if (!s) return undefined;
        return this.policyFault(kind, s, async (rec) => {
          await c.policies.delete(s);
          const t0 = Date.now();
          await this.hold(2, 10);
          await c.policies.recreate(s);
          rec.detail = `deleted for ${Date.now() - t0} ms, then created again`;
        });
      }
      case 'bad-edit': {
        const s = this.pickPolicy((x) => x.exists);
        if (!s) return undefined;
        const bad = rng.pick(badEdits());
        return this.policyFault(kind, s, async (rec) => {
          const spec = structuredClone(c.policies.spec(s));
          bad.mutate(spec);
          const refusal = await c.kube.tryInvalidSpec(s.plan.name, spec);
          if (refusal !== undefined) {
            rec.detail = `${bad.what}: refused by the API server`;
            return;
          }
          // The API server let it through (SPEC §3 wants the same rules there): store it for real; the
          // operator must then refuse it (phase Failed, InvalidSpec) and run nothing until it is fixed.
          this.apiAccepted.add(bad.what);
          const generation = await c.kube.replaceSpec(s.plan.name, spec);
          const t0 = Date.now();
          let refused = false;
          try {
            while (Date.now() - t0 < 30_000) {
              const p = await c.kube.getPolicy(s.plan.name).catch(() => undefined);
              const ready = p?.status?.conditions?.find((x) => x.type === 'Ready');
              if (
                p?.status?.observedGeneration === generation &&
                p.status.phase === 'Failed' &&
                ready?.reason === 'InvalidSpec'
              ) {
                refused = true;
                break;
              }
              await sleep(250);
            }
          } finally {
            await c.policies.apply(s, s.tuning); // the valid spec again
          }
          if (refused)
            rec.detail = `${bad.what}: accepted by the API server, refused by the operator after ${Date.now() - t0} ms`;
          else {
            const v = `neither the API server nor the operator (within 30 s) refused an invalid spec for ${s.plan.name} (${bad.what})`;
            this.violations.push(v);
            rec.detail = `VIOLATION: ${v}`;
          }
        });
      }
    }
  }

  private pickPolicy(ok: (s: PolicyState) => boolean): PolicyState | undefined {
    const cands = this.c.policies.states.filter((s) => !s.busy && ok(s));
    return cands.length ? this.c.rng.pick(cands) : undefined;
  }

  private policyFault(
    kind: FaultKind,
    s: PolicyState,
    fn: (rec: FaultRecord) => Promise<void>,
  ): Promise<void> {
    s.busy = true;
    return this.track(kind, `policy:${s.plan.name}`, fn).finally(() => {
      s.busy = false;
    });
  }

  /** Restarts a server, retrying (the port may linger for a moment after SIGKILL). */
  private async restartServer(srv: ManagedServer): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await srv.start(30_000);
        return;
      } catch (err) {
        await srv.stop('SIGKILL').catch(() => undefined);
        if (attempt >= 5) throw err;
        await sleep(500 * attempt);
      }
    }
  }

  private track(kind: FaultKind, target: string, fn: (rec: FaultRecord) => Promise<void>): Promise<void> {
    this.busy.add(target);
    const rec: FaultRecord = { t: Date.now() - this.c.t0, kind, target };
    this.records.push(rec);
    this.counts[kind]++;
    return (async () => {
      try {
        await fn(rec);
      } catch (err) {
        rec.error = err instanceof Error ? err.message : String(err);
        this.c.log(`fault ${kind} on ${target} failed: ${rec.error}`);
      } finally {
        rec.endT = Date.now() - this.c.t0;
        this.busy.delete(target);
        this.out.write(`${JSON.stringify(rec)}\n`);
        this.c.log(
          `fault ${kind.padEnd(14)} ${target.padEnd(14)} ${rec.detail ?? ''}${rec.error ? ` ERROR ${rec.error}` : ''}`,
        );
      }
    })();
  }
}
