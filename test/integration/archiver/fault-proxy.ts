// A small fault-injecting TCP proxy for the archiver tests: sits in front of versitygw and, per mode,
// passes traffic, refuses service (connection reset: "S3 down"), answers every request with a 500, or
// accepts requests and never answers (a stall). Switching mode drops open connections so pooled
// keep-alive sockets feel the fault at once.
import net from 'node:net';

export type FaultMode = 'pass' | 'down' | 'fail500' | 'stall';

export class ArchiverFaultProxy {
  private mode: FaultMode = 'pass';
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  readonly faults: Record<FaultMode, number> = { pass: 0, down: 0, fail500: 0, stall: 0 };

  constructor(private readonly upstream: URL) {
    this.server = net.createServer((c) => this.accept(c));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  setMode(mode: FaultMode): void {
    this.mode = mode;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
  }

  private accept(client: net.Socket): void {
    this.track(client);
    const mode = this.mode;
    this.faults[mode]++;
    switch (mode) {
      case 'down':
        client.resetAndDestroy();
        return;
      case 'stall':
        client.resume(); // swallow the request, never answer
        return;
      case 'fail500':
        client.on('data', () => {
          const body =
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>';
          client.end(
            `HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          );
        });
        return;
      case 'pass': {
        const up = net.connect(Number(this.upstream.port), this.upstream.hostname);
        this.track(up);
        up.on('error', () => client.destroy());
        client.on('error', () => up.destroy());
        client.on('close', () => up.destroy());
        up.on('close', () => client.destroy());
        client.pipe(up);
        up.pipe(client);
      }
    }
  }

  async stop(): Promise<void> {
    this.setMode('pass');
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
