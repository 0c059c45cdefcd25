import { credentials, loadPackageDefinition, Metadata, status as GrpcCode } from '@grpc/grpc-js';
import type { Client as GrpcClient, ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { BatonError, ErrorCode, GRPC_ERROR_METADATA, errorCodeOfGrpcStatus } from '@baton/contracts';
import type { ErrorReason } from '@baton/contracts';
import { PROTO_FILES, PROTO_LOADER_OPTIONS, SERVICES } from '@baton/proto';

type Service = keyof typeof SERVICES;
type Constructor = new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options: object,
) => GrpcClient;

let services: Record<Service, Constructor> | undefined;

function loadServices(): Record<Service, Constructor> {
  if (!services) {
    const root = loadPackageDefinition(loadSync(PROTO_FILES, PROTO_LOADER_OPTIONS)) as any;
    const pkg = root.baton.v1;
    services = {
      workflow: pkg[SERVICES.workflow],
      worker: pkg[SERVICES.worker],
      schedule: pkg[SERVICES.schedule],
      admin: pkg[SERVICES.admin],
    };
  }
  return services;
}

/** Server errors → BatonError with the precise code, field and reason the server sent. */
export function toBatonError(err: ServiceError): BatonError {
  const meta = (key: string) => {
    const value = err.metadata?.get(key)?.[0];
    return typeof value === 'string' ? value : undefined;
  };
  const code = (meta(GRPC_ERROR_METADATA.code) as ErrorCode | undefined) ?? errorCodeFor(err.code);
  const field = meta(GRPC_ERROR_METADATA.field);
  const reason = meta(GRPC_ERROR_METADATA.reason) as ErrorReason | undefined;
  return new BatonError(code, err.details || err.message, {
    ...(field ? { field } : {}),
    ...(reason ? { reason } : {}),
  });
}

function errorCodeFor(grpcCode: number): ErrorCode {
  if (grpcCode === GrpcCode.CANCELLED || grpcCode === GrpcCode.RESOURCE_EXHAUSTED) return ErrorCode.UNAVAILABLE;
  return errorCodeOfGrpcStatus(grpcCode);
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** One gRPC channel to the frontend and typed-enough unary calls over it. */
export class Transport {
  private readonly clients = new Map<Service, GrpcClient>();

  constructor(readonly address: string) {}

  call<TResponse = any>(
    service: Service,
    method: string,
    request: object,
    options: CallOptions = {},
  ): Promise<TResponse> {
    const client = this.client(service);
    return new Promise<TResponse>((resolve, reject) => {
      if (options.signal?.aborted) return reject(new BatonError(ErrorCode.UNAVAILABLE, 'call aborted'));
      const deadline = new Date(Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
      const fn = (client as any)[method] as (...args: unknown[]) => { cancel(): void };
      // Wait for the channel (re)connecting after an outage rather than failing fast; the deadline still bounds it.
      const metadata = new Metadata();
      metadata.setOptions({ waitForReady: true });
      const call = fn.call(client, request, metadata, { deadline }, (err: ServiceError | null, res: TResponse) => {
        options.signal?.removeEventListener('abort', onAbort);
        if (err) reject(toBatonError(err));
        else resolve(res);
      });
      const onAbort = () => call.cancel();
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private client(service: Service): GrpcClient {
    let client = this.clients.get(service);
    if (!client) {
      const Ctor = loadServices()[service];
      client = new Ctor(this.address, credentials.createInsecure(), {
        'grpc.max_receive_message_length': 256 * 1024 * 1024,
        'grpc.max_send_message_length': 16 * 1024 * 1024,
        'grpc.keepalive_time_ms': 30_000,
        // Reconnect quickly after a frontend restart (the default backoff grows to 2 minutes).
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 2_000,
        'grpc.enable_retries': 1,
      });
      this.clients.set(service, client);
    }
    return client;
  }
}

/** Transient failures worth retrying: the server or the network is away for a moment. */
export function isTransient(err: unknown): boolean {
  return err instanceof BatonError && (err.code === ErrorCode.UNAVAILABLE || err.code === ErrorCode.DEADLINE_EXCEEDED);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Retries a call through brief outages (UNAVAILABLE, DEADLINE_EXCEEDED): up to
 * `attempts` tries, 0.4 s doubling. `repeatSucceeded` says whether an error on
 * a repeat means the first try already went through (its reply was lost).
 */
export async function retryTransient<T>(
  call: () => Promise<T>,
  repeatSucceeded: (err: unknown) => boolean = () => false,
  attempts = 5,
): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt > 1 && repeatSucceeded(err)) return undefined;
      if (!isTransient(err) || attempt >= attempts) throw err;
      await pause(200 * 2 ** attempt);
    }
  }
}
