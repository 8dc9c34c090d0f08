// A TCP proxy on loopback that a test can cut: every open connection dropped
// at once, and new ones refused until it is let through again. TLS passes
// through untouched. It makes a network blip between the operator and a real
// API server, which the API server itself will not do on demand.
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #blocked = false;
  port = 0;

  private constructor(targetPort: number) {
    this.#server = createServer((client) => {
      if (this.#blocked) {
        client.destroy();
        return;
      }
      const upstream = connect(targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    const address = proxy.#server.address();
    proxy.port = typeof address === 'object' && address !== null ? address.port : 0;
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Drops every open connection and refuses new ones until letThrough(). */
  cut(): void {
    this.#blocked = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  letThrough(): void {
    this.#blocked = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
