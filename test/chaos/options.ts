// Campaign settings: two presets (short, for CI; full, the 10-minute soak) and flags that override them.
import { CRASH_POINTS, FAULT_KINDS, type FaultKind } from './faults.js';
import { randomSeed } from './rng.js';
import { parseDurationMs } from './time.js';

export interface CampaignOptions {
  mode: 'short' | 'full';
  seed: number;
  /** Length of the fault phase. */
  durationMs: number;
  policies: number;
  /** 2: a second replica comes and goes; 1: a single replica throughout. */
  maxReplicas: number;
  seedPerPolicy: number;
  insertRate: number;
  updateRate: number;
  meanGapMs: number;
  killCooldownMs: number;
  holdScale: number;
  /** The drain gives up after this long without progress (and after 3× this in all). */
  quiesceTimeoutMs: number;
  maxRssMb: number;
  tmpfs: boolean;
  spoolVolumeMb: number;
  leaseDuration: string;
  renewInterval: string;
  keep: boolean;
  /** Only these fault kinds (all when empty). */
  faults: string[];
  /** Only these engine crash points (all when empty). */
  crashPoints: string[];
  /** Faults injected at these fractions of the fault phase whatever the dice say (if their kind is on). */
  forcedFaults: Array<{ at: number; kind: FaultKind }>;
  reportFile?: string;
  quiet: boolean;
}

export function preset(mode: 'short' | 'full'): CampaignOptions {
  const common = {
    seed: randomSeed(),
    policies: 20,
    maxReplicas: 2,
    maxRssMb: 512,
    tmpfs: true,
    spoolVolumeMb: 48,
    leaseDuration: '6s',
    renewInterval: '2s',
    keep: false,
    faults: [] as string[],
    crashPoints: [] as string[],
    quiet: false,
  };
  return mode === 'short'
    ? {
        ...common,
        mode,
        // Every fault kind, two replicas included: bundles in flight live in the policy status (the
        // ledger), so a policy moving between replicas, or to a new pod with an empty spool, is finished
        // where it stopped — no duplicates, exact counts (there is no "Known limits" exemption left).
        // A pod replacement is forced a third of the way in, so every short run has one.
        forcedFaults: [{ at: 0.35, kind: 'replica-replace' as const }],
        durationMs: 60_000,
        seedPerPolicy: 100,
        insertRate: 25,
        updateRate: 4,
        meanGapMs: 2500,
        killCooldownMs: 12_000,
        holdScale: 0.6,
        quiesceTimeoutMs: 120_000,
      }
    : {
        ...common,
        mode,
        durationMs: 600_000,
        seedPerPolicy: 300,
        insertRate: 30,
        updateRate: 5,
        meanGapMs: 4000,
        killCooldownMs: 40_000,
        holdScale: 1,
        forcedFaults: [
          { at: 0.2, kind: 'replica-replace' as const },
          { at: 0.6, kind: 'replica-replace' as const },
        ],
        quiesceTimeoutMs: 300_000,
      };
}

export const USAGE = `Usage: node dist/test/chaos/main.js [--short | --full] [flags]

Soak and fault campaign: runs gochive's operator with 20 policies against private FerretDB and
versitygw servers while a writer inserts and changes documents and faults are injected, then checks
every safety invariant (SPEC §5) against the writer's ledger. Exits non-zero on any violation.

  --short              CI preset: about 60 s of faults (one pod replacement forced), 2-3 minutes in all (default)
  --full               soak preset: 10 minutes of faults
  --duration=D         length of the fault phase (e.g. 90s, 10m); overrides the preset
  --seed=N             replay a run (the seed is printed at the start and in the table)
  --policies=N         number of policies (default 20)
  --replicas=1|2       at most this many operator replicas (default 2)
  --insert-rate=N      documents inserted per second
  --update-rate=N      documents changed per second
  --fault-gap=D        mean time between faults (e.g. 3s)
  --max-rss-mb=N       memory ceiling per operator process (default 512)
  --faults=K,K          inject only these fault kinds (e.g. crash-point,operator-kill,replica-replace);
                       see faults.ts
  --crash-points=P,P    crash points for crash-point faults: after-spool, after-seal, mid-upload,
                       after-upload, before-delete, mid-delete
  --no-tmpfs           do not mount size-limited spool volumes (spool-fill faults are then skipped)
  --keep               keep the run directory (logs, ledger, server data) even on success
  --report=FILE        also write the result as JSON to FILE
  --quiet              print only the final table
`;

export function parseArgs(argv: string[]): CampaignOptions | { help: true } {
  let mode: 'short' | 'full' = 'short';
  if (argv.includes('--full')) mode = 'full';
  const o = preset(mode);
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument '${arg}' (see --help)`);
    const [, name, value] = m as unknown as [string, string, string | undefined];
    const need = (): string => {
      if (value === undefined || value === '') throw new Error(`--${name} needs a value, e.g. --${name}=...`);
      return value;
    };
    const int = (min: number, max: number): number => {
      const n = Number(need());
      if (!Number.isInteger(n) || n < min || n > max)
        throw new Error(`--${name} must be a whole number from ${min} to ${max}, got '${value}'`);
      return n;
    };
    switch (name) {
      case 'help':
        return { help: true };
      case 'short':
      case 'full':
        break;
      case 'duration':
        o.durationMs = parseDurationMs(need(), '--duration');
        break;
      case 'seed':
        o.seed = int(0, 0xffffffff);
        break;
      case 'policies':
        o.policies = int(1, 100);
        break;
      case 'replicas':
        o.maxReplicas = int(1, 2);
        break;
      case 'insert-rate':
        o.insertRate = int(0, 10_000);
        break;
      case 'update-rate':
        o.updateRate = int(0, 10_000);
        break;
      case 'fault-gap':
        o.meanGapMs = parseDurationMs(need(), '--fault-gap');
        break;
      case 'max-rss-mb':
        o.maxRssMb = int(64, 65_536);
        break;
      case 'faults':
        o.faults = need()
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean);
        for (const k of o.faults)
          if (!FAULT_KINDS.includes(k as never))
            throw new Error(`--faults: unknown fault kind '${k}'; known: ${FAULT_KINDS.join(', ')}`);
        break;
      case 'crash-points':
        o.crashPoints = need()
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean);
        for (const k of o.crashPoints)
          if (!CRASH_POINTS.includes(k as never))
            throw new Error(`--crash-points: unknown point '${k}'; known: ${CRASH_POINTS.join(', ')}`);
        break;
      case 'no-tmpfs':
        o.tmpfs = false;
        break;
      case 'keep':
        o.keep = true;
        break;
      case 'report':
        o.reportFile = need();
        break;
      case 'quiet':
        o.quiet = true;
        break;
      default:
        throw new Error(`unknown flag --${name} (see --help)`);
    }
  }
  return o;
}
