// Invariant I7 for `gochive archive` under failure: the CLI is run with recognisable passwords — in
// -password, inside the -host URI, in GOCHIVE_MONGODB_PASSWORD, and as the S3 secret key — against a
// MongoDB that refuses the credentials, one that is not there, one that never answers, and an S3 store
// that refuses the keys. Each run goes until the failure is reported (at debug log level, so as much as
// possible is printed), is stopped with SIGTERM, and prints --statistics; then stdout and stderr are
// searched for every form of every secret and for any URI whose userinfo is not redacted.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mongoTakesCredentials, testEnv } from '../../support/testenv.js';
import {
  ConnectionCounter,
  assertBuilt,
  cliEnv,
  cliMain,
  closedPort,
  scratchDir,
  waitFor,
  GiveUp,
} from '../badinput/harness.js';
import { DAY, stores, type Stores } from '../badinput/stores.js';
import { forbiddenForms, uriUserinfoLeaks } from './leaks.js';

const tag = randomBytes(4).toString('hex');
const secret = (what: string) => `${what}-Hunter2-${tag}-p@ss:w/rd%`;

let st: Stores;
let hang: ConnectionCounter;

beforeAll(async () => {
  assertBuilt('cli/archive', 'archiver/worker');
  st = await stores('sec_cli');
  await st.db
    .collection('events')
    .insertMany(
      Array.from({ length: 20 }, (_, i) => ({ i, createdAt: new Date(Date.now() - 200 * DAY + i) })),
    );
  hang = await new ConnectionCounter('hang').start();
}, 60_000);

afterAll(async () => {
  await hang?.stop();
  await st?.cleanup();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `gochive archive` until stderr matches `failure`, then SIGTERM; bounded throughout. */
async function runUntilFailure(args: string[], env: Record<string, string>, failure: RegExp): Promise<Run> {
  const spool = scratchDir('sec-cli');
  const child = spawn(
    process.execPath,
    [cliMain, 'archive', ...args, '-spool-dir', spool.dir, '-log-level', 'debug', '--statistics'],
    {
      env: cliEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(
      `the CLI to report ${failure}`,
      () => {
        if (child.exitCode !== null && !failure.test(stderr))
          throw new GiveUp(`exited ${child.exitCode} first:\n${stderr.slice(-2000)}`);
        return failure.test(stderr);
      },
      90_000,
      200,
    );
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
    spool.remove();
  }
  return { code: child.exitCode, stdout, stderr };
}

function assertNoLeak(run: Run, secrets: string[], userinfos: string[]): void {
  const text = `${run.stdout}\n${run.stderr}`;
  const found: string[] = [];
  if (text.includes(`Hunter2-${tag}`)) found.push(`contains the password core Hunter2-${tag}`);
  for (const s of secrets)
    for (const f of forbiddenForms(s)) if (text.includes(f)) found.push(`contains ${JSON.stringify(f)}`);
  for (const u of userinfos) if (text.includes(u)) found.push(`contains the userinfo ${JSON.stringify(u)}`);
  for (const u of uriUserinfoLeaks(text)) found.push(`prints an unredacted URI: ${u}`);
  expect(found).toEqual([]);
}

function baseArgs(host: string, prefix: string): string[] {
  const env = testEnv();
  return [
    '-host', host,
    '-database', st.dbName,
    '-collection', 'events',
    '-age-limit', '92d',
    '-archive-field', 'createdAt',
    '-archive-check-interval', '1',
    '-s3-upload-interval', '2',
    '-s3-bucket-uri', `${st.bucket}/${prefix}/`,
    '-s3-endpoint', env.s3.endpoint,
    '-s3-region', env.s3.region,
    '--allow-collection-scan',
  ]; // prettier-ignore
}

const s3Env = () => ({
  AWS_ACCESS_KEY_ID: testEnv().s3.accessKeyId,
  AWS_SECRET_ACCESS_KEY: testEnv().s3.secretAccessKey,
});

describe('I7: gochive archive prints no secret when connections fail', () => {
  test('MongoDB refuses the credentials given with -user/-password', async () => {
    const pw = secret('flag');
    const mongo = new URL(testEnv().mongoUri);
    const run = await runUntilFailure(
      [...baseArgs(`mongodb://${mongo.host}/`, 'a'), '-user', `user-${tag}`, '-password', pw],
      s3Env(),
      /authentication|mechanism|SCRAM/i,
    );
    assertNoLeak(run, [pw], [`user-${tag}:${encodeURIComponent(pw)}`]);
    // The source is shown, with its userinfo redacted.
    expect(run.stderr + run.stdout).toContain(`mongodb://***@${mongo.host}`);
  }, 150_000);

  test('the password inside -host, MongoDB not listening', async () => {
    const pw = secret('uri');
    const userinfo = `uriuser-${tag}:${encodeURIComponent(pw)}`;
    const run = await runUntilFailure(
      [...baseArgs(`mongodb://${userinfo}@127.0.0.1:${await closedPort()}/`, 'b')],
      s3Env(),
      /ECONNREFUSED|connect/i,
    );
    assertNoLeak(run, [pw], [userinfo]);
  }, 150_000);

  test('the password in GOCHIVE_MONGODB_PASSWORD, MongoDB accepting and never answering', async () => {
    const pw = secret('env');
    const run = await runUntilFailure(
      [
        ...baseArgs(`mongodb://127.0.0.1:${hang.port}/?connectTimeoutMS=2000`, 'c'),
        '-user',
        `envuser-${tag}`,
      ],
      { ...s3Env(), GOCHIVE_MONGODB_PASSWORD: pw },
      /timed out|timeout|Server selection/i,
    );
    assertNoLeak(run, [pw], [`envuser-${tag}:${encodeURIComponent(pw)}`]);
  }, 150_000);

  test('S3 refuses the secret key (the MongoDB URI, with its password, works)', async () => {
    const mongoPw = secret('plain');
    const s3Secret = secret('s3key');
    const mongo = new URL(testEnv().mongoUri);
    // FerretDB 1.x accepts PLAIN with any credentials on its SQLite backend: this connects for real, with
    // the password in the URI. FerretDB 2 without authentication refuses every mechanism, so there the
    // URI that must connect carries none and the S3 secret key is what this run must not leak.
    const userinfo = `plain-${tag}:${encodeURIComponent(mongoPw)}`;
    const run = await runUntilFailure(
      baseArgs(
        mongoTakesCredentials()
          ? `mongodb://${userinfo}@${mongo.host}/?authMechanism=PLAIN`
          : `mongodb://${mongo.host}/`,
        'd',
      ),
      { AWS_ACCESS_KEY_ID: testEnv().s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3Secret },
      /upload failed|access denied|signature|credentials/i,
    );
    assertNoLeak(run, [mongoPw, s3Secret], [userinfo]);
    // Nothing was deleted: the upload never succeeded.
    expect(await st.db.collection('events').countDocuments()).toBe(20);
  }, 150_000);
});
