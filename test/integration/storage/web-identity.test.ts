// Web identity (IRSA) credentials: `gochive archive` run with AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
// and no keys takes the SDK's web-identity path. AWS_ENDPOINT_URL_STS points the SDK at a local stand-in
// STS (sts-stand-in.ts — a stand-in, not AWS: it checks no token) that answers AssumeRoleWithWebIdentity
// with versitygw's keys and a session token; a recording proxy shows the S3 requests signed with them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { testEnv } from '../../support/testenv.js';
import { runCli } from '../archiver/cli.js';
import { DAY, insertAll, listKeys, sandbox, type Sandbox } from '../archiver/helpers.js';
import { RecordingProxy } from './recording-proxy.js';
import { StsStandIn } from './sts-stand-in.js';

const ROLE = 'arn:aws:iam::111122223333:role/gochive-archiver';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.stand-in-service-account-token.sig';
const SESSION_TOKEN = 'stand-in-session-token-0123456789';

describe('web identity credentials', () => {
  let sb: Sandbox;
  let dir: string;

  beforeAll(async () => {
    sb = await sandbox('web_ident');
    dir = mkdtempSync(path.join(tmpdir(), 'gochive-webid-'));
  });
  afterAll(async () => {
    await sb?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('gochive archive assumes the role with the token file and signs S3 requests with what STS returned', async () => {
    const env = testEnv();
    const sts = new StsStandIn({
      accessKeyId: env.s3.accessKeyId,
      secretAccessKey: env.s3.secretAccessKey,
      sessionToken: SESSION_TOKEN,
    });
    const proxy = new RecordingProxy(new URL(env.s3.endpoint));
    const stsUrl = await sts.start();
    const s3Url = await proxy.start();
    try {
      const tokenFile = path.join(dir, 'token');
      writeFileSync(tokenFile, TOKEN);
      await insertAll(
        sb.db,
        'events',
        Array.from({ length: 5 }, (_, i) => ({ _id: i, createdAt: new Date(Date.now() - 200 * DAY) })),
      );
      await sb.db.collection('events').createIndex({ createdAt: 1 });
      const r = await runCli(
        [
          'archive',
          '-host',
          env.mongoUri,
          '-database',
          sb.dbName,
          '-collection',
          'events',
          '-age-limit',
          '92d',
          '-archive-field',
          'createdAt',
          '-archive-check-interval',
          '1',
          '-s3-upload-interval',
          '2',
          '-s3-bucket-uri',
          `${sb.bucket}/webid/`,
          '-spool-dir',
          path.join(dir, 'spool'),
          '-log-level',
          'warn',
          '--once',
        ],
        {
          // No AWS_ACCESS_KEY_ID/SECRET: the only credentials are the role and its token.
          PATH: process.env.PATH,
          HOME: dir,
          AWS_REGION: env.s3.region,
          AWS_ENDPOINT_URL_S3: s3Url,
          AWS_ENDPOINT_URL_STS: stsUrl,
          AWS_ROLE_ARN: ROLE,
          AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
          AWS_ROLE_SESSION_NAME: 'gochive-test',
        },
        240_000,
      );
      if (r.code !== 0) throw new Error(`gochive archive exited ${r.code}: ${r.stderr}`);

      expect(sts.calls.length).toBeGreaterThanOrEqual(1);
      expect({
        action: sts.calls[0]!.get('Action'),
        role: sts.calls[0]!.get('RoleArn'),
        token: sts.calls[0]!.get('WebIdentityToken'),
      }).toEqual({ action: 'AssumeRoleWithWebIdentity', role: ROLE, token: TOKEN });
      const signed = proxy.requests.filter((q) => q.headers.authorization);
      expect(signed.length).toBeGreaterThan(0);
      for (const q of signed) {
        expect(q.headers.authorization).toContain(`Credential=${env.s3.accessKeyId}/`);
        expect(q.headers['x-amz-security-token']).toBe(SESSION_TOKEN);
      }
      expect(await listKeys(sb.s3, sb.bucket, 'webid/')).toHaveLength(1);
      expect(await sb.db.collection('events').countDocuments()).toBe(0);
    } finally {
      await proxy.stop();
      await sts.stop();
    }
  });
});
