// The record of a running environment (.testenv/state.json): which pids we started, from which binary,
// where their data and logs are. Written after every spawn, so a crashed `up` can still be cleaned up.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { leasesDir, stateDir, stateFilePath } from './paths.js';
import { isAlive } from './procs.js';
import type { MongoServer } from './mongo-choice.js';
import type { S3Access } from './probes.js';

export type ServerName = 'etcd' | 'kube-apiserver' | 'ferretdb' | 'ferretdb2' | 'postgres' | 'versitygw';

export interface ServerRecord {
  name: ServerName;
  pid: number;
  binary: string;
  port: number;
  logFile: string;
  /** The signal that stops it cleanly (PostgreSQL: SIGINT, its fast shutdown); SIGTERM when absent. */
  stopSignal?: NodeJS.Signals;
}

export interface Endpoints {
  etcd: string;
  apiserver: string;
  mongoUri: string;
  s3: S3Access;
  /** Admin client TLS files for the apiserver. */
  tls: { ca: string; cert: string; key: string };
}

export interface State {
  version: 1;
  createdAt: string;
  /** Who started it: a human/CI via the CLI (never stopped by jest), or a jest run (stopped by the last one). */
  owner: { kind: 'cli' | 'jest'; pid: number };
  dataDir: string;
  /** The MongoDB-compatible server (test/env/mongo-choice.ts); absent in states written before it existed. */
  mongo?: MongoServer;
  servers: ServerRecord[];
  endpoints: Endpoints;
  /** False until every server answered its readiness probe. */
  ready: boolean;
}

export function readState(): State | undefined {
  if (!existsSync(stateFilePath)) return undefined;
  try {
    const s = JSON.parse(readFileSync(stateFilePath, 'utf8')) as State;
    return s.version === 1 && Array.isArray(s.servers) ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Atomic write (tmp + rename) so a concurrent reader never sees half a file. */
export function writeAtomic(file: string, content: string, mode = 0o600): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, file);
}

export function writeState(s: State): void {
  writeAtomic(stateFilePath, JSON.stringify(s, null, 2) + '\n');
}

export function removeState(): void {
  rmSync(stateFilePath, { force: true });
}

export function ensureStateDir(): void {
  mkdirSync(stateDir, { recursive: true });
}

// Leases: one empty file per jest process using the environment, named by its pid.
export function addLease(pid: number): void {
  mkdirSync(leasesDir, { recursive: true });
  writeFileSync(path.join(leasesDir, String(pid)), '');
}

export function dropLease(pid: number): void {
  rmSync(path.join(leasesDir, String(pid)), { force: true });
}

export function liveLeases(): number[] {
  if (!existsSync(leasesDir)) return [];
  return readdirSync(leasesDir)
    .map((n) => Number.parseInt(n, 10))
    .filter((pid) => Number.isFinite(pid) && isAlive(pid));
}

export function clearLeases(): void {
  rmSync(leasesDir, { recursive: true, force: true });
}
