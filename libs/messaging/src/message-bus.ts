import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import type { ClientProxy, CustomTransportStrategy } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import { BatonError, ErrorCode } from '@baton/contracts';
import { InProcessClient, InProcessServer } from './in-process.transport';
import type { InProcessBus } from './in-process.transport';
import { PrefixedNatsClient, PrefixedNatsServer } from './nats.transport';

export interface MessagingOptions {
  /** NATS server; without it `inProcessBus` must be given (all-in-one mode). */
  natsUrl?: string;
  inProcessBus?: InProcessBus;
  subjectPrefix: string;
  /** Connection name, shown by NATS monitoring. */
  name: string;
}

export const BUS_CLIENT = Symbol('BUS_CLIENT');

function requireTransport(options: MessagingOptions): void {
  if (!options.natsUrl && !options.inProcessBus) {
    throw new Error('messaging: set NATS_URL, or run the apps in one process with the in-process bus');
  }
}

/** The server strategy an app passes to `connectMicroservice({ strategy })`. */
export function createMessagingServer(options: MessagingOptions): CustomTransportStrategy {
  requireTransport(options);
  return options.natsUrl
    ? new PrefixedNatsServer({ url: options.natsUrl, subjectPrefix: options.subjectPrefix, name: options.name })
    : new InProcessServer(options.inProcessBus!, options.subjectPrefix);
}

export function createMessagingClient(options: MessagingOptions): ClientProxy {
  requireTransport(options);
  // The two clients differ only in their status-event maps, which Baton does not use.
  return options.natsUrl
    ? (new PrefixedNatsClient({
        url: options.natsUrl,
        subjectPrefix: options.subjectPrefix,
        name: options.name,
      }) as unknown as ClientProxy)
    : new InProcessClient(options.inProcessBus!, options.subjectPrefix);
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
