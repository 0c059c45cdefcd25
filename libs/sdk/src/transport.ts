import { credentials, loadPackageDefinition, Metadata, status as GrpcCode } from '@grpc/grpc-js';
import type {
  CallOptions as GrpcCallOptions,
  ChannelCredentials,
  ClientReadableStream,
  ClientUnaryCall,
  Client as GrpcClient,
  GrpcObject,
  ServiceClientConstructor,
  ServiceError,
  StatusObject,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  AUTH_HEADER,
  BEARER_SCHEME,
  BatonError,
  ErrorCode,
  GRPC_ERROR_METADATA,
  SDK_DEFAULTS,
  TRACEPARENT_HEADER,
  errorCodeOfGrpcStatus,
} from '@baton/contracts';
import type { ErrorReason } from '@baton/contracts';
import { PROTO_FILES, PROTO_LOADER_OPTIONS, PROTO_PACKAGE, SERVICES } from '@baton/proto';
import type { RequestOf, ResponseOf, ServiceName, StreamMessageOf, StreamMethod, UnaryMethod } from '@baton/proto';

/*
 * grpc-js builds its clients' methods at run time from the loaded .proto
 * files, so it types neither requests nor responses. The generated service
 * interfaces (@baton/proto) type them here, by (service, method); that they
 * describe what the loader really yields is checked in proto's own spec.
 */

type UnaryFn = (
  request: object,
  metadata: Metadata,
  options: GrpcCallOptions,
  callback: (err: ServiceError | null, response?: unknown) => void,
) => ClientUnaryCall;
type StreamFn = (request: object, metadata: Metadata) => ClientReadableStream<unknown>;

let services: Record<ServiceName, ServiceClientConstructor> | undefined;

function loadServices(): Record<ServiceName, ServiceClientConstructor> {
  if (!services) {
    let pkg: GrpcObject = loadPackageDefinition(loadSync(PROTO_FILES, PROTO_LOADER_OPTIONS));
    for (const part of PROTO_PACKAGE.split('.')) pkg = pkg[part] as GrpcObject;
    const ctor = (service: ServiceName) => pkg[SERVICES[service]] as ServiceClientConstructor;
    services = {
      workflow: ctor('workflow'),
      worker: ctor('worker'),
      schedule: ctor('schedule'),
      admin: ctor('admin'),
    };
  }
  return services;
}

/** A client's method by its RPC name (grpc-js adds one per RPC). */
function rpc<F>(client: GrpcClient, method: string): F {
  return (client as unknown as Record<string, F>)[method]!;
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
  /** W3C trace context the call is made in, sent as `traceparent` metadata: the server's span joins that trace. */
  traceparent?: string;
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

/** TLS to the frontend. PEM contents (not file names); `true` alone trusts the system's CAs. */
export interface TlsOptions {
  /** CA certificate(s) the server's certificate must chain to. Default: the system's CAs. */
  ca?: string | Buffer;
  /** Client certificate, for a server that requires one (mTLS, BATON_TLS_CLIENT_CA); goes with `key`. */
  cert?: string | Buffer;
  /** Private key of `cert`. */
  key?: string | Buffer;
  /** Name to check the server's certificate against when it differs from the address's host. */
  serverName?: string;
}

/** How Client and Worker reach the frontend: the API key and TLS. */
export interface ConnectionOptions {
  /**
   * API key sent with every call (`authorization: Bearer <key>`). Default:
   * the BATON_API_KEY environment variable; none when that is unset too.
   */
  apiKey?: string;
  /** TLS to the frontend: `true` with the system's CAs, or the CA, client certificate and name to use. Default: plaintext. */
  tls?: TlsOptions | boolean;
}

const toBuffer = (pem: string | Buffer | undefined) => (pem === undefined ? null : Buffer.from(pem));

function channelCredentials(tls: ConnectionOptions['tls']): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  if (tls === true) return credentials.createSsl();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new BatonError(ErrorCode.INVALID_ARGUMENT, 'tls.cert and tls.key go together: set both or neither', {
      field: 'tls',
    });
  }
  return credentials.createSsl(toBuffer(tls.ca), toBuffer(tls.key), toBuffer(tls.cert));
}

/**
 * One gRPC channel to the frontend and typed calls over it: the request and
 * response types follow from (service, method), as generated from proto/.
 * What Client and Worker are built on; use it for an RPC they do not wrap.
 */
export class Transport {
  private readonly clients = new Map<ServiceName, GrpcClient>();
  private readonly credentials: ChannelCredentials;
  private readonly serverName?: string;
  private readonly authorization?: string;

  /** @throws {@link BatonError} INVALID_ARGUMENT (field `tls`) when `tls.cert` and `tls.key` are not given together. */
  constructor(
    /** host:port of the frontend's gRPC endpoint. */
    readonly address: string,
    options: ConnectionOptions = {},
  ) {
    // Built here so that bad TLS options fail at construction, not at the first call.
    this.credentials = channelCredentials(options.tls);
    if (typeof options.tls === 'object') this.serverName = options.tls.serverName;
    const apiKey = options.apiKey ?? (process.env.BATON_API_KEY || undefined);
    if (apiKey !== undefined) this.authorization = `${BEARER_SCHEME} ${apiKey}`;
  }

  /**
   * What every call carries. The key travels as plain metadata rather than as
   * call credentials, which grpc-js refuses on a plaintext channel (dev mode).
   */
  metadata(traceparent?: string): Metadata {
    const metadata = new Metadata();
    // Wait for the channel (re)connecting after an outage rather than failing fast; the deadline still bounds it.
    metadata.setOptions({ waitForReady: true });
    if (this.authorization) metadata.set(AUTH_HEADER, this.authorization);
    if (traceparent) metadata.set(TRACEPARENT_HEADER, traceparent);
    return metadata;
  }

  /**
   * One unary RPC, e.g. `call('workflow', 'Get', { namespace, runId })`.
   *
   * @throws {@link BatonError} with the code, field and reason the server sent;
   *   for a failure of gRPC itself, UNAVAILABLE (connection refused, reset or
   *   cancelled), DEADLINE_EXCEEDED (`timeoutMs`, default 30 s) or
   *   PAYLOAD_TOO_LARGE (a message over the transport's size cap).
   */
  call<S extends ServiceName, M extends UnaryMethod<S>>(
    service: S,
    method: M,
    request: RequestOf<S, M>,
    options: CallOptions = {},
  ): Promise<ResponseOf<S, M>> {
    const client = this.client(service);
    return new Promise<ResponseOf<S, M>>((resolve, reject) => {
      if (options.signal?.aborted) return reject(new BatonError(ErrorCode.UNAVAILABLE, 'call aborted'));
      const deadline = new Date(Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
      const fn = rpc<UnaryFn>(client, method);
      const metadata = this.metadata(options.traceparent);
      const call = fn.call(client, request as object, metadata, { deadline }, (err, response) => {
        options.signal?.removeEventListener('abort', onAbort);
        if (err) reject(toBatonError(err));
        // Decoded by proto-loader with PROTO_LOADER_OPTIONS: the generated response type.
        else resolve(response as ResponseOf<S, M>);
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
  stream<S extends ServiceName, M extends StreamMethod<S>>(
    service: S,
    method: M,
    request: RequestOf<S, M>,
    handlers: StreamHandlers<StreamMessageOf<S, M>>,
  ): ServerStream {
    const client = this.client(service);
    const fn = rpc<StreamFn>(client, method);
    const call = fn.call(client, request as object, this.metadata());
    let over = false;
    const end = (err: BatonError | null) => {
      if (over) return;
      over = true;
      handlers.end(err);
    };
    call.on('metadata', () => !over && handlers.open());
    call.on('data', (message: StreamMessageOf<S, M>) => !over && handlers.message(message));
    call.on('error', (err: ServiceError) => end(toBatonError(err)));
    call.on('status', (status: StatusObject) => status.code === GrpcCode.OK && end(null));
    return {
      cancel: () => {
        over = true;
        call.cancel();
      },
    };
  }

  /** Closes the channel; a later call opens a new one. */
  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private client(service: ServiceName): GrpcClient {
    let client = this.clients.get(service);
    if (!client) {
      const Ctor = loadServices()[service];
      client = new Ctor(this.address, this.credentials, {
        ...(this.serverName ? { 'grpc.ssl_target_name_override': this.serverName } : {}),
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
