import { BaseRpcContext, ClientProxy, Server } from '@nestjs/microservices';
import type { CustomTransportStrategy, MessageHandler, ReadPacket, WritePacket } from '@nestjs/microservices';
import { Observable } from 'rxjs';
import type { Subscription } from 'rxjs';

/** NATS subject matching: `*` is one token, `>` the rest. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** Messages cross the bus as JSON, as they would over NATS, so nothing shares references. */
const copy = <T>(value: T): T => (value === undefined ? value : JSON.parse(JSON.stringify(value)));

/**
 * The in-process stand-in for NATS used by the all-in-one launcher when no
 * NATS_URL is set: the same message patterns, request/reply served by one
 * server (round robin), events delivered to every server with a match.
 */
export class InProcessBus {
  private readonly servers = new Set<InProcessServer>();
  private turn = 0;

  attach(server: InProcessServer): void {
    this.servers.add(server);
  }

  detach(server: InProcessServer): void {
    this.servers.delete(server);
  }

  request(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    const candidates = [...this.servers].filter((s) => s.requestHandler(packet.pattern));
    if (candidates.length === 0) {
      callback({ err: `No handler for "${packet.pattern}" on the in-process bus`, isDisposed: true });
      return () => undefined;
    }
    const server = candidates[this.turn++ % candidates.length]!;
    return server.serveRequest(packet.pattern, copy(packet.data), callback);
  }

  async publish(packet: ReadPacket): Promise<void> {
    await Promise.all([...this.servers].map((s) => s.deliverEvent(packet.pattern, copy(packet.data))));
  }
}

export class InProcessServer extends Server implements CustomTransportStrategy {
  constructor(
    private readonly bus: InProcessBus,
    private readonly subjectPrefix: string,
  ) {
    super();
  }

  override addHandler(
    pattern: unknown,
    callback: MessageHandler,
    isEventHandler = false,
    extras: Record<string, unknown> = {},
  ) {
    super.addHandler(`${this.subjectPrefix}.${pattern}`, callback, isEventHandler, extras);
  }

  listen(callback: (...optionalParams: unknown[]) => unknown): void {
    this.bus.attach(this);
    callback();
  }

  close(): void {
    this.bus.detach(this);
  }

  on(): void {}

  unwrap<T>(): T {
    return this.bus as T;
  }

  requestHandler(subject: string): MessageHandler | undefined {
    for (const [pattern, handler] of this.messageHandlers) {
      if (!handler.isEventHandler && subjectMatches(pattern, subject)) return handler;
    }
    return undefined;
  }

  serveRequest(subject: string, data: unknown, callback: (packet: WritePacket) => void): () => void {
    const handler = this.requestHandler(subject)!;
    let subscription: Subscription | undefined;
    let cancelled = false;
    void (async () => {
      try {
        const result$ = this.transformToObservable(await handler(data, new BaseRpcContext([subject])));
        if (cancelled) return;
        subscription = (result$ as Observable<unknown>).subscribe({
          next: (response) => callback({ response: copy(response) }),
          error: (err: unknown) => callback({ err, isDisposed: true }),
          complete: () => callback({ isDisposed: true }),
        });
      } catch (err) {
        callback({ err, isDisposed: true });
      }
    })();
    return () => {
      cancelled = true;
      subscription?.unsubscribe();
    };
  }

  async deliverEvent(subject: string, data: unknown): Promise<void> {
    for (const [pattern, handler] of this.messageHandlers) {
      if (handler.isEventHandler && subjectMatches(pattern, subject)) {
        await this.handleEvent(pattern, { pattern, data }, new BaseRpcContext([subject]));
      }
    }
  }
}

export class InProcessClient extends ClientProxy {
  constructor(
    private readonly bus: InProcessBus,
    private readonly subjectPrefix: string,
  ) {
    super();
  }

  async connect(): Promise<void> {}

  close(): void {}

  unwrap<T>(): T {
    return this.bus as T;
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    return this.bus.request({ ...packet, pattern: this.subject(packet.pattern) }, callback);
  }

  protected async dispatchEvent<T = unknown>(packet: ReadPacket): Promise<T> {
    await this.bus.publish({ ...packet, pattern: this.subject(packet.pattern) });
    return undefined as T;
  }

  private subject(pattern: unknown): string {
    return `${this.subjectPrefix}.${this.normalizePattern(pattern as string)}`;
  }
}
