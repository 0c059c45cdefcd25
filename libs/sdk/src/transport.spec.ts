import { Metadata, Server, ServerCredentials, loadPackageDefinition, status as GrpcCode } from '@grpc/grpc-js';
import type {
  GrpcObject,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceClientConstructor,
  ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { AUTH_HEADER, ErrorCode, ErrorReason, GRPC_ERROR_METADATA } from '@baton/contracts';
import { PROTO_FILES, PROTO_LOADER_OPTIONS, PROTO_PACKAGE, SERVICES } from '@baton/proto';
import { Transport, toBatonError } from './transport';

function serviceError(code: number, details: string, meta: Record<string, string> = {}): ServiceError {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(meta)) metadata.set(key, value);
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata });
}

describe('toBatonError', () => {
  test("the server's own error model wins: code and reason from the metadata", () => {
    const err = toBatonError(
      serviceError(GrpcCode.FAILED_PRECONDITION, 'lease lost', {
        [GRPC_ERROR_METADATA.code]: ErrorCode.FAILED_PRECONDITION,
        [GRPC_ERROR_METADATA.reason]: ErrorReason.LEASE_LOST,
      }),
    );
    expect(err.code).toBe(ErrorCode.FAILED_PRECONDITION);
    expect(err.reason).toBe(ErrorReason.LEASE_LOST);
    expect(
      toBatonError(serviceError(GrpcCode.INTERNAL, 'internal error', { [GRPC_ERROR_METADATA.code]: 'INTERNAL' })).code,
    ).toBe(ErrorCode.INTERNAL);
  });

  test('statuses made by gRPC itself for a lost or reset connection are transient', () => {
    for (const [code, details] of [
      [GrpcCode.UNAVAILABLE, 'Connection dropped'],
      [GrpcCode.CANCELLED, 'Call cancelled'],
      [GrpcCode.RESOURCE_EXHAUSTED, 'Bandwidth exhausted or memory limit exceeded'],
      [GrpcCode.INTERNAL, 'Received RST_STREAM with code 2 (Internal server error)'],
      [GrpcCode.INTERNAL, 'Received RST_STREAM with code 0 (Call ended without gRPC status)'],
    ] as const) {
      expect(toBatonError(serviceError(code, details)).code).toBe(ErrorCode.UNAVAILABLE);
    }
    expect(toBatonError(serviceError(GrpcCode.DEADLINE_EXCEEDED, 'Deadline exceeded')).code).toBe(
      ErrorCode.DEADLINE_EXCEEDED,
    );
  });

  test('a message over the transport cap is too large, not an outage to wait out', () => {
    const err = toBatonError(
      serviceError(GrpcCode.RESOURCE_EXHAUSTED, 'Sent message larger than max (20971520 vs. 16777216)'),
    );
    expect(err.code).toBe(ErrorCode.PAYLOAD_TOO_LARGE);
  });
});

describe('connection options', () => {
  const saved = process.env.BATON_API_KEY;
  afterEach(() => {
    if (saved === undefined) delete process.env.BATON_API_KEY;
    else process.env.BATON_API_KEY = saved;
  });
  const authorization = (transport: Transport) => transport.metadata().get(AUTH_HEADER);

  test('the apiKey option becomes `authorization: Bearer <key>` metadata', () => {
    process.env.BATON_API_KEY = 'baton_from_env';
    expect(authorization(new Transport('localhost:1', { apiKey: 'baton_option' }))).toEqual(['Bearer baton_option']);
  });

  test('without the option BATON_API_KEY is read; without either no header is sent', () => {
    process.env.BATON_API_KEY = 'baton_from_env';
    expect(authorization(new Transport('localhost:1'))).toEqual(['Bearer baton_from_env']);
    delete process.env.BATON_API_KEY;
    expect(authorization(new Transport('localhost:1'))).toEqual([]);
    process.env.BATON_API_KEY = '';
    expect(authorization(new Transport('localhost:1'))).toEqual([]);
  });

  test('a client certificate without its key is refused at construction', () => {
    expect(() => new Transport('localhost:1', { tls: { cert: 'x' } })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT, field: 'tls' }),
    );
  });

  test('a server receives the key on unary and on streaming calls', async () => {
    let pkg = loadPackageDefinition(loadSync(PROTO_FILES, PROTO_LOADER_OPTIONS));
    for (const part of PROTO_PACKAGE.split('.')) pkg = pkg[part] as GrpcObject;
    const service = (name: keyof typeof SERVICES) => (pkg[SERVICES[name]] as ServiceClientConstructor).service;
    const seen: Record<string, unknown[]> = {};
    const server = new Server();
    server.addService(service('workflow'), {
      Get: (call: ServerUnaryCall<unknown, unknown>, done: (err: null, res: object) => void) => {
        seen.Get = call.metadata.get(AUTH_HEADER);
        done(null, { runId: 'r' });
      },
    });
    server.addService(service('worker'), {
      WatchCancellations: (call: ServerWritableStream<unknown, unknown>) => {
        seen.WatchCancellations = call.metadata.get(AUTH_HEADER);
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const transport = new Transport(`127.0.0.1:${port}`, { apiKey: 'baton_key' });
    try {
      await transport.call('workflow', 'Get', { namespace: 'default', runId: 'r' });
      await new Promise<void>((resolve, reject) =>
        transport.stream(
          'worker',
          'WatchCancellations',
          { namespace: 'default', workerId: 'w' },
          { open: () => undefined, message: () => undefined, end: (err) => (err ? reject(err) : resolve()) },
        ),
      );
      expect(seen).toEqual({ Get: ['Bearer baton_key'], WatchCancellations: ['Bearer baton_key'] });
    } finally {
      transport.close();
      server.forceShutdown();
    }
  });
});
