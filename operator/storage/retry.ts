// Retries with exponential back-off and full jitter, for transient storage failures (5xx, throttling,
// timeouts, dropped connections). Non-transient errors (404, 403, 412…) are thrown at once.
import { retry } from '../util/retry.js';

export interface RetryOptions {
  /** Total attempts including the first (default 5). */
  attempts?: number;
  /** First back-off ceiling in ms (default 200). */
  baseDelayMs?: number;
  /** Largest back-off ceiling in ms (default 10 000). */
  maxDelayMs?: number;
  /** Called before each wait, e.g. to log. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

const TRANSIENT_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'ServiceUnavailable',
  'InternalError',
  'ConditionalRequestConflict',
  'OperationAborted',
  'NetworkingError',
]);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

type AwsLikeError = {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  cause?: unknown;
};

export function httpStatus(err: unknown): number | undefined {
  return (err as AwsLikeError | undefined)?.$metadata?.httpStatusCode;
}

/** True for failures worth retrying: server errors, throttling, timeouts, connection trouble. */
export function isTransient(err: unknown): boolean {
  const e = err as AwsLikeError | undefined;
  if (!e || typeof e !== 'object') return false;
  const status = httpStatus(err);
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  if (status === 409 && e.name === 'ConditionalRequestConflict') return true;
  if (e.$retryable) return true;
  if (e.name && TRANSIENT_NAMES.has(e.name)) return true;
  if (e.code && TRANSIENT_CODES.has(e.code)) return true;
  if (/socket hang up|ECONNRESET|premature close|timed out|aborted/i.test(String((e as Error).message)))
    return status === undefined;
  return e.cause !== undefined && e.cause !== err ? isTransient(e.cause) : false;
}

/** Retries a storage operation on transient failures (full jitter: many clients spread out at once). */
export function withRetry<T>(op: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  return retry(op, {
    attempts: opts.attempts ?? 5,
    backoff: { baseMs: opts.baseDelayMs ?? 200, maxMs: opts.maxDelayMs ?? 10_000, fullJitter: true },
    retryable: isTransient,
    onRetry: opts.onRetry,
    signal: opts.signal,
  });
}
