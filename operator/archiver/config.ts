// The archiver engine's input: one policy, fully resolved (durations in ms, bucket URI parsed,
// defaults applied). Produced from a validated ArchivePolicy spec by operator/api/resolve.ts, which is
// used by both the operator and the `gochive archive` CLI so every entry point validates the same way.
import type { Document } from 'mongodb';

/** How the archive field stores time. `objectId` means `_id` (an ObjectId) carries the age. */
export type ArchiveFieldFormat = 'date' | 'epochSeconds' | 'epochMillis' | 'epochNanos' | 'objectId';

export type ServerSideEncryption = { type: 'AES256' } | { type: 'aws:kms'; kmsKeyId?: string };

export interface S3DestinationConfig {
  kind: 's3';
  bucket: string;
  /** '' or ends with '/'. */
  prefix: string;
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  storageClass?: string;
  sse?: ServerSideEncryption;
  /** Explicit keys; when absent the default AWS credential chain (env, IRSA, profile…) is used. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export interface FileDestinationConfig {
  kind: 'file';
  /** Absolute directory; objects are files below it, keys are relative paths. */
  root: string;
  /** '' or ends with '/'. */
  prefix: string;
}

export type DestinationConfig = S3DestinationConfig | FileDestinationConfig;

export interface ArchiveWindow {
  /** 0 = Sunday … 6 = Saturday; empty/absent = every day. */
  days?: number[];
  /** 'HH:MM' 24h, in `timeZone`. end < start wraps past midnight. */
  start: string;
  end: string;
  /** IANA zone, default 'UTC'. */
  timeZone?: string;
}

/** Back-off on database pressure (throttle.ts); at least one limit is set. */
export interface ThrottleConfig {
  maxReplicationLagMs?: number;
  maxQueryLatencyMs?: number;
  checkIntervalMs: number;
}

export interface PolicyConfig {
  name: string;
  namespace: string;
  database: string;
  collection: string;
  archiveField: string;
  archiveFieldFormat: ArchiveFieldFormat;
  ageLimitMs: number;
  /** Documents per fetch (batch size). */
  queryLimit: number;
  archiveCheckIntervalMs: number;
  uploadIntervalMs: number;
  /** Extra MongoDB query ANDed with the age condition. */
  filter?: Document;
  maxDocumentsPerSecond?: number;
  windows?: ArchiveWindow[];
  throttle?: ThrottleConfig;
  /** Seal a bundle early when it reaches either limit. */
  bundleMaxDocuments?: number;
  bundleMaxBytes?: number;
  /** Cap on spool disk use for this policy; fetching pauses at the cap. */
  spoolMaxBytes: number;
  compression: { codec: 'gzip' | 'none'; level: number };
  /** Archive and upload, never delete. */
  dryRun: boolean;
  suspend: boolean;
  allowCollectionScan: boolean;
  /** Fields compared at delete time; a document whose values changed since fetch is skipped. */
  changeGuardFields?: string[];
  destination: DestinationConfig;
  /** Bundles whose newest document is older than this are removed from the destination (expire.ts). */
  expireAfterMs?: number;
}
