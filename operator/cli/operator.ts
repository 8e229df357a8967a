// `gochive operator`: run the ArchivePolicy controller until SIGTERM/SIGINT.
import { KubeConfig } from '@kubernetes/client-node';
import { mkdirSync } from 'node:fs';
import { Operator } from '../controller/controller.js';
import { KubeRest } from '../controller/kube-rest.js';
import { LEASE_SOCKETS } from '../controller/leases.js';
import { parseOperatorArgs, usage, type OperatorOptions } from '../controller/options.js';
import { createScrubbedLogger, SecretSet } from '../controller/scrub.js';
import type { CreateWorker } from '../controller/workers.js';
import { GOCHIVE_VERSION } from '../version.js';
import { errorMessage } from '../util/redact.js';

function loadKubeConfig(o: OperatorOptions): KubeConfig {
  const kc = new KubeConfig();
  if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster())
    throw new Error('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod');
  return kc;
}

async function loadEngine(): Promise<CreateWorker> {
  const mod = (await import('../archiver/worker.js')) as { createWorker: CreateWorker };
  return mod.createWorker;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseOperatorArgs(argv, process.env);
  if (!parsed.ok) {
    if (parsed.help) {
      process.stdout.write(usage());
      return 0;
    }
    process.stderr.write(`gochive operator: ${parsed.message}\n`);
    return 2;
  }
  const o = parsed.options;
  const secrets = new SecretSet();
  const log = createScrubbedLogger({ level: o.logLevel, identity: o.identity, secrets });
  let operator: Operator;
  try {
    mkdirSync(o.spoolDir, { recursive: true });
    const kc = loadKubeConfig(o);
    operator = new Operator({
      options: o,
      kc,
      rest: new KubeRest(kc),
      // Renewals and acquisitions in flight at once (lease-schedule.ts, leases.ts) fit its sockets.
      leaseRest: new KubeRest(kc, 30_000, LEASE_SOCKETS),
      log,
      secrets,
      createWorker: await loadEngine(),
    });
  } catch (err) {
    log.fatal({ err: secrets.redact(errorMessage(err)) }, 'cannot start the operator');
    return 1;
  }
  log.info(
    {
      version: GOCHIVE_VERSION,
      identity: o.identity,
      namespaces: o.namespaces.length ? o.namespaces : 'all',
      leaseNamespace: o.leaseNamespace,
      leaseDurationMs: o.leaseDurationMs,
      renewIntervalMs: o.renewIntervalMs,
      spoolDir: o.spoolDir,
    },
    'starting gochive operator',
  );

  let exitCode = 0;
  const stopped = new Promise<void>((resolve) => {
    let signalled = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (signalled) {
        log.warn({ signal: sig }, 'second signal: exiting now');
        process.exit(1);
      }
      signalled = true;
      log.info({ signal: sig, gracePeriodMs: o.shutdownGracePeriodMs }, 'signal received; shutting down');
      // If stopping takes longer than the grace period, exit anyway: leases that were not released
      // simply expire, so no other replica runs a policy while this process still might (I6).
      const t = setTimeout(() => {
        log.error(
          { gracePeriodMs: o.shutdownGracePeriodMs },
          'shutdown grace period exceeded; exiting with workers still stopping',
        );
        process.exit(1);
      }, o.shutdownGracePeriodMs);
      t.unref();
      operator.shutdown().then(
        () => resolve(),
        (err: unknown) => {
          log.error({ err: secrets.redact(errorMessage(err)) }, 'shutdown failed');
          exitCode = 1;
          resolve();
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });

  try {
    await operator.start();
  } catch (err) {
    log.fatal({ err: secrets.redact(errorMessage(err)) }, 'operator failed to start');
    await operator.shutdown().catch(() => undefined);
    return 1;
  }
  await stopped;
  return exitCode;
}
