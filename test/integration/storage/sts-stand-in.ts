// A stand-in for AWS STS, for the web-identity test only: a node:http server that answers
// AssumeRoleWithWebIdentity with fixed credentials and records each call (its form parameters). It checks
// nothing — not the token's signature, not the role — it only shows that the SDK went this way.
import http from 'node:http';
import type net from 'node:net';

export interface StsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

export class StsStandIn {
  readonly calls: URLSearchParams[] = [];
  private readonly server: http.Server;

  constructor(private readonly creds: StsCredentials) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        this.calls.push(params);
        if (params.get('Action') !== 'AssumeRoleWithWebIdentity') {
          res.writeHead(400, { 'content-type': 'text/xml' });
          res.end('<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>');
          return;
        }
        const expires = new Date(Date.now() + 3_600_000).toISOString();
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">` +
            `<AssumeRoleWithWebIdentityResult><Credentials>` +
            `<AccessKeyId>${this.creds.accessKeyId}</AccessKeyId>` +
            `<SecretAccessKey>${this.creds.secretAccessKey}</SecretAccessKey>` +
            `<SessionToken>${this.creds.sessionToken}</SessionToken>` +
            `<Expiration>${expires}</Expiration></Credentials>` +
            `<AssumedRoleUser><Arn>${params.get('RoleArn') ?? ''}/${params.get('RoleSessionName') ?? ''}</Arn>` +
            `<AssumedRoleId>AROA0000000000:${params.get('RoleSessionName') ?? ''}</AssumedRoleId></AssumedRoleUser>` +
            `</AssumeRoleWithWebIdentityResult>` +
            `<ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata>` +
            `</AssumeRoleWithWebIdentityResponse>`,
        );
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
