import { ClientNats, ServerNats } from '@nestjs/microservices';
import type { MessageHandler, MsPattern } from '@nestjs/microservices';
import type { NatsSecurityOptions } from './nats-connection';

export interface NatsTransportOptions {
  url: string;
  /** Prepended to every pattern: isolates deployments (and test files) sharing one NATS server. */
  subjectPrefix: string;
  name: string;
  /** Credentials and TLS (natsConnectionOptions). */
  security?: NatsSecurityOptions;
}

const connectionOptions = (options: NatsTransportOptions) => ({
  ...options.security,
  servers: options.url,
  name: options.name,
  // Doorbells and polls are short; reconnect forever rather than give up.
  maxReconnectAttempts: -1,
  reconnectTimeWait: 250,
});

/** `connecting` until the first connection is made (start-up). */
export type NatsConnectionState = 'connecting' | 'connected' | 'disconnected' | 'reconnecting';

/**
 * Nest's NATS server with every handler pattern prefixed. Request handlers
 * declare their queue group via the pattern's `extras` (`{ queue }`); event
 * handlers have none, so every replica receives every event.
 */
export class PrefixedNatsServer extends ServerNats {
  private state: NatsConnectionState = 'connecting';

  constructor(private readonly transport: NatsTransportOptions) {
    super(connectionOptions(transport));
    // Nest reports connected / disconnected / reconnecting; readiness reads the latest at any time.
    this.status.subscribe((status) => (this.state = status as NatsConnectionState));
  }

  /** The connection this app receives requests and events on: `connected` only while NATS is reachable. */
  get connectionState(): NatsConnectionState {
    return this.state;
  }

  override addHandler(
    pattern: unknown,
    callback: MessageHandler,
    isEventHandler = false,
    extras: Record<string, unknown> = {},
  ) {
    super.addHandler(`${this.transport.subjectPrefix}.${pattern}`, callback, isEventHandler, extras);
  }

  /** Handlers are registered under subjects, never JSON patterns: no parse (and thrown error) per message. */
  protected override getRouteFromPattern(pattern: string): string {
    return pattern;
  }
}

/** Nest's NATS client publishing under the same prefix. */
export class PrefixedNatsClient extends ClientNats {
  constructor(private readonly transport: NatsTransportOptions) {
    super(connectionOptions(transport));
  }

  protected override normalizePattern(pattern: MsPattern): string {
    return `${this.transport.subjectPrefix}.${super.normalizePattern(pattern)}`;
  }
}
