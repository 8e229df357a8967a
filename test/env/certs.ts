// The control plane's PKI, as envtest makes it: a throwaway CA, a serving cert for 127.0.0.1/localhost,
// an admin client cert in system:masters, and the service-account token signing key pair.
// node:crypto cannot issue X.509 certificates, so the certs come from the openssl CLI.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  saPub: string;
  saKey: string;
}

function openssl(args: string[], cwd: string): void {
  const res = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (res.error) {
    throw new Error(
      `the openssl CLI is needed to make the test cluster's certificates: ${res.error.message} (install openssl)`,
    );
  }
  if (res.status !== 0) throw new Error(`openssl ${args[0]} failed: ${res.stderr.trim()}`);
}

/** A key + certificate signed by the CA (OpenSSL >= 3.0: `req -x509 -CA`). */
function issue(dir: string, name: string, subj: string, exts: string[]): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '30',
      '-subj',
      subj,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      ...exts.flatMap((e) => ['-addext', e]),
    ],
    dir,
  );
}

/** Where makePki(dir) puts each file (known before they exist, so the run can be recorded first). */
export function pkiPaths(dir: string): Pki {
  const f = (n: string): string => path.join(dir, n);
  return {
    caCert: f('ca.crt'),
    caKey: f('ca.key'),
    servingCert: f('serving.crt'),
    servingKey: f('serving.key'),
    adminCert: f('admin.crt'),
    adminKey: f('admin.key'),
    saPub: f('sa.pub'),
    saKey: f('sa.key'),
  };
}

export function makePki(dir: string): Pki {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '30',
      '-subj',
      '/CN=gochive-testenv-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  issue(dir, 'serving', '/CN=kube-apiserver', [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  // O=system:masters: the group RBAC always allows, like envtest's admin user.
  issue(dir, 'admin', '/O=system:masters/CN=gochive-testenv-admin', [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
  ]);
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(path.join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
    mode: 0o600,
  });
  writeFileSync(path.join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  return pkiPaths(dir);
}

export function readPem(file: string): string {
  return readFileSync(file, 'utf8');
}
