import { credentials, loadPackageDefinition, Metadata, status as GrpcCode } from '@grpc/grpc-js';
import type { ClientReadableStream, Client as GrpcClient, ServiceError, StatusObject } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { BatonError, ErrorCode, GRPC_ERROR_METADATA, SDK_DEFAULTS, errorCodeOfGrpcStatus } from '@baton/contracts';
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
  const code = (meta(GRPC_ERROR_METADATA.code) as ErrorCode | undefined) ?? errorCodeFor(err.code, err.details);
  const field = meta(GRPC_ERROR_METADATA.field);
  const reason = meta(GRPC_ERROR_METADATA.reason) as ErrorReason | undefined;
  return new BatonError(code, err.details || err.message, {
    ...(field ? { field } : {}),
    ...(reason ? { reason } : {}),
  });
}

/**
 * A status the server did not send through its error model (no code in the
 * metadata) comes from gRPC itself: a refused, reset or dropped connection,
 * an overloaded peer. Those are transient (UNAVAILABLE), except a message over
 * the transport's size cap, which no retry can fix.
 */
function errorCodeFor(grpcCode: number, details = ''): ErrorCode {
  if (grpcCode === GrpcCode.RESOURCE_EXHAUSTED && /message larger than max/i.test(details)) {
    return ErrorCode.PAYLOAD_TOO_LARGE;
  }
  if (grpcCode === GrpcCode.CANCELLED || grpcCode === GrpcCode.RESOURCE_EXHAUSTED) return ErrorCode.UNAVAILABLE;
  // The stream was reset before any status arrived (the server process died mid-call, a proxy cut it).
  if (grpcCode === GrpcCode.INTERNAL && /RST_STREAM/.test(details)) return ErrorCode.UNAVAILABLE;
  return errorCodeOfGrpcStatus(grpcCode);
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = SDK_DEFAULTS.callTimeoutMs;

/** What a server stream's owner hears; nothing after it cancels the stream itself. */
export interface StreamHandlers<T> {
  /** The server took the call (its response headers arrived). */
  open(): void;
  message(message: T): void;
  /** The stream is over: null when the server ended it cleanly, else why it failed. */
  end(err: BatonError | null): void;
}

/** An open server stream. */
export interface ServerStream {
  cancel(): void;
}

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

  /**
   * Opens a server-streaming call, without a deadline: it lasts until either
   * side ends it. Like unary calls it waits for the channel while the server
   * is away rather than failing at once.
   */
  stream<T = any>(service: Service, method: string, request: object, handlers: StreamHandlers<T>): ServerStream {
    const client = this.client(service);
    const fn = (client as any)[method] as (...args: unknown[]) => ClientReadableStream<T>;
    const metadata = new Metadata();
    metadata.setOptions({ waitForReady: true });
    const call = fn.call(client, request, metadata);
    let over = false;
    const end = (err: BatonError | null) => {
      if (over) return;
      over = true;
      handlers.end(err);
    };
    call.on('metadata', () => !over && handlers.open());
    call.on('data', (message: T) => !over && handlers.message(message));
    call.on('error', (err: ServiceError) => end(toBatonError(err)));
    call.on('status', (status: StatusObject) => status.code === GrpcCode.OK && end(null));
    return {
      cancel: () => {
        over = true;
        call.cancel();
      },
    };
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
