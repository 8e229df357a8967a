// A TCP proxy in front of the API server that holds every chunk going to the server for `delayMs`
// before passing it on (answers and watch events come back at once): each request costs the delay, as
// on a slow or overloaded API server. TLS passes through untouched; the operator's kubeconfig points at
// the proxy instead of the server (same address, so the server certificate still matches).
import net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { writeKubeconfig } from './harness.js';

export class DelayProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** Chunks passed on to the server (each held for the delay). */
  delayedChunks = 0;

  constructor(
    private readonly upstream: { host: string; port: number },
    public delayMs: number,
  ) {
    this.server = net.createServer((c) => this.accept(c));
  }

  /** A proxy for the API server of `kubeconfig`, and a kubeconfig file that goes through it. */
  static async forKubeconfig(
    kubeconfig: string,
    delayMs: number,
  ): Promise<{ proxy: DelayProxy; kubeconfig: string }> {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`${kubeconfig} has no current cluster`);
    const url = new URL(cluster.server);
    const proxy = new DelayProxy({ host: url.hostname, port: Number(url.port || 443) }, delayMs);
    const port = await proxy.start();
    const viaProxy = new KubeConfig();
    viaProxy.loadFromOptions({
      clusters: kc.clusters.map((c) =>
        c.name === cluster.name ? { ...c, server: `${url.protocol}//${url.hostname}:${port}` } : c,
      ),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    return { proxy, kubeconfig: writeKubeconfig(viaProxy) };
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
  }

  private accept(client: net.Socket): void {
    const up = net.connect(this.upstream.port, this.upstream.host);
    this.track(client);
    this.track(up);
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    // Chunks leave in order: each no earlier than the one before it.
    let lastDue = 0;
    client.on('data', (chunk: Buffer) => {
      const due = Math.max(Date.now() + this.delayMs, lastDue);
      lastDue = due;
      setTimeout(() => {
        this.delayedChunks++;
        if (!up.destroyed) up.write(chunk);
      }, due - Date.now());
    });
    client.on('end', () => setTimeout(() => up.end(), Math.max(0, lastDue - Date.now())));
    up.pipe(client);
  }
}
