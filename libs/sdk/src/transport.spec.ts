import { Metadata, status as GrpcCode } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { ErrorCode, ErrorReason, GRPC_ERROR_METADATA } from '@baton/contracts';
import { toBatonError } from './transport';

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
