import { BaseRpcContext, ClientProxy, Server } from '@nestjs/microservices';
import type { CustomTransportStrategy, MessageHandler, ReadPacket, WritePacket } from '@nestjs/microservices';
import { Observable } from 'rxjs';
import type { Subscription } from 'rxjs';

/** NATS subject matching: `*` is one token, `>` the rest. */
export function subjectMatches(pattern: string, subject: string): boolean {
  return tokensMatch(pattern.split('.'), subject.split('.'));
}

function tokensMatch(p: readonly string[], s: readonly string[]): boolean {
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/**
 * Which of a server's handlers a subject reaches, remembered per subject: a
 * busy bus sends the same few subjects (one per namespace and queue) again
 * and again. Bounded; forgotten whenever a handler is added.
 */
class SubjectRoutes {
  private static readonly MAX_SUBJECTS = 1024;
  private readonly routes = new Map<string, { request?: string; events: string[] }>();
  private patterns: Array<{ pattern: string; tokens: string[]; isEvent: boolean }> = [];

  add(pattern: string, isEvent: boolean): void {
    // A second handler of a pattern is chained to the first by Nest: still one route.
    if (this.patterns.some((p) => p.pattern === pattern)) return;
    this.patterns.push({ pattern, tokens: pattern.split('.'), isEvent });
    this.routes.clear();
  }

  of(subject: string): { request?: string; events: string[] } {
    let route = this.routes.get(subject);
    if (route) return route;
    const tokens = subject.split('.');
    const matching = this.patterns.filter((p) => tokensMatch(p.tokens, tokens));
    route = {
      request: matching.find((p) => !p.isEvent)?.pattern,
      events: matching.filter((p) => p.isEvent).map((p) => p.pattern),
    };
    if (this.routes.size >= SubjectRoutes.MAX_SUBJECTS) this.routes.clear();
    this.routes.set(subject, route);
    return route;
  }
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
    // A copy for each server that listens, not for every server attached.
    const listening = [...this.servers].filter((s) => s.listensTo(packet.pattern));
    await Promise.all(listening.map((s) => s.deliverEvent(packet.pattern, copy(packet.data))));
  }
}

export class InProcessServer extends Server implements CustomTransportStrategy {
  private readonly routes = new SubjectRoutes();

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
    const subject = `${this.subjectPrefix}.${pattern}`;
    super.addHandler(subject, callback, isEventHandler, extras);
    this.routes.add(subject, isEventHandler);
  }

  /** Handlers are registered under subjects, never JSON patterns: no parse (and thrown error) per message. */
  protected override getRouteFromPattern(pattern: string): string {
    return pattern;
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
    const pattern = this.routes.of(subject).request;
    return pattern === undefined ? undefined : this.messageHandlers.get(pattern);
  }

  listensTo(subject: string): boolean {
    return this.routes.of(subject).events.length > 0;
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
    for (const pattern of this.routes.of(subject).events) {
      await this.handleEvent(pattern, { pattern, data }, new BaseRpcContext([subject]));
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
