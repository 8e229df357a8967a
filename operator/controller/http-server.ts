// /metrics, /healthz and /readyz on one small HTTP server (node:http; nothing else is served).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthSources {
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Liveness: the process and its event loop work; false only when something is wedged. */
  healthy(): { ok: boolean; detail: string };
  /** Readiness: caches synced and not shutting down. */
  ready(): { ok: boolean; detail: string };
}

/** Parses `host:port` (`:8080` = all interfaces; `0` disables). */
export function parseBindAddress(value: string): { host: string; port: number } | undefined {
  if (value === '0') return undefined;
  const m = /^(\[[^\]]+\]|[^:]*):(\d+)$/.exec(value);
  if (!m)
    throw new Error(
      `--metrics-bind-address must be host:port (e.g. 127.0.0.1:8080, :8080) or 0 to disable, got '${value}'`,
    );
  const host = m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0';
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`--metrics-bind-address port must be <= 65535, got ${port}`);
  return { host, port };
}

export class HealthServer {
  private server: http.Server | undefined;

  constructor(private readonly sources: HealthSources) {}

  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      if (path === '/metrics') {
        const m = await this.sources.metrics();
        res.writeHead(200, { 'Content-Type': m.contentType }).end(m.body);
      } else if (path === '/healthz' || path === '/livez') {
        const h = this.sources.healthy();
        res
          .writeHead(h.ok ? 200 : 503, { 'Content-Type': 'text/plain' })
          .end(`${h.ok ? 'ok' : 'unhealthy'}: ${h.detail}\n`);
      } else if (path === '/readyz') {
        const r = this.sources.ready();
        res
          .writeHead(r.ok ? 200 : 503, { 'Content-Type': 'text/plain' })
          .end(`${r.ok ? 'ok' : 'not ready'}: ${r.detail}\n`);
      } else {
        res
          .writeHead(404, { 'Content-Type': 'text/plain' })
          .end('not found: try /metrics, /healthz or /readyz\n');
      }
    } catch (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`error: ${(err as Error).message}\n`);
    }
  }
}
