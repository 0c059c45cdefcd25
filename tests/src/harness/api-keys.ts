import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Client as GrpcClient, Metadata, credentials } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { AUTH_HEADER, BEARER_SCHEME } from '@baton/contracts';
import type { Role } from '@baton/contracts';
import { PROTO_FILES, PROTO_LOADER_OPTIONS, PROTO_PACKAGE } from '@baton/proto';
import type { TestHarness } from './test-harness';

/** The bootstrap admin key the security tests start their deployments with (BATON_ADMIN_KEY). */
export const TEST_ADMIN_KEY = 'baton-test-bootstrap-admin-key-0123456789';

/** Harness overrides for a deployment that requires keys, as every way but `pnpm start` does. */
export const KEYS_REQUIRED = { auth: 'required', adminKey: TEST_ADMIN_KEY } as const;

export interface CreatedKey {
  id: string;
  secret: string;
}

/** Creates a key through the admin HTTP API with the bootstrap key. */
export async function createKey(
  h: TestHarness,
  name: string,
  namespaces: string[],
  roles: Role[],
  adminKey = TEST_ADMIN_KEY,
): Promise<CreatedKey> {
  const res = await h
    .http()
    .post('/v1/admin/keys')
    .set('Authorization', `Bearer ${adminKey}`)
    .send({ name, namespaces, roles });
  if (res.status !== 201) throw new Error(`creating key ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.key.id, secret: res.body.secret };
}

export async function revokeKey(h: TestHarness, id: string, adminKey = TEST_ADMIN_KEY): Promise<void> {
  const res = await h.http().post(`/v1/admin/keys/${id}/revoke`).set('Authorization', `Bearer ${adminKey}`);
  if (res.status !== 200) throw new Error(`revoking key ${id}: ${res.status} ${JSON.stringify(res.body)}`);
}

interface MethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: object) => Buffer;
  responseDeserialize: (bytes: Buffer) => unknown;
}

// The loader is a dependency of @baton/proto, not of the tests: reach it through that package.
const protoRequire = createRequire(join(__dirname, '..', '..', '..', 'proto', 'package.json'));
const { loadSync } = protoRequire('@grpc/proto-loader') as {
  loadSync: (files: string[], options: object) => Record<string, unknown>;
};

/** Every RPC of the four services as 'WorkflowService/Start' → its definition, from the proto files the server loads. */
export function grpcMethods(): Map<string, MethodDefinition> {
  const methods = new Map<string, MethodDefinition>();
  for (const [name, value] of Object.entries(loadSync(PROTO_FILES, PROTO_LOADER_OPTIONS))) {
    if (!name.endsWith('Service')) continue;
    for (const [method, def] of Object.entries(value as Record<string, MethodDefinition>)) {
      methods.set(`${name.slice(PROTO_PACKAGE.length + 1)}/${method}`, def);
    }
  }
  return methods;
}

/** How a call ended: the gRPC status code (0: answered) and the server's message. */
export interface CallStatus {
  code: number;
  details: string;
}

/**
 * One call of any RPC with any request and, optionally, a raw `authorization`
 * value: what an attacker's hand-written client would send. A stream counts
 * as answered at its first message or clean end.
 */
export function grpcStatus(
  address: string,
  def: MethodDefinition,
  request: object,
  authorization?: string,
  timeoutMs?: number,
): Promise<CallStatus> {
  const client = new GrpcClient(address, credentials.createInsecure());
  const metadata = new Metadata();
  if (authorization !== undefined) metadata.set(AUTH_HEADER, authorization);
  // A stream let in may stay open with nothing to say: its deadline (DEADLINE_EXCEEDED) ends it.
  const deadline = new Date(Date.now() + (timeoutMs ?? (def.responseStream ? 3_000 : 10_000)));
  const done = (status: CallStatus) => {
    client.close();
    return status;
  };
  return new Promise<CallStatus>((resolve) => {
    const fail = (err: ServiceError) => resolve(done({ code: err.code, details: err.details }));
    if (def.responseStream) {
      const call = client.makeServerStreamRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        metadata,
        { deadline },
      );
      call.on('data', () => {
        call.cancel();
        resolve(done({ code: 0, details: '' }));
      });
      call.on('error', fail);
      call.on('status', (s) => s.code === 0 && resolve(done({ code: 0, details: '' })));
      return;
    }
    client.makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      request,
      metadata,
      { deadline },
      (err) => (err ? fail(err) : resolve(done({ code: 0, details: '' }))),
    );
  });
}

export const bearer = (secret: string) => `${BEARER_SCHEME} ${secret}`;
