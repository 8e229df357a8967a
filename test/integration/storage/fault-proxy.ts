// A tiny TCP proxy in front of the S3 server that can answer 500s or stall, to test retries and timeouts.
import net from 'node:net';

export type ProxyMode = 'pass' | 'fail500' | 'stall';

export class FaultProxy {
  mode: ProxyMode = 'pass';
  /** When > 0, this many connections get the fault, then the proxy passes traffic again. */
  faultBudget = Infinity;
  connections = 0;
  faults = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly upstream: { host: string; port: number }) {
    this.server = net.createServer((client) => this.handle(client));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as net.AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  private handle(client: net.Socket): void {
    this.connections++;
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    const faulty = this.mode !== 'pass' && this.faultBudget > 0;
    if (faulty) {
      this.faultBudget--;
      this.faults++;
      if (this.mode === 'stall') {
        client.resume(); // read and drop everything, never answer
        return;
      }
      client.once('data', () => {
        client.end(
          'HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: 115\r\nConnection: close\r\n\r\n<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>       ',
        );
      });
      return;
    }
    const up = net.connect(this.upstream.port, this.upstream.host);
    this.sockets.add(up);
    up.on('close', () => this.sockets.delete(up));
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
    client.pipe(up);
    up.pipe(client);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
