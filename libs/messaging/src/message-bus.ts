import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import type { ClientProxy, CustomTransportStrategy } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import { BatonError, ErrorCode } from '@baton/contracts';
import { InProcessClient, InProcessServer } from './in-process.transport';
import type { InProcessBus } from './in-process.transport';
import { natsConnectionOptions } from './nats-connection';
import type { BusConfig } from './nats-connection';
import { PrefixedNatsClient, PrefixedNatsServer } from './nats.transport';
import type { NatsTransportOptions } from './nats.transport';

export interface MessagingOptions {
  /** NATS_URL, the subject prefix and the bus credentials. Without a NATS_URL `inProcessBus` must be given (all-in-one mode). */
  config: BusConfig;
  inProcessBus?: InProcessBus;
  /** Connection name, shown by NATS monitoring. */
  name: string;
}

export const BUS_CLIENT = Symbol('BUS_CLIENT');

function natsTransport(options: MessagingOptions): NatsTransportOptions | undefined {
  const { config } = options;
  if (!config.natsUrl) {
    if (!options.inProcessBus) {
      throw new Error('messaging: set NATS_URL, or run the apps in one process with the in-process bus');
    }
    return undefined;
  }
  return {
    url: config.natsUrl,
    subjectPrefix: config.subjectPrefix,
    name: options.name,
    security: natsConnectionOptions(config),
  };
}

/** The server strategy an app passes to `connectMicroservice({ strategy })`. */
export function createMessagingServer(options: MessagingOptions): CustomTransportStrategy {
  const nats = natsTransport(options);
  return nats ? new PrefixedNatsServer(nats) : new InProcessServer(options.inProcessBus!, options.config.subjectPrefix);
}

export function createMessagingClient(options: MessagingOptions): ClientProxy {
  const nats = natsTransport(options);
  // The two clients differ only in their status-event maps, which Baton does not use.
  return nats
    ? (new PrefixedNatsClient(nats) as unknown as ClientProxy)
    : new InProcessClient(options.inProcessBus!, options.config.subjectPrefix);
}

/** Requests with a deadline, and fire-and-forget events whose loss only delays work. */
@Injectable()
export class MessageBus implements OnApplicationShutdown {
  private readonly logger = new Logger(MessageBus.name);

  constructor(@Inject(BUS_CLIENT) private readonly client: ClientProxy) {}

  async request<TResponse, TRequest = unknown>(pattern: string, data: TRequest, timeoutMs: number): Promise<TResponse> {
    try {
      return await firstValueFrom(this.client.send<TResponse, TRequest>(pattern, data).pipe(timeout(timeoutMs)));
    } catch (err) {
      if ((err as Error)?.name === 'TimeoutError') {
        throw new BatonError(ErrorCode.UNAVAILABLE, `no reply on ${pattern} within ${timeoutMs} ms`);
      }
      throw new BatonError(ErrorCode.UNAVAILABLE, `request on ${pattern} failed: ${describe(err)}`);
    }
  }

  publish<T>(subject: string, data: T): void {
    this.client.emit(subject, data).subscribe({
      error: (err: unknown) => this.logger.warn(`event ${subject} not published: ${describe(err)}`),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}
