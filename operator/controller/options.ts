// `gochive operator` settings: every flag also settable through a GOCHIVE_* environment variable
// (flags win). Parsing is pure (argv + env in, options or a message out) so it is unit-tested.
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface OperatorOptions {
  kubeconfig?: string;
  /** Empty: all namespaces. */
  namespaces: string[];
  leaseNamespace: string;
  spoolDir: string;
  mongodbUriTemplate?: string;
  credentialsSecret?: { namespace: string; name: string };
  credentialsUsernameKey: string;
  credentialsPasswordKey: string;
  leaseDurationMs: number;
  renewIntervalMs: number;
  metricsBindAddress: string;
  logLevel: string;
  identity: string;
  maxConcurrentReconciles: number;
  shutdownGracePeriodMs: number;
  statusMinIntervalMs: number;
  resyncPeriodMs: number;
  expireIntervalMs: number;
}

interface FlagSpec {
  name: string;
  env: string;
  help: string;
  default?: string;
  boolean?: boolean;
}

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export const FLAGS: FlagSpec[] = [
  {
    name: 'kubeconfig',
    env: 'KUBECONFIG',
    help: 'Path to a kubeconfig. Default: in-cluster config when running in a pod, else $KUBECONFIG or ~/.kube/config.',
  },
  {
    name: 'namespaces',
    env: 'GOCHIVE_NAMESPACES',
    help: 'Comma-separated namespaces whose ArchivePolicies to run. Default: all namespaces.',
  },
  {
    name: 'lease-namespace',
    env: 'GOCHIVE_LEASE_NAMESPACE',
    help: "Namespace of the operator's Leases. Default: $POD_NAMESPACE, the pod's own namespace, else 'default'.",
  },
  {
    name: 'spool-dir',
    env: 'GOCHIVE_SPOOL_DIR',
    help: 'Local directory where documents wait for upload (one subdirectory per policy).',
    default: path.join(os.tmpdir(), 'gochive-spool'),
  },
  {
    name: 'mongodb-uri-template',
    env: 'GOCHIVE_MONGODB_URI_TEMPLATE',
    help: "How spec.hostAddress becomes a URI, e.g. 'mongodb://{username}:{password}@{host}:27017/'. {username} and {password} come from --credentials-secret.",
  },
  {
    name: 'credentials-secret',
    env: 'GOCHIVE_CREDENTIALS_SECRET',
    help: 'namespace/name (or name, in the lease namespace) of the Secret holding the MongoDB username and password for the URI template.',
  },
  {
    name: 'credentials-username-key',
    env: 'GOCHIVE_CREDENTIALS_USERNAME_KEY',
    help: 'Key of the username in the credentials Secret.',
    default: 'username',
  },
  {
    name: 'credentials-password-key',
    env: 'GOCHIVE_CREDENTIALS_PASSWORD_KEY',
    help: 'Key of the password in the credentials Secret.',
    default: 'password',
  },
  {
    name: 'lease-duration',
    env: 'GOCHIVE_LEASE_DURATION',
    help: "How long a policy's Lease stays valid without renewal; a dead replica's policies move after this.",
    default: '15s',
  },
  {
    name: 'renew-interval',
    env: 'GOCHIVE_RENEW_INTERVAL',
    help: 'How often held Leases are renewed. Default: a third of --lease-duration.',
  },
  {
    name: 'metrics-bind-address',
    env: 'GOCHIVE_METRICS_BIND_ADDRESS',
    help: "host:port serving /metrics, /healthz and /readyz (':8080' = all interfaces, '0' = off).",
    default: ':8080',
  },
  {
    name: 'log-level',
    env: 'GOCHIVE_LOG_LEVEL',
    help: 'trace, debug, info, warn, error or fatal.',
    default: 'info',
  },
  {
    name: 'identity',
    env: 'GOCHIVE_IDENTITY',
    help: "This replica's name in Leases and Events. Default: $POD_NAME, else the host name, plus a random suffix.",
  },
  {
    name: 'max-concurrent-reconciles',
    env: 'GOCHIVE_MAX_CONCURRENT_RECONCILES',
    help: 'Policies reconciled in parallel.',
    default: '4',
  },
  {
    name: 'shutdown-grace-period',
    env: 'GOCHIVE_SHUTDOWN_GRACE_PERIOD',
    help: "On SIGTERM: time allowed to stop workers and release Leases before exiting anyway (keep below the pod's terminationGracePeriodSeconds).",
    default: '25s',
  },
  {
    name: 'status-min-interval',
    env: 'GOCHIVE_STATUS_MIN_INTERVAL',
    help: 'Least time between two status writes of one policy (phase changes are written at once).',
    default: '1s',
  },
  {
    name: 'resync-period',
    env: 'GOCHIVE_RESYNC_PERIOD',
    help: 'How often every policy is reconciled even without a change (a safety net).',
    default: '5m',
  },
  {
    name: 'expire-interval',
    env: 'GOCHIVE_EXPIRE_INTERVAL',
    help: 'Time between the expiry passes of a policy with s3.expireAfter (each lists its date folders up to the cutoff and removes at most 1000 bundles).',
    default: '1h',
  },
];

export function usage(): string {
  const lines = FLAGS.map((f) => {
    const def = f.default !== undefined ? ` (default ${JSON.stringify(f.default)})` : '';
    return `  --${f.name}\n      ${f.help}${def}\n      env: ${f.env}`;
  });
  return `Usage: gochive operator [flags]\n\nRuns the ArchivePolicy controller.\n\nFlags (each also settable by environment variable; flags win):\n${lines.join('\n')}\n  -h, --help\n`;
}

/** Parses `500ms`, `1.5s`, `15s`, `2m`, `1h` or plain seconds. */
export function parseFlagDuration(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new Error(`--${flag}: '${value}' is not a duration; use e.g. 500ms, 15s, 2m or 1h`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
  if (!(ms > 0)) throw new Error(`--${flag}: must be greater than zero, got '${value}'`);
  return Math.round(ms);
}

export type ParseResult =
  | { ok: true; options: OperatorOptions }
  | { ok: false; help: true }
  | { ok: false; help: false; message: string };

export function parseOperatorArgs(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  fileExists: (p: string) => string | undefined = readNamespaceFile,
): ParseResult {
  const byName = new Map(FLAGS.map((f) => [f.name, f]));
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return { ok: false, help: true };
    const m = /^--?([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!m)
      return {
        ok: false,
        help: false,
        message: `unexpected argument '${arg}'; flags look like --name=value (see --help)`,
      };
    const name = m[1]!;
    if (!byName.has(name)) return { ok: false, help: false, message: `unknown flag --${name} (see --help)` };
    let value = m[2];
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined) return { ok: false, help: false, message: `--${name} needs a value` };
      i++;
    }
    given.set(name, value);
  }
  const get = (name: string): string | undefined => {
    const f = byName.get(name)!;
    const fromEnv = env[f.env];
    return given.get(name) ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined) ?? f.default;
  };
  try {
    const leaseNamespace =
      get('lease-namespace') ?? env.POD_NAMESPACE ?? fileExists(SA_NAMESPACE_FILE) ?? 'default';
    const leaseDurationMs = parseFlagDuration(get('lease-duration')!, 'lease-duration');
    const renew = get('renew-interval');
    const renewIntervalMs = renew
      ? parseFlagDuration(renew, 'renew-interval')
      : Math.max(200, Math.floor(leaseDurationMs / 3));
    if (renewIntervalMs * 2 > leaseDurationMs) {
      throw new Error(
        `--renew-interval (${renewIntervalMs} ms) must be at most half of --lease-duration (${leaseDurationMs} ms), so a lease is renewed at least twice before it expires`,
      );
    }
    const maxConc = Number(get('max-concurrent-reconciles'));
    if (!Number.isInteger(maxConc) || maxConc < 1 || maxConc > 256)
      throw new Error(
        `--max-concurrent-reconciles must be a whole number from 1 to 256, got '${get('max-concurrent-reconciles')}'`,
      );
    const namespaces = (get('namespaces') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const ns of namespaces) {
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63)
        throw new Error(`--namespaces: '${ns}' is not a namespace name`);
    }
    let credentialsSecret: OperatorOptions['credentialsSecret'];
    const cs = get('credentials-secret');
    if (cs) {
      const parts = cs.split('/');
      if (parts.length > 2 || parts.some((p) => !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(p))) {
        throw new Error(`--credentials-secret must be namespace/name or name, got '${cs}'`);
      }
      credentialsSecret =
        parts.length === 2
          ? { namespace: parts[0]!, name: parts[1]! }
          : { namespace: leaseNamespace, name: parts[0]! };
    }
    const template = get('mongodb-uri-template');
    if (template !== undefined && !/^mongodb(\+srv)?:\/\//.test(template)) {
      throw new Error(
        `--mongodb-uri-template must start with mongodb:// or mongodb+srv:// (e.g. 'mongodb://{username}:{password}@{host}:27017/')`,
      );
    }
    const level = get('log-level')!;
    if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level))
      throw new Error(`--log-level must be one of trace, debug, info, warn, error, fatal; got '${level}'`);
    const identity = get('identity') ?? `${env.POD_NAME ?? os.hostname()}-${randomBytes(3).toString('hex')}`;
    if (identity.length > 128) throw new Error('--identity must be at most 128 characters');
    const options: OperatorOptions = {
      namespaces,
      leaseNamespace,
      spoolDir: path.resolve(get('spool-dir')!),
      credentialsUsernameKey: get('credentials-username-key')!,
      credentialsPasswordKey: get('credentials-password-key')!,
      leaseDurationMs,
      renewIntervalMs,
      metricsBindAddress: get('metrics-bind-address')!,
      logLevel: level,
      identity,
      maxConcurrentReconciles: maxConc,
      shutdownGracePeriodMs: parseFlagDuration(get('shutdown-grace-period')!, 'shutdown-grace-period'),
      statusMinIntervalMs: parseFlagDuration(get('status-min-interval')!, 'status-min-interval'),
      resyncPeriodMs: parseFlagDuration(get('resync-period')!, 'resync-period'),
      expireIntervalMs: parseFlagDuration(get('expire-interval')!, 'expire-interval'),
      ...(get('kubeconfig') ? { kubeconfig: get('kubeconfig') } : {}),
      ...(template ? { mongodbUriTemplate: template } : {}),
      ...(credentialsSecret ? { credentialsSecret } : {}),
    };
    return { ok: true, options };
  } catch (err) {
    return { ok: false, help: false, message: (err as Error).message };
  }
}

function readNamespaceFile(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
