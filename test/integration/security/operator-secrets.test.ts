// Invariant I7 under failure: the operator runs policies that fail in every way a connection can — a
// MongoDB that refuses the credentials, one that is not there, one that accepts and never answers, an S3
// store that refuses the keys — each with a recognisable password in its URI or Secret. Then every output
// channel is searched for those values (raw, URL-encoded, base64, and the URI's userinfo): the operator's
// stdout/stderr, the Kubernetes Events, every policy's status, and /metrics. Each failure must be
// reported (so the search is not vacuous), and every URI printed anywhere must have its userinfo redacted.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { mongoTakesCredentials, repoRoot, testEnv, uniqueName } from '../../support/testenv.js';
import {
  ConnectionCounter,
  GiveUp,
  assertBuilt,
  cliMain,
  closedPort,
  createNamespace,
  deleteNamespace,
  ensureCrd,
  mustKubectl,
  stopProcess,
  waitFor,
} from '../badinput/harness.js';
import { DAY, stores, type Stores } from '../badinput/stores.js';
import { forbiddenForms, uriUserinfoLeaks } from './leaks.js';

const ns = uniqueName('sec-op');
const tag = randomBytes(4).toString('hex');
/** Recognisable secrets, with characters that URIs must encode (@ : / %) and JSON must escape ("). */
const secrets = {
  templatePassword: `Tmpl-Hunter2-${tag}-p@ss:w/rd%`,
  unreachablePassword: `Unreach-Hunter2-${tag}`,
  stalledPassword: `Stall-Hunter2-${tag}`,
  plainPassword: `Plain-Hunter2-${tag}`,
  malformedPassword: `Malformed-Hunter2-${tag}`,
  unescapedPassword: `Unesc@ped-Hunter2-${tag}`,
  s3SecretKey: `S3-Secret-Hunter2-${tag}-abcdefghijklmnop`,
  s3WrongSecretForRealKey: `S3-Wrong-Hunter2-${tag}-qrstuvwxyz`,
};
const users = {
  template: `tmpl-user-${tag}`,
  unreachable: `unreach-user-${tag}`,
  stalled: `stall-user-${tag}`,
  plain: `plain-user-${tag}`,
};

let st: Stores;
let hang: ConnectionCounter;
let op: ChildProcess | undefined;
let log = '';
let spool = '';
let metricsPort = 0;

function policy(name: string, spec: Record<string, unknown>) {
  const env = testEnv();
  return {
    apiVersion: 'gochive.io/v1alpha1',
    kind: 'ArchivePolicy',
    metadata: { name, namespace: ns },
    spec: {
      ageLimit: '92d',
      queryLimit: 100,
      archiveCheckInterval: 1,
      collection: 'events',
      database: st.dbName,
      archiveField: 'createdAt',
      allowCollectionScan: true,
      ...spec,
      s3: {
        bucket: `${st.bucket}/${name}/`,
        uploadInterval: 2,
        endpoint: env.s3.endpoint,
        forcePathStyle: true,
        region: env.s3.region,
        ...((spec.s3 as object | undefined) ?? {}),
      },
    },
  };
}

beforeAll(async () => {
  assertBuilt('cli/operator', 'controller/reconciler', 'archiver/worker');
  await ensureCrd();
  await createNamespace(ns);
  st = await stores('sec_op');
  // Old documents, so that policies which can connect get as far as uploading.
  await st.db
    .collection('events')
    .insertMany(
      Array.from({ length: 50 }, (_, i) => ({ i, createdAt: new Date(Date.now() - 200 * DAY + i) })),
    );
  hang = await new ConnectionCounter('hang').start();

  const env = testEnv();
  const mongo = new URL(env.mongoUri);
  const dead = await closedPort();
  const kubectlSecret = (name: string, data: Record<string, string>) =>
    mustKubectl([
      'create',
      'secret',
      'generic',
      name,
      '-n',
      ns,
      ...Object.entries(data).map(([k, v]) => `--from-literal=${k}=${v}`),
    ]);
  await kubectlSecret('tmpl-creds', { username: users.template, password: secrets.templatePassword });
  await kubectlSecret('unreachable-uri', {
    uri: `mongodb://${users.unreachable}:${encodeURIComponent(secrets.unreachablePassword)}@127.0.0.1:${dead}/`,
  });
  await kubectlSecret('stalled-uri', {
    uri: `mongodb://${users.stalled}:${encodeURIComponent(secrets.stalledPassword)}@127.0.0.1:${hang.port}/?connectTimeoutMS=2000`,
  });
  // FerretDB 1.x accepts PLAIN with any credentials on its SQLite backend: this policy connects for real.
  // FerretDB 2 without authentication refuses every mechanism ("mechanism PLAIN which is not enabled"):
  // there the URI carries no credentials, and the S3 keys are the secrets these two policies hold.
  await kubectlSecret('plain-uri', {
    uri: mongoTakesCredentials(env)
      ? `mongodb://${users.plain}:${encodeURIComponent(secrets.plainPassword)}@${mongo.host}/?authMechanism=PLAIN`
      : `mongodb://${mongo.host}/`,
  });
  // URIs the driver cannot even parse: a port that is not a number, and an "@" left unescaped in the
  // password (so a naive parser would cut the password there and print the rest as the host).
  await kubectlSecret('malformed-uri', {
    uri: `mongodb://malformed-${tag}:${secrets.malformedPassword}@127.0.0.1:notaport/`,
  });
  await kubectlSecret('unescaped-uri', {
    uri: `mongodb://unesc-${tag}:${secrets.unescapedPassword}@127.0.0.1:${dead}/`,
  });
  await kubectlSecret('s3-bad-key', {
    AWS_ACCESS_KEY_ID: `AKIABADKEY${tag.toUpperCase()}`,
    AWS_SECRET_ACCESS_KEY: secrets.s3SecretKey,
  });
  await kubectlSecret('s3-bad-secret', {
    AWS_ACCESS_KEY_ID: env.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: secrets.s3WrongSecretForRealKey,
  });

  const policies = [
    // The operator's URI template + credentials Secret, against a server that refuses SCRAM auth.
    policy('auth-refused', { hostAddress: mongo.host }),
    policy('unreachable', { uriSecretRef: { name: 'unreachable-uri' } }),
    policy('stalled', { uriSecretRef: { name: 'stalled-uri' } }),
    policy('malformed-uri', { uriSecretRef: { name: 'malformed-uri' } }),
    policy('unescaped-uri', { uriSecretRef: { name: 'unescaped-uri' } }),
    policy('s3-bad-key', {
      uriSecretRef: { name: 'plain-uri' },
      s3: { credentialsSecretRef: { name: 's3-bad-key' } },
    }),
    policy('s3-bad-secret', {
      uriSecretRef: { name: 'plain-uri' },
      s3: { credentialsSecretRef: { name: 's3-bad-secret' } },
    }),
  ];
  await mustKubectl(['apply', '-f', '-'], policies.map((p) => JSON.stringify(p)).join('\n'));

  spool = mkdtempSync(path.join(os.tmpdir(), 'gochive-sec-op-'));
  op = spawn(
    process.execPath,
    [
      cliMain,
      'operator',
      `--kubeconfig=${env.kubeconfig}`,
      `--namespaces=${ns}`,
      `--lease-namespace=${ns}`,
      '--metrics-bind-address=127.0.0.1:0',
      `--spool-dir=${spool}`,
      '--log-level=debug',
      '--status-min-interval=200ms',
      `--mongodb-uri-template=mongodb://{username}:{password}@{host}/?serverSelectionTimeoutMS=3000`,
      `--credentials-secret=${ns}/tmpl-creds`,
    ],
    {
      cwd: repoRoot,
      env: { PATH: env.path, HOME: os.tmpdir(), AWS_EC2_METADATA_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  op.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  op.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const address = await waitFor('the operator to serve /metrics', () => {
    if (op!.exitCode !== null) throw new GiveUp(`operator exited ${op!.exitCode}: ${log.slice(-2000)}`);
    return /"address":"[^"]*:(\d+)"[^\n]*serving \/metrics/.exec(log)?.[1];
  });
  metricsPort = Number(address);
}, 120_000);

afterAll(async () => {
  await stopProcess(op);
  await hang?.stop();
  await deleteNamespace(ns);
  await st?.cleanup();
  if (spool) rmSync(spool, { recursive: true, force: true });
});

interface PolicyStatus {
  phase?: string;
  lastError?: { stage?: string; message?: string };
  conditions?: { type: string; status: string; reason: string; message: string }[];
}

async function statusOf(name: string): Promise<PolicyStatus> {
  const p = JSON.parse(await mustKubectl(['get', 'archivepolicy', name, '-n', ns, '-o', 'json'])) as {
    status?: PolicyStatus;
  };
  return p.status ?? {};
}

/** Where a status reports a failure: the worker's lastError, or (Blocked before a worker runs) Ready. */
function failureOf(s: {
  lastError?: { message?: string };
  conditions?: { type: string; status: string; message?: string }[];
}): string {
  return (
    s.lastError?.message ??
    s.conditions?.find((c) => c.type === 'Ready' && c.status === 'False')?.message ??
    ''
  );
}

describe('I7: no secret in logs, events, status or metrics when connections fail', () => {
  const failures: [string, RegExp][] = [
    ['auth-refused', /auth|mechanism|SCRAM/i],
    ['unreachable', /ECONNREFUSED|connect|Server selection/i],
    ['stalled', /timed out|timeout|Server selection/i],
    ['malformed-uri', /port|Invalid|parse|URI/i],
    ['unescaped-uri', /escaped|Invalid|parse|URI|ECONNREFUSED/i],
    ['s3-bad-key', /access key|InvalidAccessKeyId|credential|denied|403/i],
    ['s3-bad-secret', /signature|SignatureDoesNotMatch|credential|denied|403/i],
  ];

  test.each(failures)(
    '%s: the failure is reported in status',
    async (name, says) => {
      const s = await waitFor(
        `${name} to report its failure`,
        async () => {
          if (op!.exitCode !== null) throw new GiveUp(`operator exited ${op!.exitCode}`);
          const s = await statusOf(name);
          return says.test(failureOf(s)) ? s : undefined;
        },
        120_000,
        500,
      ).catch((e: Error) => {
        throw new Error(`${e.message}\noperator log tail:\n${log.slice(-3000)}`, { cause: e });
      });
      expect(failureOf(s)).toMatch(says);
      // A URI the driver cannot parse blocks the policy before any worker runs (nothing to retry).
      if (name === 'malformed-uri') expect(s).toMatchObject({ phase: 'Blocked' });
      const degraded = s.conditions?.find((c) => c.type === 'Degraded' || c.type === 'Ready');
      expect(degraded).toBeDefined();
    },
    150_000,
  );

  test('no output channel holds a password, a key, or a URI userinfo', async () => {
    const events = await mustKubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']);
    const statuses = await mustKubectl(['get', 'archivepolicies', '-n', ns, '-o', 'json']);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    // Events were written for the failures (the channel was exercised).
    expect(JSON.parse(events).items.length).toBeGreaterThan(0);
    expect(metrics).toContain('gochive_');

    const channels = {
      'operator stdout/stderr': log,
      'Kubernetes Events': events,
      'policy status': JSON.stringify(JSON.parse(statuses).items.map((p: { status?: unknown }) => p.status)),
      '/metrics': metrics,
    };
    const forbidden = [
      // The core every password shares: catches partial leaks (a password cut at an "@" or ":").
      `Hunter2-${tag}`,
      ...Object.values(secrets).flatMap(forbiddenForms),
      `${users.template}:${secrets.templatePassword}`,
      `${users.template}:${encodeURIComponent(secrets.templatePassword)}`,
      `${users.unreachable}:${encodeURIComponent(secrets.unreachablePassword)}`,
      `${users.stalled}:${encodeURIComponent(secrets.stalledPassword)}`,
      `${users.plain}:${encodeURIComponent(secrets.plainPassword)}`,
      `malformed-${tag}:${secrets.malformedPassword}`,
      `unesc-${tag}:${secrets.unescapedPassword}`,
      // The tail of the unescaped password, which a parser splitting at the first "@" would show as a host.
      secrets.unescapedPassword.split('@')[1]!,
    ];
    // GOCHIVE_TEST_DUMP_DIR=dir keeps what was searched, for a human to read.
    const dump = process.env.GOCHIVE_TEST_DUMP_DIR;
    if (dump)
      for (const [channel, text] of Object.entries(channels))
        writeFileSync(path.join(dump, `operator-${channel.replace(/\W+/g, '_')}.txt`), text);
    const found: string[] = [];
    for (const [channel, text] of Object.entries(channels)) {
      for (const f of forbidden) if (text.includes(f)) found.push(`${channel} contains ${JSON.stringify(f)}`);
      for (const u of uriUserinfoLeaks(text)) found.push(`${channel} prints an unredacted URI: ${u}`);
    }
    expect(found).toEqual([]);
  });

  test('the operator is still running (failures are contained to their policies)', () => {
    expect(op!.exitCode).toBeNull();
  });
});
