import { Socket, createServer } from 'node:net';
import type { Server } from 'node:net';
import { freePort } from './ports';

/** What went through the proxy so far: a test's proof that traffic flowed, was cut, or was dropped. */
export interface ProxyStats {
  /** Connections accepted since the proxy started. */
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Connections torn down by cut(). */
  cut: number;
  /** Bytes forwarded client → server, and server → client. */
  bytesUp: number;
  bytesDown: number;
  /** Server → client bytes thrown away while replies were being dropped. */
  droppedDown: number;
}

interface Link {
  client: Socket;
  server: Socket;
}

/**
 * A TCP proxy on 127.0.0.1 in front of one address, for real network faults:
 * `cut()` tears down every connection (both sides, as a broken link does) and
 * refuses new ones until `restore()` listens again on the same port;
 * `dropReplies()` keeps forwarding requests but throws the server's bytes away,
 * so a call is applied and its answer is lost. Byte and connection counters
 * let a test prove the fault happened rather than assume it.
 */
export class TcpProxy {
  private server?: Server;
  private readonly links = new Set<Link>();
  private dropping = false;
  private readonly counters: ProxyStats = { accepted: 0, open: 0, cut: 0, bytesUp: 0, bytesDown: 0, droppedDown: 0 };

  private constructor(
    readonly port: number,
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** A proxy listening on a free port, forwarding to `target` ("host:port"). */
  static async start(target: string): Promise<TcpProxy> {
    const separator = target.lastIndexOf(':');
    const proxy = new TcpProxy(await freePort(), target.slice(0, separator), Number(target.slice(separator + 1)));
    await proxy.listen();
    return proxy;
  }

  /** host:port to give a client instead of the target's. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  stats(): ProxyStats {
    return { ...this.counters, open: this.links.size };
  }

  /** The link breaks: every connection is destroyed on both sides and new ones are refused. */
  cut(): void {
    this.stopListening();
    for (const link of [...this.links]) {
      this.counters.cut++;
      this.unlink(link);
    }
  }

  /** The link is back: connections are accepted again on the same port, and replies flow. */
  async restore(): Promise<void> {
    this.dropping = false;
    if (!this.server) await this.listen();
  }

  /**
   * From now on the server's bytes on every connection are counted and thrown
   * away (requests still get through). HTTP/2 cannot resume after lost frames,
   * so end it with cut(), then restore().
   */
  dropReplies(): void {
    this.dropping = true;
  }

  /** Stops the proxy for good (the harness does it at the end). */
  close(): void {
    this.stopListening();
    for (const link of [...this.links]) this.unlink(link);
  }

  private unlink(link: Link): void {
    this.links.delete(link);
    link.client.destroy();
    link.server.destroy();
  }

  private listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        this.server = server;
        resolve();
      });
    });
  }

  private stopListening(): void {
    const server = this.server;
    this.server = undefined;
    // close() stops accepting at once (the port refuses connections); its callback would wait for
    // the open connections, which the caller destroys.
    server?.close();
  }

  private accept(client: Socket): void {
    this.counters.accepted++;
    const server = new Socket();
    const link: Link = { client, server };
    this.links.add(link);
    const end = () => this.unlink(link);
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
    client.setNoDelay(true);
    server.setNoDelay(true);
    client.on('data', (chunk: Buffer) => {
      this.counters.bytesUp += chunk.length;
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (this.dropping) {
        this.counters.droppedDown += chunk.length;
        return;
      }
      this.counters.bytesDown += chunk.length;
      client.write(chunk);
    });
    server.connect(this.targetPort, this.targetHost);
  }
}
