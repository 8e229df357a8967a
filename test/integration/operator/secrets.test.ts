// Invariant I7 and Secret handling: the MongoDB passwords (from the credentials Secret, from a
// uriSecretRef, and a rotated one) and the S3 secret key never appear in the operator's logs, in
// Events, in ArchivePolicy status or in /metrics — also when connections fail and errors are reported.
// A change to the credentials Secret restarts the worker that uses it.
//
// Unlike the other operator suites, this one always connects with the credentials template (PLAIN), on
// both servers: the proxy in front of the server records what each login sends, which proves the
// Secret's password (and the rotated one, percent-encoded in the URI) reached the wire decoded. FerretDB
// 1.x then accepts any password and archiving proceeds; FerretDB 2 runs without authentication and
// refuses the mechanism, which the policy must report (the password must not leak from that path either).
import { randomBytes } from 'node:crypto';
import { mongoTakesCredentials, testEnv } from '../../support/testenv.js';
import {
  apply,
  condition,
  ensureCrd,
  getPolicy,
  mustKubectl,
  OperatorProcess,
  sleep,
  waitFor,
} from './harness.js';
import {
  CREDENTIALS_URI_TEMPLATE,
  MONGO_SECRET,
  USERNAME,
  policyManifest,
  policySpec,
  sandbox,
  seed,
  type Sandbox,
} from './fixtures.js';

describe('operator: secrets never leak (I7), a rotated Secret restarts the worker', () => {
  let sb: Sandbox;
  let op: OperatorProcess;
  const uriPassword = `UriPw-${randomBytes(10).toString('hex')}`;
  const rotatedPassword = `Rot/Pw@${randomBytes(10).toString('hex')}`; // needs URI encoding

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-i7');
    op = await OperatorProcess.start({
      name: 'i7',
      args: [
        ...sb.operatorArgs.filter((a) => !a.startsWith('--mongodb-uri-template=')),
        `--mongodb-uri-template=${CREDENTIALS_URI_TEMPLATE}`,
        '--lease-duration=6s',
        '--log-level=debug',
      ],
    });
  });

  afterAll(async () => {
    await op?.stop();
    await sb?.cleanup();
  });

  test("the Secret's password reaches the server; a rotated Secret restarts the worker with the new one", async () => {
    const takesCredentials = mongoTakesCredentials();
    await seed(sb.db, 'good', 50, 40);
    await apply(policyManifest(sb.namespace, 'good', policySpec(sb, {}, 'good')));
    await waitFor(
      "a PLAIN login with the Secret's password",
      () => sb.proxy.sawPlainLogin(USERNAME, sb.password),
      90_000,
      200,
    );
    if (takesCredentials) {
      await waitFor(
        'the first pass',
        async () => (await getPolicy(sb.namespace, 'good'))?.status?.totals?.documentsDeleted === 50,
        90_000,
        500,
      );
    } else {
      // FerretDB 2 refuses the login, naming the mechanism; the policy reports it and archives nothing.
      await waitFor(
        'the refused login in status',
        async () =>
          /mechanism PLAIN which is not enabled/.test(
            (await getPolicy(sb.namespace, 'good'))?.status?.lastError?.message ?? '',
          ),
        90_000,
        500,
      );
      expect(await sb.db.collection('good').countDocuments()).toBe(50);
    }
    const rotatedAt = Date.now();
    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: MONGO_SECRET, namespace: sb.namespace },
      stringData: { username: USERNAME, password: rotatedPassword },
    });
    await op.waitForLog(
      'the restart for the changed Secret',
      (l) => l.msg === 'stopping worker' && l.policy === 'good' && l.reason === 'connection Secret changed',
      30_000,
    );
    await op.waitForLog(
      'the new worker',
      (l) => l.msg === 'worker started' && l.policy === 'good' && Date.parse(l.time) > Date.now() - 30_000,
      30_000,
    );
    // The rotated password is percent-encoded in the URI ('/' and '@'); the server gets it decoded.
    await waitFor(
      'a PLAIN login with the rotated password',
      () => sb.proxy.sawPlainLogin(USERNAME, rotatedPassword, rotatedAt),
      90_000,
      200,
    );
    if (takesCredentials) {
      await seed(sb.db, 'good', 20, 40, { tag: 'after-rotation' });
      await waitFor(
        'archiving with the new credentials',
        async () => (await getPolicy(sb.namespace, 'good'))?.status?.totals?.documentsDeleted === 70,
        90_000,
        500,
      );
    } else {
      expect(await sb.db.collection('good').countDocuments()).toBe(50);
    }
  }, 240_000);

  test('passwords and keys appear nowhere: logs, events, status, metrics — also on failures', async () => {
    // Failure paths that carry connection strings around: a full URI (with its password) that points
    // nowhere, and a host the template turns into a URI with the (rotated) password that cannot resolve.
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'bad-uri', namespace: sb.namespace },
        stringData: {
          uri: `mongodb://leaky:${uriPassword}@127.0.0.1:1/?authMechanism=PLAIN&serverSelectionTimeoutMS=1000&connectTimeoutMS=1000`,
        },
      },
      policyManifest(sb.namespace, 'bad-uri', {
        ...policySpec(sb, {}, 'baduri'),
        hostAddress: undefined,
        uriSecretRef: { name: 'bad-uri' },
      }),
      policyManifest(
        sb.namespace,
        'bad-host',
        policySpec(sb, { hostAddress: 'no-such-host.invalid' }, 'badhost'),
      ),
    ]);
    const failing = await waitFor(
      'both failing policies to report their errors',
      async () => {
        const a = await getPolicy(sb.namespace, 'bad-uri');
        const b = await getPolicy(sb.namespace, 'bad-host');
        return a?.status?.lastError && b?.status?.lastError && condition(a, 'Degraded')?.status === 'True'
          ? [a, b]
          : undefined;
      },
      90_000,
      500,
    );
    await sleep(3000); // a few retries' worth of logs and events
    // The errors are reported (the grep below is meaningful)…
    expect(failing[0]!.status!.lastError!.message).toMatch(/\S/);
    expect(failing[1]!.status!.lastError!.message).toMatch(/no-such-host|ENOTFOUND|getaddrinfo|resolve/i);

    const everything: Record<string, string> = {
      logs: op.logText(),
      status: await mustKubectl(['get', 'archivepolicies', '-n', sb.namespace, '-o', 'yaml']),
      events: await mustKubectl(['get', 'events.v1.events.k8s.io', '-n', sb.namespace, '-o', 'yaml']),
      coreEvents: await mustKubectl(['get', 'events', '-n', sb.namespace, '-o', 'yaml']),
      leases: await mustKubectl(['get', 'leases', '-n', sb.namespace, '-o', 'yaml']),
      metrics: await op.metrics(),
    };
    expect(everything.logs).toContain('connect'); // the logs do talk about connections
    expect(everything.events).toMatch(/Warning/);
    const secrets = [
      sb.password,
      uriPassword,
      rotatedPassword,
      encodeURIComponent(rotatedPassword),
      testEnv().s3.secretAccessKey,
    ];
    for (const [where, text] of Object.entries(everything)) {
      for (const s of secrets) expect({ where, leaked: text.includes(s) }).toEqual({ where, leaked: false });
      // No URI with userinfo either.
      expect({ where, uri: /mongodb:\/\/[^\s/@"']+:[^\s/@"']+@/.test(text) }).toEqual({ where, uri: false });
    }
  }, 240_000);
});
