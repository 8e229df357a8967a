import { validateSpec } from '../api/resolve.js';
import type { ArchivePolicySpec } from '../api/schema.js';
import { resolveConnection, secretRefsOf, type ConnectionSettings } from './connection.js';
import { minimalSpec } from './spec-fixture.js';

const spec = (over: Record<string, unknown>): ArchivePolicySpec => {
  const r = validateSpec({ ...minimalSpec, ...over });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
};
const settings: ConnectionSettings = {
  uriTemplate: 'mongodb://{username}:{password}@{host}:27017/',
  credentialsSecret: { namespace: 'ops', name: 'mongo' },
  usernameKey: 'username',
  passwordKey: 'password',
};

describe('resolveConnection', () => {
  it('renders hostAddress through the template with the credentials Secret', async () => {
    const secrets: Record<string, Record<string, string>> = {
      'ops/mongo': { username: 'arch', password: 'p@ss/w0rd' },
    };
    const c = await resolveConnection(
      spec({ hostAddress: 'incubator' }),
      'team',
      settings,
      async (ns, n) => secrets[`${ns}/${n}`],
    );
    if (!c.ok) throw new Error(c.message);
    expect(c.mongoUri).toBe('mongodb://arch:p%40ss%2Fw0rd@incubator:27017/');
    expect(c.secretValues).toEqual(expect.arrayContaining(['p@ss/w0rd', 'p%40ss%2Fw0rd']));
    expect(secretRefsOf(spec({ hostAddress: 'incubator' }), 'team', settings)).toEqual([
      { namespace: 'ops', name: 'mongo' },
    ]);
    // Rotating the password changes the fingerprint (that restarts the worker).
    secrets['ops/mongo'] = { username: 'arch', password: 'other' };
    const c2 = await resolveConnection(
      spec({ hostAddress: 'incubator' }),
      'team',
      settings,
      async (ns, n) => secrets[`${ns}/${n}`],
    );
    expect(c2.ok && c2.fingerprint).not.toBe(c.fingerprint);
  });

  it('reads a full URI from uriSecretRef in the policy namespace, and S3 keys when referenced', async () => {
    const data: Record<string, Record<string, string>> = {
      'team/uri': { uri: 'mongodb://u:secretpw@h:1/' },
      'team/s3': { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'shhh-very' },
    };
    const s = spec({
      uriSecretRef: { name: 'uri' },
      s3: { bucket: 'bucket/p/', uploadInterval: 2, credentialsSecretRef: { name: 's3' } },
    });
    expect(secretRefsOf(s, 'team', settings)).toEqual([
      { namespace: 'team', name: 'uri' },
      { namespace: 'team', name: 's3' },
    ]);
    const c = await resolveConnection(s, 'team', settings, async (ns, n) => data[`${ns}/${n}`]);
    if (!c.ok) throw new Error(c.message);
    expect(c.mongoUri).toBe('mongodb://u:secretpw@h:1/');
    expect(c.s3Credentials).toEqual({ accessKeyId: 'AKIA', secretAccessKey: 'shhh-very' });
    expect(c.secretValues).toEqual(expect.arrayContaining(['secretpw', 'shhh-very']));
  });

  it('explains what is missing, without secret values', async () => {
    const none = async () => undefined;
    const r1 = await resolveConnection(spec({ hostAddress: 'h' }), 'team', settings, none);
    expect(r1).toMatchObject({ ok: false, reason: 'SecretNotFound' });
    const r2 = await resolveConnection(
      spec({ hostAddress: 'h' }),
      'team',
      { ...settings, uriTemplate: undefined },
      none,
    );
    expect(r2).toMatchObject({ ok: false, reason: 'NoURITemplate' });
    expect(!r2.ok && r2.message).toContain('--mongodb-uri-template');
    const r3 = await resolveConnection(spec({ hostAddress: 'h' }), 'team', settings, async () => ({
      username: 'u',
    }));
    expect(r3).toMatchObject({ ok: false, reason: 'SecretKeyMissing' });
    expect(!r3.ok && r3.message).toContain("'password'");
    const r4 = await resolveConnection(
      spec({ uriSecretRef: { name: 'uri', key: 'k' } }),
      'team',
      settings,
      async () => ({ k: 'postgres://x' }),
    );
    expect(r4).toMatchObject({ ok: false, reason: 'InvalidURI' });
    expect(!r4.ok && r4.message).not.toContain('postgres://x');
    const r5 = await resolveConnection(
      spec({ hostAddress: 'h' }),
      'team',
      { ...settings, credentialsSecret: undefined },
      none,
    );
    expect(r5).toMatchObject({ ok: false, reason: 'NoCredentialsSecret' });
  });

  it('refuses a URI the driver cannot parse (Blocked, not a worker failing forever), naming its source', async () => {
    const bad = await resolveConnection(
      spec({ uriSecretRef: { name: 'uri', key: 'k' } }),
      'team',
      settings,
      async () => ({ k: 'mongodb://admin:s3cr3t@db:notaport/' }),
    );
    expect(bad).toMatchObject({ ok: false, reason: 'InvalidURI' });
    expect(!bad.ok && bad.message).toContain("key 'k' in Secret team/uri");
    expect(!bad.ok && bad.message).not.toContain('s3cr3t');
    // A password with an unencoded '@', and an option the driver does not know.
    for (const uri of ['mongodb://admin:p@ss@db/', 'mongodb://db:27017/?retryWritez=true']) {
      const r = await resolveConnection(
        spec({ uriSecretRef: { name: 'uri', key: 'k' } }),
        'team',
        settings,
        async () => ({ k: uri }),
      );
      expect(r).toMatchObject({ ok: false, reason: 'InvalidURI' });
      expect(!r.ok && r.message).not.toContain('p@ss');
    }
  });

  it('needs no Secret when the template has no credentials', async () => {
    const c = await resolveConnection(
      spec({ hostAddress: '127.0.0.1' }),
      'team',
      { ...settings, uriTemplate: 'mongodb://{host}:27017/' },
      async () => {
        throw new Error('must not read');
      },
    );
    expect(c.ok && c.mongoUri).toBe('mongodb://127.0.0.1:27017/');
  });
});
