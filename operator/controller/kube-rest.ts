// A small JSON REST client for the Kubernetes API on top of the KubeConfig's TLS and auth settings.
// Why not the generated client: it cannot send merge patches to /status without middleware tricks,
// serialises MicroTime with milliseconds (events.k8s.io rejects that), and builds a fresh TLS agent per
// call. Here one keep-alive agent serves every request; auth headers are re-applied per request so
// rotated service-account tokens are picked up.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** An error answer from the API server, with its HTTP code and the Status reason. */
export class KubeApiError extends Error {
  constructor(
    public readonly statusCode: number,
    public readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.statusCode === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeApiError && e.statusCode === 409;
export const isForbidden = (e: unknown): boolean => e instanceof KubeApiError && e.statusCode === 403;

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

/** The subset of API calls the controller makes; an interface so unit tests can fake it. */
export interface KubeClient {
  request<T = unknown>(req: KubeRequest): Promise<T>;
}

export class KubeRest implements KubeClient {
  private readonly server: URL;
  private agent: http.Agent | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly defaultTimeoutMs = 30_000,
    /** Requests in flight at once; more wait in the agent's queue. */
    private readonly maxSockets = 16,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster: set --kubeconfig or run in a pod');
    this.server = new URL(cluster.server);
  }

  async request<T = unknown>(req: KubeRequest): Promise<T> {
    const opts: https.RequestOptions = { method: req.method, headers: {} };
    await this.kc.applyToHTTPSOptions(opts);
    const url = new URL(this.server.pathname.replace(/\/$/, '') + req.path, this.server);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const isHttps = url.protocol === 'https:';
    // applyToHTTPSOptions made a throw-away agent; keep one keep-alive agent with the same TLS material.
    this.agent ??= isHttps
      ? new https.Agent({
          keepAlive: true,
          maxSockets: this.maxSockets,
          ca: opts.ca,
          cert: opts.cert,
          key: opts.key,
          pfx: opts.pfx,
          passphrase: opts.passphrase,
          servername: opts.servername,
          ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
        })
      : new http.Agent({ keepAlive: true, maxSockets: this.maxSockets });
    const headers: Record<string, string> = { Accept: 'application/json' };
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = String(v);
    if (opts.auth) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    let payload: Buffer | undefined;
    if (req.body !== undefined) {
      payload = Buffer.from(JSON.stringify(req.body));
      headers['Content-Type'] = req.contentType ?? 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const mod = isHttps ? https : http;
    const timeoutMs = req.timeoutMs ?? this.defaultTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const r = mod.request(url, { method: req.method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) {
            try {
              resolve((text ? JSON.parse(text) : undefined) as T);
            } catch (e) {
              reject(new Error(`${req.method} ${req.path}: invalid JSON in answer: ${(e as Error).message}`));
            }
            return;
          }
          let reason = res.statusMessage ?? '';
          let message = text.slice(0, 500);
          try {
            const status = JSON.parse(text) as { reason?: string; message?: string };
            reason = status.reason ?? reason;
            message = status.message ?? message;
          } catch {
            /* not a Status object */
          }
          reject(new KubeApiError(code, reason, `${req.method} ${req.path}: ${code} ${reason}: ${message}`));
        });
      });
      r.setTimeout(timeoutMs, () =>
        r.destroy(new Error(`${req.method} ${req.path}: no answer within ${timeoutMs} ms`)),
      );
      r.on('error', reject);
      r.end(payload);
    });
  }

  close(): void {
    this.agent?.destroy();
  }
}

/** Builds the REST path of a (possibly namespaced) resource. */
export function resourcePath(opts: {
  group?: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}): string {
  const base = opts.group ? `/apis/${opts.group}/${opts.version}` : `/api/${opts.version}`;
  let p = base;
  if (opts.namespace) p += `/namespaces/${encodeURIComponent(opts.namespace)}`;
  p += `/${opts.plural}`;
  if (opts.name) p += `/${encodeURIComponent(opts.name)}`;
  if (opts.subresource) p += `/${opts.subresource}`;
  return p;
}
