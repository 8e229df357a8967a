// How each server is started: binary, flags, data directory and readiness probe. Everything binds
// 127.0.0.1 only.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Pki } from './certs.js';
import { apiserverProbe, etcdProbe, mongoProbe, s3Probe, type Probe } from './probes.js';
import { pgBinDir, pgUser, postgresArgs, postgresProbe, postgresUrl, type PgCluster } from './postgres.js';
import type { Endpoints, ServerName } from './state.js';
import { binaryPath, tools } from './tools.js';

export interface ServerSpec {
  name: ServerName;
  binary: string;
  args: string[];
  /** Secrets go through the environment, not argv (argv is world-readable in /proc). */
  env: Record<string, string>;
  port: number;
  probe: Probe;
  /** How long it may take to answer its probe (the apiserver is slow on a busy 2-core machine). */
  readyTimeoutMs: number;
  /** Run as this user (PostgreSQL, which refuses root). */
  user?: { uid: number; gid: number };
  stopSignal?: NodeJS.Signals;
}

export interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  mongo: number;
  s3: number;
  /** PostgreSQL, when FerretDB 2 is the MongoDB server. */
  postgres?: number;
}

export function endpointsFor(
  ports: Ports,
  pki: Pki,
  s3Keys: { accessKeyId: string; secretAccessKey: string },
): Endpoints {
  return {
    etcd: `http://127.0.0.1:${ports.etcdClient}`,
    apiserver: `https://127.0.0.1:${ports.apiserver}`,
    mongoUri: `mongodb://127.0.0.1:${ports.mongo}/`,
    s3: { endpoint: `http://127.0.0.1:${ports.s3}`, region: 'us-east-1', ...s3Keys },
    tls: { ca: pki.caCert, cert: pki.adminCert, key: pki.adminKey },
  };
}

export function etcdSpec(dataDir: string, ports: Ports, ep: Endpoints): ServerSpec {
  const peer = `http://127.0.0.1:${ports.etcdPeer}`;
  return {
    name: 'etcd',
    binary: binaryPath(tools.etcd, 'etcd'),
    args: [
      '--name=testenv',
      `--data-dir=${path.join(dataDir, 'etcd')}`,
      `--listen-client-urls=${ep.etcd}`,
      `--advertise-client-urls=${ep.etcd}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=testenv=${peer}`,
      // Test data is thrown away: skip fsync, like envtest does.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
    env: {},
    port: ports.etcdClient,
    probe: etcdProbe(ep.etcd),
    readyTimeoutMs: 60_000,
  };
}

export function apiserverSpec(dataDir: string, ports: Ports, pki: Pki, ep: Endpoints): ServerSpec {
  const certDir = path.join(dataDir, 'apiserver');
  mkdirSync(certDir, { recursive: true });
  return {
    name: 'kube-apiserver',
    binary: binaryPath(tools.kubernetes, 'kube-apiserver'),
    args: [
      `--etcd-servers=${ep.etcd}`,
      `--secure-port=${ports.apiserver}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--cert-dir=${certDir}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--authorization-mode=RBAC',
      // No controller-manager runs to mint token secrets, so pods must not need one (as in envtest).
      '--disable-admission-plugins=ServiceAccount',
      `--service-account-issuer=${ep.apiserver}`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
    ],
    env: {},
    port: ports.apiserver,
    probe: apiserverProbe(ep.apiserver, ep.tls),
    readyTimeoutMs: 300_000,
  };
}

export function ferretdbSpec(dataDir: string, ports: Ports, ep: Endpoints): ServerSpec {
  const dir = path.join(dataDir, 'ferretdb');
  mkdirSync(dir, { recursive: true });
  return {
    name: 'ferretdb',
    binary: binaryPath(tools.ferretdb, 'ferretdb'),
    // Our wrapper (test/env/tools/ferretdb) embeds FerretDB's library, which sends no telemetry.
    args: [`-listen-addr=127.0.0.1:${ports.mongo}`, `-sqlite-url=file:${dir}/`, '-log-level=warn'],
    env: {},
    port: ports.mongo,
    probe: mongoProbe(ep.mongoUri),
    readyTimeoutMs: 60_000,
  };
}

export function postgresSpec(cluster: PgCluster): ServerSpec {
  return {
    name: 'postgres',
    binary: path.join(pgBinDir(), 'postgres'),
    args: postgresArgs(cluster),
    env: {},
    port: cluster.port,
    probe: postgresProbe(cluster.port),
    readyTimeoutMs: 120_000,
    user: pgUser(),
    // SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for FerretDB's pooled connections to close.
    stopSignal: 'SIGINT',
  };
}

export function ferretdb2Spec(dataDir: string, ports: Ports, ep: Endpoints, cluster: PgCluster): ServerSpec {
  return {
    name: 'ferretdb2',
    binary: binaryPath(tools.ferretdb2, 'ferretdb'),
    args: [
      `-listen-addr=127.0.0.1:${ports.mongo}`,
      `-state-dir=${path.join(dataDir, 'ferretdb2')}`,
      '-log-level=warn',
    ],
    // The URL carries PostgreSQL's password: environment, not argv.
    env: { FERRETDB_POSTGRESQL_URL: postgresUrl(cluster), DO_NOT_TRACK: '1' },
    port: ports.mongo,
    probe: mongoProbe(ep.mongoUri),
    readyTimeoutMs: 60_000,
  };
}

export function versitygwSpec(dataDir: string, ports: Ports, ep: Endpoints): ServerSpec {
  const root = path.join(dataDir, 'buckets');
  const sidecar = path.join(dataDir, 'sidecar'); // not under root, not a string prefix of it
  mkdirSync(root, { recursive: true });
  mkdirSync(sidecar, { recursive: true });
  return {
    name: 'versitygw',
    binary: binaryPath(tools.versitygw, 'versitygw'),
    // --sidecar keeps object metadata (x-amz-meta-*, checksums, ETags) in plain files, so it works on
    // filesystems without user xattrs (tmpfs, overlayfs).
    args: [
      `--port=127.0.0.1:${ports.s3}`,
      `--region=${ep.s3.region}`,
      '--quiet',
      'posix',
      `--sidecar=${sidecar}`,
      root,
    ],
    env: { ROOT_ACCESS_KEY_ID: ep.s3.accessKeyId, ROOT_SECRET_ACCESS_KEY: ep.s3.secretAccessKey },
    port: ports.s3,
    probe: s3Probe(ep.s3),
    readyTimeoutMs: 60_000,
  };
}
