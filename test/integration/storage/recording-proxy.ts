// An HTTP proxy in front of versitygw that records every request gochive sends (method, path, query,
// headers) and the bodies of listing answers, so tests can check what went on the wire. Unlike the TCP
// fault proxies beside it, it parses HTTP; requests are forwarded unchanged (Host included, so SigV4
// signatures still verify upstream) unless `rewrite` says otherwise.
import http from 'node:http';
import type net from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  status?: number;
  /** The answer's body, kept for ListObjectsV2 only (GET ?list-type=2). */
  listBody?: string;
}

export class RecordingProxy {
  readonly requests: RecordedRequest[] = [];
  /** Lets a test change a request's headers before forwarding (e.g. drop what the server refuses). */
  rewrite?: (headers: http.IncomingHttpHeaders, req: RecordedRequest) => http.IncomingHttpHeaders;
  private readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly agent = new http.Agent({ keepAlive: true });

  constructor(private readonly upstream: URL) {
    this.server = http.createServer((req, res) => this.forward(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** ListObjectsV2 requests recorded, and the keys their answers held. */
  listings(): { requests: RecordedRequest[]; keys: string[] } {
    const requests = this.requests.filter((r) => r.method === 'GET' && r.query.get('list-type') === '2');
    const keys = requests.flatMap((r) =>
      [...(r.listBody ?? '').matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => unescapeXml(m[1]!)),
    );
    return { requests, keys };
  }

  clear(): void {
    this.requests.length = 0;
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      query: url.searchParams,
      headers: { ...req.headers },
    };
    this.requests.push(rec);
    const headers = this.rewrite ? this.rewrite({ ...req.headers }, rec) : req.headers;
    const up = http.request(
      {
        host: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: req.url,
        headers,
        agent: this.agent,
      },
      (upRes) => {
        rec.status = upRes.statusCode;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (rec.method === 'GET' && rec.query.get('list-type') === '2') {
          const chunks: Buffer[] = [];
          upRes.on('data', (c: Buffer) => chunks.push(c));
          upRes.on('end', () => (rec.listBody = Buffer.concat(chunks).toString('utf8')));
        }
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.on('error', () => up.destroy());
    req.pipe(up);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}
